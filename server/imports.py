"""The machinery every CSV import shares: read with the csv module, load with COPY, upsert set-based.

A file is read in batches; each row is checked in Python (shape, types, codes) and the good
ones go by binary COPY into a temporary table with their line numbers. Checks that need the
database (unknown students, duplicate keys) run there, set-based. Then, unless the caller asked
for all-or-nothing and a row was bad, one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE ... IS
DISTINCT FROM`` per table applies the file: unchanged rows are not touched, and each corrected
record gets an audit row with its values before and after (written by the same statement).
Inserts are summed up in one audit row per import. Services flush, never commit.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from asyncpg.exceptions import DataError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.imports import BadRow, ImportMode, ImportResult
from server import audit
from server.audit import Actor
from server.errors import ImportRejected, InvalidInput, RepeatedColumns, UnknownColumns

BATCH = 50_000
Progress = Callable[[str, int, int], None]
Convert = Callable[[list[str]], tuple[Any, ...]]


class RowError(ValueError):
    """A bad value in a row; the message is the reason reported with the line number."""


@dataclass
class Staged:
    rows: int = 0
    bad: list[BadRow] = field(default_factory=list)


def header_index(header: Sequence[str], required: Sequence[str], optional: Sequence[str]) -> dict[str, int]:
    """Column positions by name (case and surrounding spaces do not matter).

    A column the import does not know refuses the whole file (``UnknownColumns``): a misspelled
    ``reason`` for ``reason_code`` would otherwise read as blank, and a re-sent day would wipe
    the stored reason. So does a column named twice (``RepeatedColumns``). A missing required
    column is a bad line 1 (RowError), as before, unless an unknown one is refused first.
    """
    written = [h.strip() for h in header]
    if written and written[0].startswith("\ufeff"):
        written[0] = written[0][1:].strip()
    names = [h.lower() for h in written]
    expected = [*required, *optional]
    missing = [c for c in required if c not in names]
    unknown = [w for w, n in zip(written, names, strict=True) if n not in expected]
    if unknown:
        shown = ", ".join(w or '"" (a column without a name)' for w in unknown)
        raise UnknownColumns(
            f"unknown column(s): {shown}; expected: {', '.join(expected)}"
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + ". The whole file was refused, nothing was imported.",
            unknown=unknown,
            expected=expected,
            missing=missing,
        )
    repeated = sorted({n for n in names if names.count(n) > 1}, key=names.index)
    if repeated:
        raise RepeatedColumns(
            f"column(s) named more than once: {', '.join(repeated)}. The whole file was refused, nothing was imported.",
            repeated=repeated,
        )
    if missing:
        raise RowError(f"missing column(s): {', '.join(missing)}")
    return {c: names.index(c) for c in expected if c in names}


def batches(
    lines: Iterable[str],
    required: Sequence[str],
    optional: Sequence[str],
    make_converter: Callable[[dict[str, int]], Convert],
    staged: Staged,
) -> Iterator[list[tuple[Any, ...]]]:
    """Yield batches of ``(line, *values)`` records; bad rows go to ``staged.bad``."""
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        staged.bad.append(BadRow(1, "empty file: expected a header line"))
        return
    except csv.Error as exc:
        staged.bad.append(BadRow(1, f"unreadable CSV: {exc}"))
        return
    try:
        convert = make_converter(header_index(header, required, optional))
    except RowError as exc:
        staged.bad.append(BadRow(1, str(exc)))
        return
    width = len(header)
    batch: list[tuple[Any, ...]] = []
    bad = staged.bad
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            staged.rows += 1
            bad.append(BadRow(reader.line_num, f"unreadable CSV: {exc}"))
            continue
        line = reader.line_num
        if not row:
            continue
        staged.rows += 1
        if len(row) != width:
            bad.append(BadRow(line, f"expected {width} fields, found {len(row)}"))
            continue
        try:
            batch.append((line, *convert(row)))
        except (RowError, ValueError) as exc:
            bad.append(BadRow(line, str(exc)))
            continue
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


async def create_temp(session: AsyncSession, name: str, columns_ddl: str) -> None:
    await session.execute(
        text(f"CREATE TEMP TABLE IF NOT EXISTS {name} (line int NOT NULL, {columns_ddl}, bad text) ON COMMIT DROP")
    )
    await session.execute(text(f"TRUNCATE {name}"))


async def copy_records(
    session: AsyncSession, table: str, columns: Sequence[str], records: list[tuple[Any, ...]]
) -> None:
    """Binary COPY on the session's own connection (same transaction)."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.copy_records_to_table(table, records=records, columns=["line", *columns])


