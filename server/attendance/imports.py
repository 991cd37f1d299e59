"""Attendance import: the daily records a school's system exports (format in docs/imports.md)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.attendance import ReasonCode
from schemas.imports import ImportMode, ImportResult
from server import imports as imp
from server.audit import Actor

REQUIRED = ("student_number", "school_code", "day")
OPTIONAL = (
    "minutes_present",
    "minutes_scheduled",
    "present_half_day",
    "tardy",
    "reason_code",
    "documentation_received_on",
)
COLUMNS = (
    "student_number",
    "school_code",
    "day",
    "minutes_present",
    "minutes_scheduled",
    "present_half_day",
    "tardy",
    "reason_code",
    "documentation_received_on",
)
_DDL = (
    "student_number text, school_code text, day date, minutes_present int, minutes_scheduled int, "
    "present_half_day bool, tardy bool, reason_code text, documentation_received_on date"
)
_REASONS = frozenset(r.value for r in ReasonCode)
TEMP = "imp_attendance"


def _converter(ix: dict[str, int]) -> imp.Convert:
    i_sn, i_sc, i_day = ix["student_number"], ix["school_code"], ix["day"]
    i_mp, i_ms = ix.get("minutes_present"), ix.get("minutes_scheduled")
    i_hd, i_t = ix.get("present_half_day"), ix.get("tardy")
    i_r, i_doc = ix.get("reason_code"), ix.get("documentation_received_on")
    reasons = _REASONS
    fromiso = date.fromisoformat

    def convert(row: list[str]) -> tuple[Any, ...]:
        sn = row[i_sn]
        sc = row[i_sc]
        if not sn or not sc:
            raise imp.RowError("student_number and school_code are required")
        try:
            day = fromiso(row[i_day])
        except ValueError:
            raise imp.RowError(f"day: not a date (YYYY-MM-DD): {row[i_day]!r}") from None
        mp_s = row[i_mp] if i_mp is not None else ""
        ms_s = row[i_ms] if i_ms is not None else ""
        hd = imp.parse_bool(row[i_hd], "present_half_day") if i_hd is not None else None
        mp = ms = None
        if mp_s or ms_s:
            if not (mp_s.isdigit() and ms_s.isdigit()):
                raise imp.RowError("minutes_present and minutes_scheduled: whole numbers, both or neither")
            mp, ms = int(mp_s), int(ms_s)
            if ms == 0 or mp > ms:
                raise imp.RowError("minutes_present must be between 0 and minutes_scheduled (> 0)")
        elif hd is None:
            raise imp.RowError("give minutes_present and minutes_scheduled, or present_half_day")
        tardy = (imp.parse_bool(row[i_t], "tardy") or False) if i_t is not None else False
        reason: str | None = row[i_r] if i_r is not None else ""
        if reason:
            if reason not in reasons:
                raise imp.RowError(f"reason_code: unknown code {reason!r}")
        else:
            reason = None
        doc_s = row[i_doc] if i_doc is not None else ""
        doc = None
        if doc_s:
            try:
                doc = fromiso(doc_s)
            except ValueError:
                raise imp.RowError(f"documentation_received_on: not a date: {doc_s!r}") from None
        return (sn, sc, day, mp, ms, hd, tardy, reason, doc)

    return convert


_SOURCE = f"""
    SELECT i.line, st.id AS student_id, i.day, sc.id AS school_id, i.minutes_present, i.minutes_scheduled,
           i.present_half_day, i.tardy, i.reason_code, i.documentation_received_on
    FROM {TEMP} i
    JOIN student st ON st.student_number = i.student_number
    JOIN school sc ON sc.code = i.school_code
    WHERE i.bad IS NULL
"""

UPSERT = imp.Upsert(
    table="attendance_record",
    keys=("student_id", "day"),
    values=(
        "school_id",
        "minutes_present",
        "minutes_scheduled",
        "present_half_day",
        "tardy",
        "reason_code",
        "documentation_received_on",
    ),
    source=_SOURCE,
    entity_type="attendance_record",
    entity_id="up.student_id::text || '/' || up.day::text",
    touch_updated_at=True,
)


async def import_attendance(
    session: AsyncSession,
    actor: Actor,
    lines: Iterable[str],
    *,
    mode: ImportMode = ImportMode.ALL_OR_NOTHING,
    source_name: str = "",
    progress: imp.Progress | None = None,
    total_rows: int = 0,
) -> ImportResult:
    staged = imp.Staged()
    await imp.create_temp(session, TEMP, _DDL)
    for batch in imp.batches(lines, REQUIRED, OPTIONAL, _converter, staged):
        await imp.copy_records(session, TEMP, COLUMNS, batch)
        if progress:
            progress("read", staged.rows, max(total_rows, staged.rows))
    await imp.analyze(session, TEMP)
    await imp.flag_bad(
        session,
        TEMP,
        "'unknown student_number ' || i.student_number",
        "NOT EXISTS (SELECT 1 FROM student s WHERE s.student_number = i.student_number)",
    )
    await imp.flag_bad(
        session,
        TEMP,
        "'unknown school_code ' || i.school_code",
        "NOT EXISTS (SELECT 1 FROM school s WHERE s.code = i.school_code)",
    )
    await imp.flag_duplicates(session, TEMP, ("student_number", "day"), "student_number and day")
    bad = sorted(staged.bad + await imp.db_bad_rows(session, TEMP), key=lambda b: b.line)
    result = ImportResult(
        kind="attendance", mode=mode, rows=staged.rows, applied=False, rejected=len(bad), bad_rows=bad
    )
    if not imp.should_apply(mode, bad):
        return result
    import_id = uuid.uuid4()
    if progress:
        progress("apply", 0, 1)
    counts = await imp.upsert(session, UPSERT, actor, import_id, "attendance.corrected")
    if progress:
        progress("apply", 1, 1)
    result.applied = True
    result.inserted, result.updated = counts.inserted, counts.updated
    result.unchanged = staged.rows - len(bad) - counts.inserted - counts.updated
    imp.audit_import(session, actor, import_id, source_name, result)
    await session.flush()
    return result
