"""Roster import: students, households with guardians, and enrollments (format in docs/imports.md).

One row per enrollment: a student who moved schools mid-year has a row for each, with dates that
do not overlap. Her student record (name, grade, school, household) is that of the row with the
latest enrollment.

A row with ``void`` true deletes the stored enrollment it names (student, school, school year,
``entered_on``) instead: one ``enrollment.voided`` audit row each, with its values; a student left
with no row of hers in the file takes the school and grade of her latest remaining enrollment
(``student.corrected``). Nothing else of the row is written."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.imports import ImportMode, ImportResult
from server import imports as imp
from server.audit import Actor

REQUIRED = ("student_number", "first_name", "last_name", "school_code", "school_year", "entered_on")
_GUARDIAN = ("name", "relationship", "phone", "language")
OPTIONAL = (
    "birth_date",
    "grade",
    "school_name",
    "exited_on",
    "household_id",
    "phone",
    "alt_phone",
    "language",
    "address",
    "latitude",
    "longitude",
    *(f"guardian{n}_{f}" for n in (1, 2) for f in _GUARDIAN),
    "void",
)
COLUMNS = (
    "student_number",
    "first_name",
    "last_name",
    "birth_date",
    "grade",
    "school_code",
    "school_name",
    "school_year",
    "entered_on",
    "exited_on",
    "household_id",
    "phone",
    "alt_phone",
    "language",
    "address",
    "latitude",
    "longitude",
    *(f"guardian{n}_{f}" for n in (1, 2) for f in _GUARDIAN),
    "void",
)
_TYPES = {
    "birth_date": "date",
    "entered_on": "date",
    "exited_on": "date",
    "latitude": "float8",
    "longitude": "float8",
    "void": "bool",
}
VOID_REQUIRED = ("student_number", "school_code", "school_year", "entered_on")
"""What a void row must give: the key of the enrollment it deletes."""
_DDL = ", ".join(f"{c} {_TYPES.get(c, 'text')}" for c in COLUMNS)
_LIMITS = {
    "student_number": 32,
    "first_name": 100,
    "last_name": 100,
    "grade": 4,
    "school_code": 32,
    "school_name": 200,
    "household_id": 64,
    "phone": 32,
    "alt_phone": 32,
    "language": 32,
    "address": 300,
    **{f"guardian{n}_name": 200 for n in (1, 2)},
    **{f"guardian{n}_relationship": 64 for n in (1, 2)},
    **{f"guardian{n}_phone": 32 for n in (1, 2)},
    **{f"guardian{n}_language": 32 for n in (1, 2)},
}
TEMP = "imp_roster"


def _converter(ix: dict[str, int]) -> imp.Convert:
    def get(row: list[str], name: str) -> str:
        i = ix.get(name)
        value = row[i].strip() if i is not None else ""
        limit = _LIMITS.get(name)
        if limit and len(value) > limit:
            raise imp.RowError(f"{name}: at most {limit} characters")
        return value

    def convert(row: list[str]) -> tuple[Any, ...]:
        i_void = ix.get("void")
        void = (imp.parse_bool(row[i_void], "void") or False) if i_void is not None else False
        for name in VOID_REQUIRED if void else REQUIRED:
            if not get(row, name):
                raise imp.RowError(f"{name} is required")
        values: dict[str, Any] = {c: get(row, c) for c in COLUMNS}
        values["void"] = void
        values["school_year"] = imp.school_year_name(values["school_year"])
        values["entered_on"] = imp.parse_date(values["entered_on"], "entered_on")
        values["birth_date"] = imp.optional_date(values["birth_date"], "birth_date")
        values["exited_on"] = imp.optional_date(values["exited_on"], "exited_on")
        if values["exited_on"] and values["exited_on"] < values["entered_on"]:
            raise imp.RowError("exited_on is before entered_on")
        for coord, bound in (("latitude", 90.0), ("longitude", 180.0)):
            raw = values[coord]
            if raw:
                try:
                    values[coord] = float(raw)
                except ValueError:
                    raise imp.RowError(f"{coord}: not a number: {raw!r}") from None
                if not -bound <= values[coord] <= bound:
                    raise imp.RowError(f"{coord}: out of range")
            else:
                values[coord] = None
        if not values["household_id"] and any(
            values[c] for c in ("phone", "alt_phone", "address", "guardian1_name", "guardian2_name")
        ):
            raise imp.RowError("household fields and guardians need a household_id")
        return tuple(values[c] for c in COLUMNS)

    return convert


def _nullif(col: str) -> str:
    return f"nullif(i.{col}, '')"


HOUSEHOLDS = imp.Upsert(
    table="household",
    keys=("external_id",),
    values=("phone", "alt_phone", "language", "address", "latitude", "longitude"),
    source=f"""
        SELECT DISTINCT ON (i.household_id) i.line, i.household_id AS external_id, {_nullif("phone")} AS phone,
            {_nullif("alt_phone")} AS alt_phone, {_nullif("language")} AS language, {_nullif("address")} AS address,
            i.latitude, i.longitude
        FROM {TEMP} i WHERE i.bad IS NULL AND NOT i.void AND i.household_id <> ''
        ORDER BY i.household_id, i.line DESC
    """,
    entity_type="household",
    entity_id="up.id::text",
    generated_id=True,
    versioned=True,
)

STUDENTS = imp.Upsert(
    table="student",
    keys=("student_number",),
    values=("first_name", "last_name", "birth_date", "grade", "household_id", "school_id"),
    source=f"""
        SELECT DISTINCT ON (i.student_number) i.line, i.student_number, i.first_name, i.last_name, i.birth_date,
            {_nullif("grade")} AS grade, h.id AS household_id, s.id AS school_id
        FROM {TEMP} i
        JOIN school s ON s.code = i.school_code
        LEFT JOIN household h ON h.external_id = i.household_id
        WHERE i.bad IS NULL AND NOT i.void
        ORDER BY i.student_number, i.school_year DESC, i.entered_on DESC, i.line DESC
    """,
    entity_type="student",
    entity_id="up.id::text",
    generated_id=True,
    versioned=True,
)

GUARDIANS = imp.Upsert(
    table="guardian",
    keys=("household_id", "name"),
    values=("relationship", "phone", "language"),
    source=f"""
        SELECT DISTINCT ON (h.id, g.name) i.line, h.id AS household_id, g.name,
            nullif(g.relationship, '') AS relationship, nullif(g.phone, '') AS phone,
            nullif(g.language, '') AS language
        FROM {TEMP} i
        JOIN household h ON h.external_id = i.household_id
        CROSS JOIN LATERAL (VALUES
            (i.guardian1_name, i.guardian1_relationship, i.guardian1_phone, i.guardian1_language),
            (i.guardian2_name, i.guardian2_relationship, i.guardian2_phone, i.guardian2_language)
        ) AS g(name, relationship, phone, language)
        WHERE i.bad IS NULL AND NOT i.void AND g.name <> ''
        ORDER BY h.id, g.name, i.line DESC
    """,
    entity_type="guardian",
    entity_id="up.id::text",
    generated_id=True,
)

ENROLLMENTS = imp.Upsert(
    table="enrollment",
    keys=("student_id", "school_id", "school_year_id", "entered_on"),
    values=("grade", "exited_on"),
    source=f"""
        SELECT i.line, st.id AS student_id, s.id AS school_id, y.id AS school_year_id, i.entered_on,
            {_nullif("grade")} AS grade, i.exited_on
        FROM {TEMP} i
        JOIN student st ON st.student_number = i.student_number
        JOIN school s ON s.code = i.school_code
        JOIN school_year y ON y.name = i.school_year
        WHERE i.bad IS NULL AND NOT i.void
    """,
    entity_type="enrollment",
    entity_id="up.id::text",
    generated_id=True,
)


def _span(code: str, entered: str, exited: str) -> str:
    """SQL: ``IMP1 from 2025-09-02 to 2025-10-31`` (or ``, open``)."""
    return (
        f"{code} || ' from ' || to_char({entered}, 'YYYY-MM-DD') "
        f"|| coalesce(' to ' || to_char({exited}, 'YYYY-MM-DD'), ', open')"
    )


_NAMES_DIFFER = f"""
    UPDATE {TEMP} i
    SET bad = 'first_name, last_name and birth_date differ from line ' || f.line || ' (same student_number)'
    FROM (SELECT DISTINCT ON (student_number) student_number, line, first_name, last_name, birth_date
          FROM {TEMP} WHERE bad IS NULL AND NOT void ORDER BY student_number, line) f
    WHERE i.bad IS NULL AND NOT i.void AND i.student_number = f.student_number AND i.line <> f.line
      AND (i.first_name, i.last_name, i.birth_date) IS DISTINCT FROM (f.first_name, f.last_name, f.birth_date)