async def analyze(session: AsyncSession, table: str) -> None:
    """Temporary tables have no statistics until asked: the checks and upserts need them."""
    await session.execute(text(f"ANALYZE {table}"))


async def flag_bad(session: AsyncSession, table: str, reason_sql: str, where_sql: str) -> None:
    """Mark rows bad with a reason computed in SQL (first reason wins)."""
    await session.execute(text(f"UPDATE {table} i SET bad = {reason_sql} WHERE i.bad IS NULL AND ({where_sql})"))


async def flag_duplicates(session: AsyncSession, table: str, keys: Sequence[str], label: str) -> None:
    """A key seen on an earlier line makes the later line bad."""
    k = ", ".join(keys)
    ik = ", ".join(f"i.{c}" for c in keys)
    await session.execute(
        text(
            f"""
            UPDATE {table} i SET bad = '{label} repeats line ' || d.first_line
            FROM (SELECT {k}, min(line) AS first_line FROM {table} WHERE bad IS NULL
                  GROUP BY {k} HAVING count(*) > 1) d
            WHERE ({ik}) = ({", ".join(f"d.{c}" for c in keys)}) AND i.line <> d.first_line AND i.bad IS NULL
            """
        )
    )


async def db_bad_rows(session: AsyncSession, table: str) -> list[BadRow]:
    rows = await session.execute(text(f"SELECT line, bad FROM {table} WHERE bad IS NOT NULL ORDER BY line"))
    return [BadRow(line, reason) for line, reason in rows]


@dataclass(frozen=True)
class Upsert:
    """One table's set-based upsert from a source query, auditing each changed record."""

    table: str
    keys: tuple[str, ...]
    values: tuple[str, ...]
    source: str
    """SQL selecting ``line`` plus the key and value columns, one row per key."""
    entity_type: str
    entity_id: str
    """SQL expression over ``up`` for the audit row's entity id."""
    generated_id: bool = False
    versioned: bool = False
    touch_updated_at: bool = False


@dataclass
class Counts:
    inserted: int = 0
    updated: int = 0

    def add(self, other: Counts) -> None:
        self.inserted += other.inserted
        self.updated += other.updated


