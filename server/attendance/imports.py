"""Attendance import: the daily records a school's system exports (format in docs/imports.md).

A file of a whole school year is millions of rows, so the work is PostgreSQL's: it parses the
CSV (COPY into a temporary table of text columns, one line number per record), and one
statement checks and converts every row, resolves students and schools with hash joins and
compares each row with the record it would replace. Only when PostgreSQL cannot be trusted with
the line numbers (see ``imports.stage_csv``), or the input cannot be read twice, the rows are
parsed and checked in Python (same checks, same reasons) and copied in already typed.

Then: changed records are updated (each with an audit row: line, before, after), new ones
inserted with a plain INSERT, unchanged ones left alone. The import holds a SHARE ROW EXCLUSIVE
lock on ``attendance_record`` from the comparison to the commit, so no other writer can slip in
between. A large load of new rows checks the two foreign keys once, set-based, instead of once
per row (see ``_insert_new``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.attendance import ReasonCode
from schemas.imports import BadRow, ImportMode, ImportResult
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
    "void",
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
    "void",
)
VALUES = (
    "school_id",
    "minutes_present",
    "minutes_scheduled",
    "present_half_day",
    "tardy",
    "reason_code",
    "documentation_received_on",
)
_DDL = (
    "student_number text, school_code text, day date, minutes_present int, minutes_scheduled int, "
    "present_half_day bool, tardy bool, reason_code text, documentation_received_on date, void bool"
)
_REASONS = frozenset(r.value for r in ReasonCode)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MAX_DIGITS = 9
TEMP = "imp_attendance"
"""The checked rows: ``line``, resolved keys, typed values, ``bad`` (the reason) and ``state``
(``n`` new, ``c`` changed, ``u`` unchanged, ``v`` void of a stored record, ``x`` void of none)."""
TEMP_CSV = "imp_attendance_csv"
TEMP_ROWS = "imp_attendance_rows"
BULK_NEW_ROWS = 100_000
"""From this many new rows on, the foreign keys are checked set-based (see ``_insert_new``)."""
BULK_LOCK_TIMEOUT = "2s"


def _strict_date(value: str, name: str, label: str) -> date:
    if _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise imp.RowError(f"{name}: {label}: {value!r}")


def _converter(ix: dict[str, int]) -> imp.Convert:
    i_sn, i_sc, i_day = ix["student_number"], ix["school_code"], ix["day"]
    i_mp, i_ms = ix.get("minutes_present"), ix.get("minutes_scheduled")
    i_hd, i_t = ix.get("present_half_day"), ix.get("tardy")
    i_r, i_doc = ix.get("reason_code"), ix.get("documentation_received_on")
    i_v = ix.get("void")
    reasons = _REASONS

    def convert(row: list[str]) -> tuple[Any, ...]:
        sn = row[i_sn]
        sc = row[i_sc]
        if not sn or not sc:
            raise imp.RowError("student_number and school_code are required")
        day = _strict_date(row[i_day], "day", "not a date (YYYY-MM-DD)")
        void = (imp.parse_bool(row[i_v], "void") or False) if i_v is not None else False
        mp_s = row[i_mp] if i_mp is not None else ""
        ms_s = row[i_ms] if i_ms is not None else ""
        hd = imp.parse_bool(row[i_hd], "present_half_day") if i_hd is not None else None
        mp = ms = None
        if mp_s or ms_s:
            if not (mp_s.isascii() and mp_s.isdigit() and ms_s.isascii() and ms_s.isdigit()):
                raise imp.RowError("minutes_present and minutes_scheduled: whole numbers, both or neither")
            if len(mp_s) > _MAX_DIGITS or len(ms_s) > _MAX_DIGITS:
                raise imp.RowError("minutes_present and minutes_scheduled: too large")
            mp, ms = int(mp_s), int(ms_s)
            if ms == 0 or mp > ms:
                raise imp.RowError("minutes_present must be between 0 and minutes_scheduled (> 0)")
            if hd is not None and hd != (mp * 2 >= ms):
                half = "at least" if mp * 2 >= ms else "less than"
                raise imp.RowError(
                    f"minutes_present and present_half_day disagree: {mp} of {ms} minutes is {half} half the day"
                )
        elif hd is None and not void:
            raise imp.RowError("give minutes_present and minutes_scheduled, or present_half_day")
        tardy = (imp.parse_bool(row[i_t], "tardy") or False) if i_t is not None else False
        reason: str | None = row[i_r] if i_r is not None else ""
        if reason:
            if reason not in reasons:
                raise imp.RowError(f"reason_code: unknown code {reason!r}")
        else:
            reason = None
        doc_s = row[i_doc] if i_doc is not None else ""
        doc = _strict_date(doc_s, "documentation_received_on", "not a date") if doc_s else None
        return (sn, sc, day, mp, ms, hd, tardy, reason, doc, void)

    return convert


def _repr(x: str) -> str:
    """SQL for Python's ``repr`` of a text value (as the Python checks word their reasons)."""
    return (
        f"CASE WHEN strpos({x}, '''') > 0 AND strpos({x}, '\"') = 0 "
        f"THEN '\"' || replace({x}, '\\', '\\\\') || '\"' "
        f"ELSE '''' || replace(replace({x}, '\\', '\\\\'), '''', '\\''') || '''' END"
    )