"""

_OVERLAP_IN_FILE = f"""
    UPDATE {TEMP} i SET bad = o.reason
    FROM (
        SELECT DISTINCT ON (b.line) b.line,
               'enrollment dates overlap line ' || a.line || ' ('
               || {_span("a.school_code", "a.entered_on", "a.exited_on")} || ')' AS reason
        FROM {TEMP} a JOIN {TEMP} b ON b.student_number = a.student_number AND b.school_year = a.school_year
             AND a.line < b.line
        WHERE a.bad IS NULL AND b.bad IS NULL AND NOT a.void AND NOT b.void
          AND daterange(a.entered_on, a.exited_on, '[]') && daterange(b.entered_on, b.exited_on, '[]')
        ORDER BY b.line, a.line
    ) o
    WHERE i.line = o.line
"""

_OVERLAP_STORED = f"""
    UPDATE {TEMP} i SET bad = o.reason
    FROM (
        SELECT DISTINCT ON (f.line) f.line,
               'enrollment dates overlap a stored enrollment not in this file ('
               || {_span("s.code", "e.entered_on", "e.exited_on")}
               || '): send it with its exited_on in the same file' AS reason
        FROM {TEMP} f
        JOIN student st ON st.student_number = f.student_number
        JOIN school_year y ON y.name = f.school_year
        JOIN enrollment e ON e.student_id = st.id AND e.school_year_id = y.id
        JOIN school s ON s.id = e.school_id
        WHERE f.bad IS NULL AND NOT f.void
          AND daterange(e.entered_on, e.exited_on, '[]') && daterange(f.entered_on, f.exited_on, '[]')
          AND NOT EXISTS (
              SELECT 1 FROM {TEMP} r
              WHERE r.bad IS NULL AND r.student_number = f.student_number AND r.school_year = f.school_year
                AND r.school_code = s.code AND r.entered_on = e.entered_on)
        ORDER BY f.line, e.entered_on
    ) o
    WHERE i.line = o.line