async def upsert(
    session: AsyncSession, spec: Upsert, actor: Actor, import_id: uuid.UUID, action: str, track: str | None = None
) -> Counts:
    """Apply ``spec``. With ``track`` (a table of ``kind text, line int``), the source line of
    each inserted or changed record is added to it, with the table's name as ``kind``."""
    keys = ", ".join(spec.keys)
    cols = ", ".join((*spec.keys, *spec.values))
    id_col, id_val = ("id, ", "gen_random_uuid(), ") if spec.generated_id else ("", "")
    sets = [f"{v} = EXCLUDED.{v}" for v in spec.values]
    if spec.versioned:
        sets += ["version = t.version + 1", "updated_at = now()"]
    elif spec.touch_updated_at:
        sets.append("updated_at = now()")
    old_vals = ", ".join(f"t.{v}" for v in spec.values)
    new_vals = ", ".join(f"EXCLUDED.{v}" for v in spec.values)
    key_join = " AND ".join(f"o.{k} = up.{k}" for k in spec.keys)
    src_join = " AND ".join(f"t.{k} = src.{k}" for k in spec.keys)
    line_join = " AND ".join(f"src.{k} = up.{k}" for k in spec.keys)
    before = ", ".join(f"'{v}', o.{v}" for v in spec.values)
    after = ", ".join(f"'{v}', up.{v}" for v in spec.values)
    tracked = (
        f""",
        trk AS (INSERT INTO {track} (kind, line) SELECT '{spec.table}', src.line FROM up JOIN src ON {line_join})"""
        if track
        else ""
    )
    sql = f"""
        WITH src AS ({spec.source}),
        old AS (SELECT t.* FROM {spec.table} t JOIN src ON {src_join}),
        up AS (
            INSERT INTO {spec.table} AS t ({id_col}{cols})
            SELECT {id_val}{cols} FROM src
            ON CONFLICT ({keys}) DO UPDATE SET {", ".join(sets)}
            WHERE ({old_vals}) IS DISTINCT FROM ({new_vals})
            RETURNING t.*, (t.xmax <> 0) AS updated_
        ),
        aud AS (
            INSERT INTO audit_log (actor_id, actor_role, device_id, action, entity_type, entity_id, request_id, detail)
            SELECT CAST(:actor_id AS uuid), :actor_role, CAST(:device_id AS uuid), :action, :entity_type,
                   {spec.entity_id}, :request_id,
                   jsonb_build_object('import_id', CAST(:import_id AS text), 'line', src.line,
                                      'before', jsonb_build_object({before}), 'after', jsonb_build_object({after}))
            FROM up JOIN old o ON {key_join} JOIN src ON {line_join}
            WHERE up.updated_
            RETURNING 1
        ){tracked}
        SELECT count(*) FILTER (WHERE NOT updated_) AS inserted, count(*) FILTER (WHERE updated_) AS updated,
               (SELECT count(*) FROM aud) AS audited
        FROM up
    """
    row = (
        await session.execute(
            text(sql),
            {
                "actor_id": actor.user_id,
                "actor_role": actor.role,
                "device_id": actor.device_id,
                "action": action,
                "entity_type": spec.entity_type,
                "request_id": actor.request_id,
                "import_id": str(import_id),
            },
        )
    ).one()
    return Counts(inserted=int(row.inserted), updated=int(row.updated))


def parse_bool(value: str, name: str) -> bool | None:
    v = value.strip().lower()
    if v == "":
        return None
    if v in ("1", "true", "t", "yes", "y"):
        return True
    if v in ("0", "false", "f", "no", "n"):
        return False
    raise RowError(f"{name}: expected true or false, got {value!r}")


def should_apply(mode: ImportMode, bad: list[BadRow]) -> bool:
    return mode == ImportMode.GOOD_ROWS or not bad


def parse_date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RowError(f"{name}: not a date (YYYY-MM-DD): {value!r}") from None


def optional_date(value: str, name: str) -> date | None:
    return parse_date(value, name) if value.strip() else None


def school_year_name(value: str) -> str:
    """``2025-2026``: two consecutive years."""
    v = value.strip()
    if len(v) != 9 or v[4] != "-" or not (v[:4].isdigit() and v[5:].isdigit()) or int(v[5:]) != int(v[:4]) + 1:
        raise RowError(f"school_year: expected two consecutive years like 2025-2026, got {value!r}")
    return v


async def ensure_schools_and_years(session: AsyncSession, table: str, with_school_name: bool) -> None:
    """Create the schools (by code) and school years (by name) a staged file mentions."""
    name = "coalesce(nullif(i.school_name, ''), i.school_code)" if with_school_name else "i.school_code"
    await session.execute(
        text(
            f"""
            INSERT INTO school (id, code, name)
            SELECT DISTINCT ON (i.school_code) gen_random_uuid(), i.school_code, {name}
            FROM {table} i WHERE i.bad IS NULL ORDER BY i.school_code, i.line
            ON CONFLICT (code) DO NOTHING
            """
        )
    )
    await session.execute(
        text(
            f"""
            INSERT INTO school_year (id, name, starts_on, ends_on)
            SELECT DISTINCT ON (i.school_year) gen_random_uuid(), i.school_year,
                   make_date(left(i.school_year, 4)::int, 7, 1), make_date(right(i.school_year, 4)::int, 6, 30)
            FROM {table} i WHERE i.bad IS NULL
            ON CONFLICT (name) DO NOTHING
            """
        )
    )