_TRUE = "('1', 'true', 't', 'yes', 'y')"
_FALSE = "('0', 'false', 'f', 'no', 'n')"
_SPACE = "E' \\t\\n\\r\\f\\v'"


def _bool(x: str) -> str:
    b = f"lower(btrim({x}, {_SPACE}))"
    return f"CASE WHEN {x} IS NULL THEN NULL WHEN {b} IN {_TRUE} THEN true WHEN {b} IN {_FALSE} THEN false END"


def _int(x: str) -> str:
    return f"CASE WHEN length({x}) BETWEEN 1 AND {_MAX_DIGITS} AND ltrim({x}, '0123456789') = '' THEN {x}::int END"


def _csv_source(ix: dict[str, int]) -> str:
    """Rows of the staged CSV, converted, with the first reason a row is bad: the Python checks
    in SQL. An empty field is NULL (unquoted) or '' (quoted); both read as blank. A date must be
    exactly YYYY-MM-DD: it must parse and print back the same (DateStyle ISO)."""

    def col(name: str) -> str:
        return f"r.c{ix[name]}" if name in ix else "NULL::text"

    sn, sc, day, mp, ms, hd, t, reason, doc, void = (col(c) for c in COLUMNS)
    blank = "coalesce({}, '') = ''"
    return f"""
        SELECT v.line, v.sn, v.sc, v.day, v.mp, v.ms, v.hd, v.tardy, v.reason_code, v.doc, v.void, CASE
            WHEN {blank.format("v.sn")} OR {blank.format("v.sc")} THEN 'student_number and school_code are required'
            WHEN v.day IS NULL THEN 'day: not a date (YYYY-MM-DD): ' || {_repr("coalesce(v.day_s, '')")}
            WHEN v.void IS NULL THEN 'void: expected true or false, got ' || {_repr("v.void_s")}
            WHEN v.hd IS NULL AND btrim(v.hd_s, {_SPACE}) <> ''
                THEN 'present_half_day: expected true or false, got ' || {_repr("v.hd_s")}
            WHEN NOT ({blank.format("v.mp_s")} AND {blank.format("v.ms_s")})
                 AND NOT coalesce(ltrim(v.mp_s, '0123456789') = '' AND v.mp_s <> ''
                                  AND ltrim(v.ms_s, '0123456789') = '' AND v.ms_s <> '', false)
                THEN 'minutes_present and minutes_scheduled: whole numbers, both or neither'
            WHEN NOT ({blank.format("v.mp_s")} AND {blank.format("v.ms_s")}) AND (v.mp IS NULL OR v.ms IS NULL)
                THEN 'minutes_present and minutes_scheduled: too large'
            WHEN v.mp IS NOT NULL AND (v.ms = 0 OR v.mp > v.ms)
                THEN 'minutes_present must be between 0 and minutes_scheduled (> 0)'
            WHEN v.mp IS NOT NULL AND v.hd IS NOT NULL AND v.hd <> (v.mp * 2 >= v.ms)
                THEN 'minutes_present and present_half_day disagree: ' || v.mp || ' of ' || v.ms || ' minutes is '
                     || CASE WHEN v.mp * 2 >= v.ms THEN 'at least' ELSE 'less than' END || ' half the day'
            WHEN v.mp IS NULL AND v.hd IS NULL AND NOT v.void
                THEN 'give minutes_present and minutes_scheduled, or present_half_day'
            WHEN v.tardy IS NULL THEN 'tardy: expected true or false, got ' || {_repr("v.t_s")}
            WHEN v.reason_code <> ALL(CAST(:reasons AS text[]))
                THEN 'reason_code: unknown code ' || {_repr("v.reason_code")}
            WHEN v.doc IS NULL AND v.doc_s <> '' THEN 'documentation_received_on: not a date: ' || {_repr("v.doc_s")}
        END AS bad
        FROM (
            SELECT u.*, CASE WHEN u.day0::text = u.day_s THEN u.day0 END AS day,
                   CASE WHEN u.doc0::text = u.doc_s THEN u.doc0 END AS doc
            FROM (
                SELECT r.line, {sn} AS sn, {sc} AS sc, {day} AS day_s, {mp} AS mp_s, {ms} AS ms_s, {hd} AS hd_s,
                       {t} AS t_s, {doc} AS doc_s, {void} AS void_s,
                       CASE WHEN pg_input_is_valid({day}, 'date') THEN {day}::date END AS day0,
                       CASE WHEN pg_input_is_valid({doc}, 'date') THEN {doc}::date END AS doc0,
                       {_int(mp)} AS mp, {_int(ms)} AS ms, {_bool(hd)} AS hd,
                       CASE WHEN btrim({t}, {_SPACE}) <> '' THEN {_bool(t)} ELSE false END AS tardy,
                       CASE WHEN btrim({void}, {_SPACE}) <> '' THEN {_bool(void)} ELSE false END AS void,
                       nullif({reason}, '') AS reason_code
                FROM {TEMP_CSV} r
                OFFSET 0  -- fences: each conversion is computed once, not once per mention
            ) u
            OFFSET 0
        ) v
    """