"""


_VOID_UNKNOWN = f"""
    UPDATE {TEMP} i SET bad = CASE
        WHEN NOT EXISTS (SELECT 1 FROM student st WHERE st.student_number = i.student_number)
            THEN 'unknown student_number ' || i.student_number
        WHEN NOT EXISTS (SELECT 1 FROM school s WHERE s.code = i.school_code)
            THEN 'unknown school_code ' || i.school_code
        ELSE 'unknown school_year ' || i.school_year END
    WHERE i.bad IS NULL AND i.void
      AND NOT (EXISTS (SELECT 1 FROM student st WHERE st.student_number = i.student_number)
               AND EXISTS (SELECT 1 FROM school s WHERE s.code = i.school_code)
               AND EXISTS (SELECT 1 FROM school_year y WHERE y.name = i.school_year))
"""
"""A void names a stored student, school and school year (a void never creates one)."""


async def _check_enrollments(session: AsyncSession) -> None:
    """A student may have several rows, one per enrollment (a mid-year transfer): the same
    enrollment twice, a name that changes between them, or dates that overlap (in the file, or
    with a stored enrollment of that school year the file does not carry) make a bad row. A void
    row counts for none of these but the first (a void and a row of one enrollment are a
    repeated key); it must name a student, school and school year that exist."""
    await imp.flag_duplicates(
        session,
        TEMP,
        ("student_number", "school_code", "school_year", "entered_on"),
        "student_number, school_code, school_year and entered_on",
    )
    await session.execute(text(_VOID_UNKNOWN))
    await session.execute(text(_NAMES_DIFFER))
    await session.execute(text(_OVERLAP_IN_FILE))
    await session.execute(text(_OVERLAP_STORED))


CHANGED = "imp_roster_changed"
_UNCHANGED = f"""
    SELECT count(*) FROM {TEMP} i
    WHERE i.bad IS NULL
      AND NOT EXISTS (SELECT 1 FROM {CHANGED} c WHERE c.kind IN ('enrollment', 'void') AND c.line = i.line)
      AND NOT EXISTS (SELECT 1 FROM {CHANGED} c JOIN {TEMP} j ON j.line = c.line
                      WHERE c.kind = 'student' AND j.student_number = i.student_number)