def audit_import(session: AsyncSession, actor: Actor, import_id: uuid.UUID, source: str, r: ImportResult) -> None:
    """One audit row per applied import, with its counts (corrections have a row each)."""
    audit.record(
        session,
        actor,
        f"{r.kind}.import",
        "import",
        import_id,
        source=source,
        mode=r.mode.value,
        rows=r.rows,
        inserted=r.inserted,
        updated=r.updated,
        unchanged=r.unchanged,
        deleted=r.deleted,
        rejected=r.rejected,
    )


def body_lines(body: bytes) -> io.StringIO:
    """A request body (UTF-8, with or without a BOM) as lines for the csv module."""
    try:
        return io.StringIO(body.decode("utf-8-sig"), newline="")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the file is not UTF-8: {exc.reason} at byte {exc.start}") from None


def rejected_unless_applied(result: ImportResult) -> ImportResult:
    """At the request edge: an import that wrote nothing is a 422 listing the bad rows."""
    if not result.applied:
        raise ImportRejected(
            f"{result.rejected} bad row(s) of {result.rows}; nothing was imported (mode all_or_nothing)",
            rows=result.rows,
            bad_rows=[{"line": b.line, "reason": b.reason} for b in result.bad_rows[:1000]],
        )
    return result


# --- CSV parsed by PostgreSQL --------------------------------------------------------------------

COPY_CHUNK = 1 << 20
"""Characters sent to COPY per chunk."""


@dataclass
class _Seen:
    newlines: int = 0
    tail: str = "\n"


class _Rewind(Exception):
    """The staged copy cannot be trusted for line numbers: parse the file in Python instead."""


def rewindable(lines: Iterable[str]) -> io.TextIOBase | None:
    """The input as a text stream that can be read again from here, or None (a generator, say)."""
    if isinstance(lines, io.TextIOBase) and lines.seekable():
        return lines
    return None


async def stage_csv(
    session: AsyncSession,
    table: str,
    stream: io.TextIOBase,
    required: Sequence[str],
    optional: Sequence[str],
    progress: Progress | None = None,
    total_rows: int = 0,
) -> tuple[dict[str, int], int] | None:
    """Let PostgreSQL parse the CSV: COPY it into a temporary table of text columns ``c0 … cN``
    with the line number of each record. Returns the header's column positions and the number of
    data rows, or None after rewinding ``stream`` when the file has to be read in Python instead.

    The line numbers are exact only if every record is one line: the physical lines sent are
    counted and must equal the records COPY stored. Anything PostgreSQL refuses (a row with the
    wrong number of fields, a blank line, bad encoding), a header with a missing column, or a
    record over several lines rewinds; the Python reader then reports each bad line, as before.
    A header with an unknown or repeated column raises, as the Python reader does.
    """
    start = stream.tell()
    first = stream.readline()
    if not first or '"' in first:
        stream.seek(start)
        return None
    try:
        header = next(csv.reader([first]))
        ix = header_index(header, required, optional)  # unknown or repeated columns: refused here
    except (RowError, csv.Error, StopIteration):
        stream.seek(start)
        return None
    width = len(header)
    columns = [f"c{k}" for k in range(width)]
    seen = _Seen()

    async def chunks() -> Any:
        while True:
            text_ = stream.read(COPY_CHUNK)
            if not text_:
                return
            seen.newlines += text_.count("\n")
            seen.tail = text_[-1]
            yield text_.encode()
            if progress:
                progress("read", seen.newlines, max(total_rows, seen.newlines))

    conn = await session.connection()
    driver: Any = (await conn.get_raw_connection()).driver_connection
    try:
        async with session.begin_nested():
            await session.execute(text(f"DROP TABLE IF EXISTS pg_temp.{table}"))
            await session.execute(
                text(
                    f"CREATE TEMP TABLE {table} (line int GENERATED ALWAYS AS IDENTITY (START WITH 2), "
                    f"{', '.join(f'{c} text' for c in columns)}) ON COMMIT DROP"
                )
            )
            status = await driver.copy_to_table(table, source=chunks(), columns=columns, format="csv")
            records = int(status.split()[-1])
            lines = seen.newlines + (0 if seen.tail == "\n" else 1)
            if records != lines:
                raise _Rewind
    except (_Rewind, DataError):
        stream.seek(start)
        return None
    await analyze(session, table)
    return ix, records