_ROWS_SOURCE = f"""
    SELECT r.line, r.student_number AS sn, r.school_code AS sc, r.day, r.minutes_present AS mp,
           r.minutes_scheduled AS ms, r.present_half_day AS hd, r.tardy, r.reason_code,
           r.documentation_received_on AS doc, r.void, NULL::text AS bad
    FROM {TEMP_ROWS} r
"""


def _checked(source: str) -> str:
    """The checked rows (TEMP) from a source of converted rows: keys resolved by hash joins, each
    row compared with the record it would replace (or void)."""
    old = ", ".join(f"a.{v}" for v in VALUES)
    return f"""
        CREATE TEMP TABLE {TEMP} ON COMMIT DROP AS
        SELECT s.line, st.id AS student_id, s.day, sc.id AS school_id, s.mp AS minutes_present,
               s.ms AS minutes_scheduled, s.hd AS present_half_day, s.tardy, s.reason_code,
               s.doc AS documentation_received_on,
               coalesce(s.bad, CASE WHEN st.id IS NULL THEN 'unknown student_number ' || s.sn
                                    WHEN sc.id IS NULL THEN 'unknown school_code ' || s.sc
                                    WHEN s.void AND a.school_id <> sc.id
                                    THEN 'void: the record of this day is at school '
                                         || (SELECT o.code FROM school o WHERE o.id = a.school_id) || ', not ' || s.sc
                                    END) AS bad,
               CASE WHEN s.void THEN CASE WHEN a.student_id IS NULL THEN 'x' ELSE 'v' END
                    WHEN a.student_id IS NULL THEN 'n'
                    WHEN ({old}) IS DISTINCT FROM (sc.id, s.mp, s.ms, s.hd, s.tardy, s.reason_code, s.doc)
                    THEN 'c' ELSE 'u' END AS state
        FROM ({source}) s
        LEFT JOIN student st ON st.student_number = s.sn
        LEFT JOIN school sc ON sc.code = s.sc
        LEFT JOIN attendance_record a ON a.student_id = st.id AND a.day = s.day
    """


_DUPLICATES = f"""
    UPDATE {TEMP} i SET bad = 'student_number and day repeats line ' || d.first_line
    FROM (SELECT student_id, day, min(line) AS first_line FROM {TEMP} WHERE bad IS NULL {{scope}}
          GROUP BY student_id, day HAVING count(*) > 1) d
    WHERE i.student_id = d.student_id AND i.day = d.day AND i.line <> d.first_line AND i.bad IS NULL
"""
_EXISTING = f"AND (state <> 'n' OR (student_id, day) IN (SELECT student_id, day FROM {TEMP} WHERE state = 'x'))"
"""Rows of a key that exists all have a state other than ``n``: repeated keys of records that
exist are found among those rows alone, and so are new keys also voided (``x``, a few rows);
repeated new keys would break the primary key on insert (see ``import_attendance``)."""


async def _flag_duplicates(session: AsyncSession, scope: str = "") -> int:
    result: Any = await session.execute(text(_DUPLICATES.format(scope=scope)))
    return int(result.rowcount)