"""


_WHO = "CAST(:actor_id AS uuid), :actor_role, CAST(:device_id AS uuid)"

_VOID = f"""
    WITH gone AS (
        DELETE FROM enrollment e USING {TEMP} i, student st, school sc, school_year y
        WHERE i.bad IS NULL AND i.void AND st.student_number = i.student_number AND sc.code = i.school_code
          AND y.name = i.school_year AND e.student_id = st.id AND e.school_id = sc.id AND e.school_year_id = y.id
          AND e.entered_on = i.entered_on
        RETURNING e.*, i.line, sc.code AS school_code, y.name AS school_year
    ),
    trk AS (INSERT INTO {CHANGED} (kind, line) SELECT 'void', g.line FROM gone g),
    aud AS (
        INSERT INTO audit_log
            (actor_id, actor_role, device_id, action, entity_type, entity_id, student_id, request_id, detail)
        SELECT {_WHO}, 'enrollment.voided', 'enrollment', g.id::text, g.student_id, :request_id,
               jsonb_build_object('import_id', CAST(:import_id AS text), 'line', g.line,
                                  'before', jsonb_build_object('school_code', g.school_code,
                                                               'school_year', g.school_year, 'grade', g.grade,
                                                               'entered_on', g.entered_on, 'exited_on', g.exited_on))
        FROM gone g
        RETURNING 1
    )
    SELECT count(*) FROM gone
"""
"""Void: the stored enrollment is deleted, its values kept in its audit row (one per enrollment)."""

_AFTER_VOID = f"""
    WITH voided AS (
        SELECT DISTINCT ON (i.student_number) i.student_number, i.line
        FROM {TEMP} i JOIN {CHANGED} c ON c.kind = 'void' AND c.line = i.line
        WHERE NOT EXISTS (SELECT 1 FROM {TEMP} j
                          WHERE j.bad IS NULL AND NOT j.void AND j.student_number = i.student_number)
        ORDER BY i.student_number, i.line
    ),
    latest AS (
        SELECT DISTINCT ON (st.id) st.id, v.line, e.school_id, e.grade,
               st.school_id AS old_school_id, st.grade AS old_grade
        FROM voided v
        JOIN student st ON st.student_number = v.student_number
        JOIN enrollment e ON e.student_id = st.id
        JOIN school_year y ON y.id = e.school_year_id
        ORDER BY st.id, y.name DESC, e.entered_on DESC
    ),
    up AS (
        UPDATE student s SET school_id = l.school_id, grade = l.grade, version = s.version + 1, updated_at = now()
        FROM latest l
        WHERE s.id = l.id AND (s.school_id, s.grade) IS DISTINCT FROM (l.school_id, l.grade)
        RETURNING s.id, l.line, l.school_id, l.grade, l.old_school_id, l.old_grade
    ),
    trk AS (INSERT INTO {CHANGED} (kind, line) SELECT 'student', u.line FROM up u),
    aud AS (
        INSERT INTO audit_log
            (actor_id, actor_role, device_id, action, entity_type, entity_id, student_id, request_id, detail)
        SELECT {_WHO}, 'student.corrected', 'student', u.id::text, u.id, :request_id,
               jsonb_build_object('import_id', CAST(:import_id AS text), 'line', u.line,
                                  'before', jsonb_build_object('school_id', u.old_school_id, 'grade', u.old_grade),
                                  'after', jsonb_build_object('school_id', u.school_id, 'grade', u.grade))
        FROM up u
        RETURNING 1
    )
    SELECT count(*) FROM up
