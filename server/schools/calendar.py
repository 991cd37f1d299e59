"""School calendars: import the instructional days of a school year, and read them back."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from typing import Any

import msgspec
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.imports import ImportMode, ImportResult
from server import imports as imp
from server.audit import Actor
from server.errors import NotFound
from server.schools.models import InstructionalDay, School, SchoolYear

REQUIRED = ("school_code", "school_year", "day")
OPTIONAL = ("school_name", "in_session")
COLUMNS = ("school_code", "school_name", "school_year", "day", "in_session")
_DDL = "school_code text, school_name text, school_year text, day date, in_session bool"
TEMP = "imp_calendar"


class CalendarOut(msgspec.Struct, kw_only=True):
    school_id: uuid.UUID
    school_code: str
    school_year: str
    starts_on: date
    ends_on: date
    days: list[date]


def _converter(ix: dict[str, int]) -> imp.Convert:
    i_name, i_in = ix.get("school_name"), ix.get("in_session")

    def convert(row: list[str]) -> tuple[Any, ...]:
        code = row[ix["school_code"]].strip()
        if not code or len(code) > 32:
            raise imp.RowError("school_code: required, at most 32 characters")
        year = imp.school_year_name(row[ix["school_year"]])
        day = imp.parse_date(row[ix["day"]], "day")
        if not date(int(year[:4]), 7, 1) <= day <= date(int(year[5:]), 6, 30):
            raise imp.RowError(f"day {day} is not in school year {year} (July to June)")
        name = row[i_name].strip()[:200] if i_name is not None else ""
        in_session = imp.parse_bool(row[i_in], "in_session") if i_in is not None else None
        return (code, name, year, day, True if in_session is None else in_session)

    return convert


UPSERT = imp.Upsert(
    table="instructional_day",
    keys=("school_id", "day"),
    values=("school_year_id",),
    source=f"""
        SELECT i.line, s.id AS school_id, i.day, y.id AS school_year_id
        FROM {TEMP} i JOIN school s ON s.code = i.school_code JOIN school_year y ON y.name = i.school_year
        WHERE i.bad IS NULL AND i.in_session
    """,
    entity_type="instructional_day",
    entity_id="up.school_id::text || '/' || up.day::text",
)


async def import_calendar(
    session: AsyncSession,
    actor: Actor,
    lines: Iterable[str],
    *,
    mode: ImportMode = ImportMode.ALL_OR_NOTHING,
    source_name: str = "",
    progress: imp.Progress | None = None,
    total_rows: int = 0,
) -> ImportResult:
    """Add (``in_session`` true or blank) or remove (false) instructional days.

    A school year's dates become the span of its instructional days across schools.
    """
    staged = imp.Staged()
    await imp.create_temp(session, TEMP, _DDL)
    for batch in imp.batches(lines, REQUIRED, OPTIONAL, _converter, staged):
        await imp.copy_records(session, TEMP, COLUMNS, batch)
        if progress:
            progress("read", staged.rows, max(total_rows, staged.rows))
    await imp.analyze(session, TEMP)
    await imp.flag_duplicates(session, TEMP, ("school_code", "day"), "school_code and day")
    bad = sorted(staged.bad + await imp.db_bad_rows(session, TEMP), key=lambda b: b.line)
    result = ImportResult(kind="calendar", mode=mode, rows=staged.rows, applied=False, rejected=len(bad), bad_rows=bad)
    if not imp.should_apply(mode, bad):
        return result
    import_id = uuid.uuid4()
    await imp.ensure_schools_and_years(session, TEMP, with_school_name=True)
    counts = await imp.upsert(session, UPSERT, actor, import_id, "calendar.day_changed")
    deleted = (
        await session.execute(
            text(
                f"""
                WITH del AS (
                    DELETE FROM instructional_day d USING {TEMP} i, school s
                    WHERE i.bad IS NULL AND NOT i.in_session AND s.code = i.school_code
                      AND d.school_id = s.id AND d.day = i.day
                    RETURNING d.school_id, d.day, d.school_year_id
                ),
                aud AS (
                    INSERT INTO audit_log (actor_id, actor_role, device_id, action, entity_type, entity_id,
                                           request_id, detail)
                    SELECT CAST(:actor_id AS uuid), :actor_role, CAST(:device_id AS uuid), 'calendar.day_removed',
                           'instructional_day', del.school_id::text || '/' || del.day::text, :request_id,
                           jsonb_build_object('import_id', CAST(:import_id AS text),
                                              'school_year_id', del.school_year_id)
                    FROM del RETURNING 1
                )
                SELECT count(*) FROM del
                """
            ),
            {
                "actor_id": actor.user_id,
                "actor_role": actor.role,
                "device_id": actor.device_id,
                "request_id": actor.request_id,
                "import_id": str(import_id),
            },
        )
    ).scalar_one()
    await session.execute(
        text(
            f"""
            UPDATE school_year y SET starts_on = b.first_day, ends_on = b.last_day
            FROM (SELECT school_year_id, min(day) AS first_day, max(day) AS last_day
                  FROM instructional_day GROUP BY school_year_id HAVING min(day) < max(day)) b
            WHERE b.school_year_id = y.id AND y.name IN (SELECT school_year FROM {TEMP} WHERE bad IS NULL)
              AND (y.starts_on, y.ends_on) IS DISTINCT FROM (b.first_day, b.last_day)
            """
        )
    )
    result.applied = True
    result.inserted, result.updated, result.deleted = counts.inserted, counts.updated, int(deleted)
    in_session_rows = (
        await session.execute(text(f"SELECT count(*) FROM {TEMP} WHERE bad IS NULL AND in_session"))
    ).scalar_one()
    result.unchanged = int(in_session_rows) - counts.inserted - counts.updated
    imp.audit_import(session, actor, import_id, source_name, result)
    await session.flush()
    return result


async def calendar(session: AsyncSession, school_id: uuid.UUID, school_year: str | None) -> CalendarOut:
    school = await session.get(School, school_id)
    if school is None:
        raise NotFound(f"no school {school_id}")
    query = select(SchoolYear)
    if school_year:
        query = query.where(SchoolYear.name == school_year)
    else:
        query = query.where(SchoolYear.starts_on <= date.today()).order_by(SchoolYear.starts_on.desc()).limit(1)
    year = await session.scalar(query)
    if year is None:
        raise NotFound(f"no school year {school_year!r}" if school_year else "no school year has started")
    days = await session.scalars(
        select(InstructionalDay.day)
        .where(InstructionalDay.school_id == school.id, InstructionalDay.school_year_id == year.id)
        .order_by(InstructionalDay.day)
    )
    return CalendarOut(
        school_id=school.id,
        school_code=school.code,
        school_year=year.name,
        starts_on=year.starts_on,
        ends_on=year.ends_on,
        days=list(days),
    )