_CORRECT = f"""
    WITH chg AS MATERIALIZED (
        SELECT t.*, a.school_id AS o_school_id, a.minutes_present AS o_minutes_present,
               a.minutes_scheduled AS o_minutes_scheduled, a.present_half_day AS o_present_half_day,
               a.tardy AS o_tardy, a.reason_code AS o_reason_code,
               a.documentation_received_on AS o_documentation_received_on
        FROM {TEMP} t JOIN attendance_record a ON a.student_id = t.student_id AND a.day = t.day
        WHERE t.state = 'c' AND t.bad IS NULL
    ),
    upd AS (
        UPDATE attendance_record a
        SET {", ".join(f"{v} = c.{v}" for v in VALUES)}, updated_at = now()
        FROM chg c WHERE a.student_id = c.student_id AND a.day = c.day
        RETURNING 1
    ),
    aud AS (
        INSERT INTO audit_log (actor_id, actor_role, device_id, action, entity_type, entity_id, request_id, detail)
        SELECT CAST(:actor_id AS uuid), :actor_role, CAST(:device_id AS uuid), 'attendance.corrected',
               'attendance_record', c.student_id::text || '/' || c.day::text, :request_id,
               jsonb_build_object('import_id', CAST(:import_id AS text), 'line', c.line,
                                  'before', jsonb_build_object({", ".join(f"'{v}', c.o_{v}" for v in VALUES)}),
                                  'after', jsonb_build_object({", ".join(f"'{v}', c.{v}" for v in VALUES)}))
        FROM chg c
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM upd), (SELECT count(*) FROM aud)
"""

_VOID = f"""
    WITH gone AS (
        DELETE FROM attendance_record a USING {TEMP} t
        WHERE t.state = 'v' AND t.bad IS NULL AND a.student_id = t.student_id AND a.day = t.day
        RETURNING a.*, t.line
    ),
    aud AS (
        INSERT INTO audit_log
            (actor_id, actor_role, device_id, action, entity_type, entity_id, student_id, request_id, detail)
        SELECT CAST(:actor_id AS uuid), :actor_role, CAST(:device_id AS uuid), 'attendance.voided',
               'attendance_record', g.student_id::text || '/' || g.day::text, g.student_id, :request_id,
               jsonb_build_object('import_id', CAST(:import_id AS text), 'line', g.line,
                                  'before', jsonb_build_object({", ".join(f"'{v}', g.{v}" for v in VALUES)}))
        FROM gone g
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM aud)
"""
"""Void: the stored record is deleted, its values kept in its audit row (one per record)."""

_INSERT = f"""
    INSERT INTO attendance_record (student_id, day, {", ".join(VALUES)})
    SELECT student_id, day, {", ".join(VALUES)} FROM {TEMP} WHERE state = 'n' AND bad IS NULL
"""


async def _insert_new(session: AsyncSession, new_rows: int) -> None:
    """Insert the new records.

    Each foreign key of ``attendance_record`` checks every inserted row on its own (a trigger
    per row and key: 3.6 million rows took 34 s, against 9 s without the two checks). For a
    large load the import drops the foreign keys and adds them back with their own definitions
    in the same transaction: PostgreSQL then validates all rows at once with one join per key
    (under a second for a year of a district). No other transaction ever sees the table without
    them (it is locked out until the commit), and a row that broke a key would fail the whole
    import. The price is an ACCESS EXCLUSIVE lock on ``attendance_record``, ``student`` and
    ``school`` until the commit, so reads of them wait for the load; the import gives up on the
    locks after ``BULK_LOCK_TIMEOUT`` (or when it may not alter the table) and checks row by row.
    """
    if new_rows >= BULK_NEW_ROWS:
        try:
            async with session.begin_nested():
                timeout = (await session.execute(text("SHOW lock_timeout"))).scalar_one()
                await session.execute(text("SELECT set_config('lock_timeout', :t, true)"), {"t": BULK_LOCK_TIMEOUT})
                keys = (
                    await session.execute(
                        text(
                            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                            "WHERE conrelid = 'attendance_record'::regclass AND contype = 'f' ORDER BY conname"
                        )
                    )
                ).all()
                if keys:
                    await session.execute(
                        text(
                            "ALTER TABLE attendance_record "
                            + ", ".join(f'DROP CONSTRAINT "{name}"' for name, _ in keys)
                        )
                    )
                await session.execute(text("SELECT set_config('lock_timeout', :t, true)"), {"t": timeout})
                await session.execute(text(_INSERT))
                if keys:
                    await session.execute(
                        text(
                            "ALTER TABLE attendance_record "
                            + ", ".join(f'ADD CONSTRAINT "{name}" {definition}' for name, definition in keys)
                        )
                    )
            return
        except IntegrityError:
            raise  # a repeated key, or a key that broke: the caller decides
        except DBAPIError:
            pass  # locks not granted, not the table's owner, or a key broken: the row-by-row path says which
    await session.execute(text(_INSERT))