"""
"""After the voids: a student with no row of hers in the file takes the school and grade of her
latest remaining enrollment (her record is that of her latest enrollment); one with none left
keeps hers."""


async def _void_enrollments(session: AsyncSession, actor: Actor, import_id: uuid.UUID) -> tuple[int, int]:
    """Apply the file's void rows: how many enrollments were deleted, and how many students took
    another enrollment's school and grade."""
    who = {
        "actor_id": actor.user_id,
        "actor_role": actor.role,
        "device_id": actor.device_id,
        "request_id": actor.request_id,
        "import_id": str(import_id),
    }
    deleted = int((await session.execute(text(_VOID), who)).scalar_one())
    moved = int((await session.execute(text(_AFTER_VOID), who)).scalar_one()) if deleted else 0
    return deleted, moved


async def import_roster(
    session: AsyncSession,
    actor: Actor,
    lines: Iterable[str],
    *,
    mode: ImportMode = ImportMode.ALL_OR_NOTHING,
    source_name: str = "",
    progress: imp.Progress | None = None,
    total_rows: int = 0,
) -> ImportResult:
    """One row per student enrollment. Schools and school years are found by code and name, or created."""
    staged = imp.Staged()
    await imp.create_temp(session, TEMP, _DDL)
    for batch in imp.batches(lines, REQUIRED, OPTIONAL, _converter, staged):
        await imp.copy_records(session, TEMP, COLUMNS, batch)
        if progress:
            progress("read", staged.rows, max(total_rows, staged.rows))
    await imp.analyze(session, TEMP)
    await _check_enrollments(session)
    bad = sorted(staged.bad + await imp.db_bad_rows(session, TEMP), key=lambda b: b.line)
    result = ImportResult(kind="roster", mode=mode, rows=staged.rows, applied=False, rejected=len(bad), bad_rows=bad)
    if not imp.should_apply(mode, bad):
        return result
    import_id = uuid.uuid4()
    await imp.ensure_schools_and_years(session, TEMP, with_school_name=True)
    steps = (
        ("household", HOUSEHOLDS, "household.corrected"),
        ("student", STUDENTS, "student.corrected"),
        ("guardian", GUARDIANS, "guardian.corrected"),
        ("enrollment", ENROLLMENTS, "enrollment.corrected"),
    )
    await session.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS {CHANGED} (kind text, line int) ON COMMIT DROP"))
    await session.execute(text(f"TRUNCATE {CHANGED}"))
    deleted, moved = await _void_enrollments(session, actor, import_id)
    total = imp.Counts()
    for n, (table, spec, action) in enumerate(steps, start=1):
        counts = await imp.upsert(session, spec, actor, import_id, action, track=CHANGED)
        if table == "student":
            counts.updated += moved
        result.by_table[table] = {"inserted": counts.inserted, "updated": counts.updated}
        total.add(counts)
        if progress:
            progress("apply", n, len(steps))
    result.applied = True
    result.inserted, result.updated, result.deleted = total.inserted, total.updated, deleted
    # A row is unchanged when neither its enrollment nor its student was inserted, changed or voided.
    result.unchanged = int((await session.execute(text(_UNCHANGED))).scalar_one())
    imp.audit_import(session, actor, import_id, source_name, result)
    await session.flush()
    return result