UNIQUE_VIOLATION = "23505"


async def _apply(
    session: AsyncSession, actor: Actor, result: ImportResult, source_name: str, progress: imp.Progress | None
) -> None:
    """Write the good rows: voids and corrections (audited one by one), then new records; one audit
    row sums it up."""
    if progress:
        progress("apply", 0, 1)
    import_id = uuid.uuid4()
    counts = (
        await session.execute(
            text(
                f"SELECT count(*) FILTER (WHERE state = 'n'), count(*) FILTER (WHERE state = 'c'), "
                f"count(*) FILTER (WHERE state = 'v') FROM {TEMP} WHERE bad IS NULL"
            )
        )
    ).one()
    result.inserted, result.updated, result.deleted = int(counts[0]), int(counts[1]), int(counts[2])
    who = {
        "actor_id": actor.user_id,
        "actor_role": actor.role,
        "device_id": actor.device_id,
        "request_id": actor.request_id,
        "import_id": str(import_id),
    }
    if result.deleted:
        await session.execute(text(_VOID), who)
    if result.updated:
        await session.execute(text(_CORRECT), who)
    if result.inserted:
        await _insert_new(session, result.inserted)
    if progress:
        progress("apply", 1, 1)
    result.applied = True
    result.unchanged = result.rows - result.rejected - result.inserted - result.updated - result.deleted
    imp.audit_import(session, actor, import_id, source_name, result)
    await session.flush()


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
    bad: list[BadRow] = []
    await session.execute(text(f"DROP TABLE IF EXISTS pg_temp.{TEMP}"))
    saved = (await session.execute(text("SELECT current_setting('work_mem'), current_setting('DateStyle')"))).one()
    await session.execute(
        text("SELECT set_config('work_mem', '256MB', true), set_config('DateStyle', 'ISO, YMD', true)")
    )
    # No other writer between the comparison below and the commit (readers are not blocked).
    await session.execute(text("LOCK TABLE attendance_record IN SHARE ROW EXCLUSIVE MODE"))
    # PostgreSQL parses the CSV itself from version 16 on (pg_input_is_valid); older servers use
    # the Python reader, with the same checks and reasons.
    server_version = int((await session.execute(text("SELECT current_setting('server_version_num')"))).scalar_one())
    stream = imp.rewindable(lines) if server_version >= 160000 else None
    staged = None
    if stream is not None:
        staged = await imp.stage_csv(session, TEMP_CSV, stream, REQUIRED, OPTIONAL, progress, total_rows)
    if staged is not None:
        ix, rows = staged
        await session.execute(text(_checked(_csv_source(ix))), {"reasons": sorted(_REASONS)})
    else:
        python = imp.Staged()
        await imp.create_temp(session, TEMP_ROWS, _DDL)
        for batch in imp.batches(stream or lines, REQUIRED, OPTIONAL, _converter, python):
            await imp.copy_records(session, TEMP_ROWS, COLUMNS, batch)
            if progress:
                progress("read", python.rows, max(total_rows, python.rows))
        await imp.analyze(session, TEMP_ROWS)
        await session.execute(text(_checked(_ROWS_SOURCE)))
        rows, bad = python.rows, python.bad
    await imp.analyze(session, TEMP)
    # Repeated keys: all of them at once when the file has bad rows anyway; otherwise only among
    # the keys that exist already, and the new ones if the insert finds one (it rarely does).
    found = await imp.db_bad_rows(session, TEMP)
    checked_all = bool(bad or found)
    flagged = await _flag_duplicates(session, "" if checked_all else _EXISTING)
    if flagged and not checked_all:
        checked_all = True
        flagged += await _flag_duplicates(session)
    if flagged:
        found = await imp.db_bad_rows(session, TEMP)
    result = ImportResult(kind="attendance", mode=mode, rows=rows, applied=False)
    while True:
        result.bad_rows = sorted(bad + found, key=lambda b: b.line)
        result.rejected = len(result.bad_rows)
        result.inserted = result.updated = result.unchanged = result.deleted = 0
        if not imp.should_apply(mode, result.bad_rows):
            break
        try:
            async with session.begin_nested():
                await _apply(session, actor, result, source_name, progress)
            break
        except IntegrityError as exc:
            if checked_all or getattr(exc.orig, "sqlstate", None) != UNIQUE_VIOLATION:
                raise
            checked_all = True
            await _flag_duplicates(session)
            found = await imp.db_bad_rows(session, TEMP)
    await session.execute(
        text("SELECT set_config('work_mem', :w, true), set_config('DateStyle', :d, true)"),
        {"w": saved[0], "d": saved[1]},
    )
    return result
