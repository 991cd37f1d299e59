"""The attendance import's two readers (PostgreSQL's COPY, Python's csv) and its bulk insert.

Files PostgreSQL can parse with exact line numbers are checked in SQL; others (and inputs that
cannot be read twice) go through Python. Both must report the same bad rows with the same
reasons. A large load checks the foreign keys set-based and leaves them exactly as they were.
"""

# ruff: noqa: E501  (CSV fixtures read best one record a line)

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from schemas.imports import ImportMode, ImportResult
from server import imports as imp
from server.attendance import imports as att
from server.attendance.models import AttendanceRecord
from server.audit import Actor, AuditEntry
from server.errors import UnknownColumns
from tests.helpers import Client
from tests.test_imports import ATTENDANCE, CALENDAR, ROSTER, post

HEADER = "student_number,school_code,day,minutes_present,minutes_scheduled,present_half_day,tardy,reason_code,documentation_received_on\n"

# Every row after the header is bad in its own way, except where noted.
MIXED = (
    HEADER
    + """T-1001,IMP1,2025-09-02,0,360,,,illness,
T-9999,IMP1,2025-09-02,0,360,,,,
T-1001,NOPE,2025-09-03,0,360,,,,
,IMP1,2025-09-03,0,360,,,,
T-1001,IMP1,2025-02-30,0,360,,,,
T-1001,IMP1,20250904,0,360,,,,
T-1001,IMP1, 2025-09-04,0,360,,,,
T-1002,IMP1,2025-09-02,400,360,,,,
T-1002,IMP1,2025-09-03,36a,360,,,,
T-1002,IMP1,2025-09-04,+5,360,,,,
T-1002,IMP1,2025-09-05,1234567890,1234567890,,,,
T-1002,IMP1,2025-09-08,5,,,,,
T-1002,IMP1,2025-09-09,,,maybe,,,
T-1002,IMP1,2025-09-10,,,,,,
T-1003,IMP2,2025-09-02,0,360,,x,,
T-1003,IMP2,2025-09-03,0,360,,,vacation,
T-1003,IMP2,2025-09-04,0,360,,,"it's",
T-1003,IMP2,2025-09-05,0,360,,,illness,2025-9-4
T-1003,IMP2,2025-09-08,,, TRUE ,Yes,,
"T-1003","IMP2","2025-09-09","0","360","","","illness",""
T-1003,IMP2,2025-09-09,0,360,,,,
T-1001,IMP1,2025-09-02,0,360,,,illness,
"""
)

EXPECTED = [
    (3, "unknown student_number T-9999"),
    (4, "unknown school_code NOPE"),
    (5, "student_number and school_code are required"),
    (6, "day: not a date (YYYY-MM-DD): '2025-02-30'"),
    (7, "day: not a date (YYYY-MM-DD): '20250904'"),
    (8, "day: not a date (YYYY-MM-DD): ' 2025-09-04'"),
    (9, "minutes_present must be between 0 and minutes_scheduled (> 0)"),
    (10, "minutes_present and minutes_scheduled: whole numbers, both or neither"),
    (11, "minutes_present and minutes_scheduled: whole numbers, both or neither"),
    (12, "minutes_present and minutes_scheduled: too large"),
    (13, "minutes_present and minutes_scheduled: whole numbers, both or neither"),
    (14, "present_half_day: expected true or false, got 'maybe'"),
    (15, "give minutes_present and minutes_scheduled, or present_half_day"),
    (16, "tardy: expected true or false, got 'x'"),
    (17, "reason_code: unknown code 'vacation'"),
    (18, 'reason_code: unknown code "it\'s"'),
    (19, "documentation_received_on: not a date: '2025-9-4'"),
    (22, "student_number and day repeats line 21"),
    (23, "student_number and day repeats line 2"),
]


@pytest.fixture
async def district(client: Client) -> None:
    for path, body in (("/rosters/imports", ROSTER), ("/calendars/imports", CALENDAR)):
        assert (await post(client, "office1", path, body)).status_code == 200


def generator(body: str) -> Iterator[str]:
    """An input that cannot be read twice: it always goes through Python."""
    yield from io.StringIO(body, newline="")


def no_python(*_args: Any, **_kwargs: Any) -> Any:
    raise AssertionError("the file should have been parsed by PostgreSQL")


async def require_postgres_parsing(db: AsyncSession) -> None:
    """PostgreSQL parses the CSV from version 16 on; older servers always use the Python reader."""
    if int((await db.execute(text("SELECT current_setting('server_version_num')"))).scalar_one()) < 160000:
        pytest.skip("PostgreSQL < 16 has no pg_input_is_valid: the Python reader is the only one")


async def run(db: AsyncSession, body: str | Iterator[str], mode: ImportMode) -> ImportResult:
    lines = io.StringIO(body, newline="") if isinstance(body, str) else body
    return await att.import_attendance(db, Actor.system("test"), lines, mode=mode)


def bad(result: ImportResult) -> list[tuple[int, str]]:
    return [(b.line, b.reason) for b in result.bad_rows]


@pytest.mark.usefixtures("district")
async def test_postgres_and_python_report_the_same_bad_rows(db: AsyncSession, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        await require_postgres_parsing(db)
        m.setattr(imp, "batches", no_python)
        in_sql = await run(db, MIXED, ImportMode.ALL_OR_NOTHING)
    in_python = await run(db, generator(MIXED), ImportMode.ALL_OR_NOTHING)
    assert bad(in_sql) == EXPECTED
    assert bad(in_python) == EXPECTED
    assert (in_sql.rows, in_sql.applied) == (in_python.rows, in_python.applied) == (22, False)
    assert await db.scalar(select(AttendanceRecord.day).limit(1)) is None


@pytest.mark.usefixtures("district")
@pytest.mark.parametrize("reader", ["postgres", "python"])
async def test_good_rows_mode_applies_the_good_rows_either_way(db: AsyncSession, reader: str) -> None:
    result = await run(db, MIXED if reader == "postgres" else generator(MIXED), ImportMode.GOOD_ROWS)
    assert bad(result) == EXPECTED
    assert (result.applied, result.inserted, result.rejected) == (True, 3, 19)
    rows = await db.execute(
        text(
            "SELECT s.student_number, a.day::text, a.present_half_day, a.tardy, a.reason_code FROM attendance_record a "
            "JOIN student s ON s.id = a.student_id ORDER BY 1, 2"
        )
    )
    assert [tuple(r) for r in rows] == [
        ("T-1001", "2025-09-02", None, False, "illness"),
        ("T-1003", "2025-09-08", True, True, None),
        ("T-1003", "2025-09-09", None, False, "illness"),
    ]


@pytest.mark.usefixtures("district")
async def test_a_repeated_new_key_is_found_by_the_insert_and_reported(
    db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = ATTENDANCE + "T-1003,IMP2,2025-09-02,100,360,,,unexcused,\n"
    await require_postgres_parsing(db)
    monkeypatch.setattr(imp, "batches", no_python)
    rejected = await run(db, body, ImportMode.ALL_OR_NOTHING)
    assert (rejected.applied, bad(rejected)) == (False, [(6, "student_number and day repeats line 5")])
    assert await db.scalar(select(AttendanceRecord.day).limit(1)) is None
    applied = await run(db, body, ImportMode.GOOD_ROWS)
    assert (applied.applied, applied.inserted, applied.rejected) == (True, 4, 1)
    imports = await db.scalars(select(AuditEntry.detail).where(AuditEntry.action == "attendance.import"))
    assert [d and d["inserted"] for d in imports] == [4]


@pytest.mark.usefixtures("district")
async def test_a_repeated_existing_key_is_reported_even_when_nothing_changes(db: AsyncSession) -> None:
    assert (await run(db, ATTENDANCE, ImportMode.ALL_OR_NOTHING)).inserted == 4
    again = await run(db, ATTENDANCE + "T-1001,IMP1,2025-09-03,360,360,,true,,\n", ImportMode.ALL_OR_NOTHING)
    assert (again.applied, bad(again)) == (False, [(6, "student_number and day repeats line 3")])


@pytest.mark.usefixtures("district")
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # A blank line: PostgreSQL refuses it, Python skips it and counts it.
        (ATTENDANCE + "\nT-9999,IMP1,2025-09-02,0,360,,,,\n", [(7, "unknown student_number T-9999")]),
        # A record over two lines: PostgreSQL's numbering would be off by one after it.
        (
            ATTENDANCE + 'T-1003,IMP2,2025-09-03,0,360,,,"ill\nness",\nT-9999,IMP1,2025-09-02,0,360,,,,\n',
            [(7, "reason_code: unknown code 'ill\\nness'"), (8, "unknown student_number T-9999")],
        ),
        # Too few fields.
        (
            ATTENDANCE + "T-1003,IMP2\nT-9999,IMP1,2025-09-02,0,360,,,,\n",
            [(6, "expected 9 fields, found 2"), (7, "unknown student_number T-9999")],
        ),
        # A missing column in the header.
        ("student_number,day\nT-1001,2025-09-02\n", [(1, "missing column(s): school_code")]),
    ],
)
async def test_files_postgres_cannot_number_go_through_python(
    db: AsyncSession, body: str, expected: list[tuple[int, str]]
) -> None:
    result = await run(db, body, ImportMode.ALL_OR_NOTHING)
    assert bad(result) == expected


@pytest.mark.usefixtures("district")
async def test_columns_in_any_order_in_any_case_and_optional_ones_missing(
    db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    await require_postgres_parsing(db)
    monkeypatch.setattr(imp, "batches", no_python)
    body = "Day,SCHOOL_CODE,student_number,present_half_day\n2025-09-02,IMP1,T-1001,false\n2025-09-02,IMP1,T-1002,t\n"
    result = await run(db, body, ImportMode.ALL_OR_NOTHING)
    assert (result.applied, result.inserted, bad(result)) == (True, 2, [])


FOREIGN_KEYS = """
    SELECT conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint
    WHERE conrelid = 'attendance_record'::regclass AND contype = 'f' ORDER BY conname
"""


@pytest.mark.usefixtures("district")
async def test_a_bulk_load_checks_the_foreign_keys_at_once_and_keeps_them(
    db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (await db.execute(text(FOREIGN_KEYS))).all()
    assert len(before) == 2
    monkeypatch.setattr(att, "BULK_NEW_ROWS", 1)
    result = await run(db, ATTENDANCE, ImportMode.ALL_OR_NOTHING)
    assert result.inserted == 4
    assert (await db.execute(text(FOREIGN_KEYS))).all() == before
    assert all(validated for _, _, validated in before)


@pytest.mark.usefixtures("district")
async def test_a_bulk_load_checks_row_by_row_when_the_locks_wait(
    db: AsyncSession, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(att, "BULK_NEW_ROWS", 1)
    monkeypatch.setattr(att, "BULK_LOCK_TIMEOUT", "50ms")
    before = (await db.execute(text(FOREIGN_KEYS))).all()
    async with engine.connect() as reader:
        await reader.execute(text("SELECT count(*) FROM school"))  # holds ACCESS SHARE until rollback
        result = await run(db, ATTENDANCE, ImportMode.ALL_OR_NOTHING)
        await reader.rollback()
    assert result.inserted == 4
    assert (await db.execute(text(FOREIGN_KEYS))).all() == before


MISSPELLED = ATTENDANCE.replace("reason_code,documentation_received_on", "reason,documentation_date", 1)


@pytest.mark.usefixtures("district")
@pytest.mark.parametrize("mode", [ImportMode.ALL_OR_NOTHING, ImportMode.GOOD_ROWS])
@pytest.mark.parametrize("reader", ["postgres", "python"])
async def test_unknown_columns_are_refused_by_either_reader_before_any_row_is_written(
    db: AsyncSession, monkeypatch: pytest.MonkeyPatch, reader: str, mode: ImportMode
) -> None:
    assert (await run(db, ATTENDANCE, ImportMode.ALL_OR_NOTHING)).inserted == 4
    if reader == "postgres":
        await require_postgres_parsing(db)
        monkeypatch.setattr(imp, "batches", no_python)
    with pytest.raises(UnknownColumns) as refused:
        await run(db, MISSPELLED if reader == "postgres" else generator(MISSPELLED), mode)
    assert refused.value.extra["unknown"] == ["reason", "documentation_date"]
    assert refused.value.extra["expected"][:3] == ["student_number", "school_code", "day"]
    reasons = await db.scalars(select(AttendanceRecord.reason_code).order_by(AttendanceRecord.day))
    assert sorted(r or "" for r in reasons) == ["", "", "illness", "unexcused"]
    corrections = await db.scalars(select(AuditEntry.id).where(AuditEntry.action == "attendance.corrected"))
    assert list(corrections) == []


@pytest.mark.usefixtures("district")
async def test_a_quoted_header_with_an_unknown_column_is_refused_too(db: AsyncSession) -> None:
    """A header PostgreSQL is not trusted with (quotes) goes through Python: same refusal."""
    body = '"student_number","school_code","day","present_half_day","Reason"\nT-1001,IMP1,2025-09-02,false,illness\n'
    with pytest.raises(UnknownColumns) as refused:
        await run(db, body, ImportMode.GOOD_ROWS)
    assert refused.value.extra["unknown"] == ["Reason"]
    assert await db.scalar(select(AttendanceRecord.day).limit(1)) is None


DISAGREE = (
    HEADER
    + """T-1001,IMP1,2025-09-02,300,360,false,,,
T-1001,IMP1,2025-09-03,100,360,true,,,
T-1001,IMP1,2025-09-04,180,360,true,,,
T-1001,IMP1,2025-09-05,179,360,false,,,
T-1001,IMP1,2025-09-08,0,360,,,illness,
T-1001,IMP1,2025-09-09,,,false,,,
"""
)
DISAGREE_BAD = [
    (2, "minutes_present and present_half_day disagree: 300 of 360 minutes is at least half the day"),
    (3, "minutes_present and present_half_day disagree: 100 of 360 minutes is less than half the day"),
]


@pytest.mark.usefixtures("district")
@pytest.mark.parametrize("reader", ["postgres", "python"])
async def test_minutes_and_present_half_day_that_disagree_are_a_bad_row(
    db: AsyncSession, monkeypatch: pytest.MonkeyPatch, reader: str
) -> None:
    if reader == "postgres":
        await require_postgres_parsing(db)
        monkeypatch.setattr(imp, "batches", no_python)
    result = await run(db, DISAGREE if reader == "postgres" else generator(DISAGREE), ImportMode.GOOD_ROWS)
    assert bad(result) == DISAGREE_BAD
    assert (result.applied, result.inserted) == (True, 4)


VOIDS = (
    HEADER.rstrip("\n")
    + ",void\n"
    + """T-1001,IMP1,2025-09-02,0,360,,,illness,,true
T-1002,IMP1,2025-09-02,,,,,,,t
T-1003,IMP1,2025-09-02,,,,,,,true
T-1001,IMP1,2025-09-09,,,,,,,true
T-1001,IMP1,2025-09-09,360,360,,,,,
T-1001,IMP1,2025-09-10,,,,,,,TRUE
T-9999,IMP1,2025-09-10,,,,,,,true
T-1001,IMP1,2025-09-11,,,,,,,nope
T-1001,IMP1,2025-09-03,360,360,,true,,,false
T-1001,IMP1,2025-09-12,,,,,,,
"""
)
VOIDS_BAD = [
    (4, "void: the record of this day is at school IMP2, not IMP1"),
    (6, "student_number and day repeats line 5"),
    (8, "unknown student_number T-9999"),
    (9, "void: expected true or false, got 'nope'"),
    (11, "give minutes_present and minutes_scheduled, or present_half_day"),
]


@pytest.mark.usefixtures("district")
@pytest.mark.parametrize("reader", ["postgres", "python"])
async def test_voids_are_read_alike_by_either_reader(
    db: AsyncSession, monkeypatch: pytest.MonkeyPatch, reader: str
) -> None:
    assert (await run(db, ATTENDANCE, ImportMode.ALL_OR_NOTHING)).inserted == 4
    if reader == "postgres":
        await require_postgres_parsing(db)
        monkeypatch.setattr(imp, "batches", no_python)
    result = await run(db, VOIDS if reader == "postgres" else generator(VOIDS), ImportMode.GOOD_ROWS)
    assert bad(result) == VOIDS_BAD
    # Lines 2 and 3 voided; 5 and 7 void nothing, 10 changes nothing: unchanged.
    assert (result.deleted, result.inserted, result.updated, result.unchanged) == (2, 0, 0, 3)
    rows = await db.execute(
        text(
            "SELECT s.student_number, a.day::text FROM attendance_record a JOIN student s ON s.id = a.student_id "
            "ORDER BY 1, 2"
        )
    )
    assert [tuple(r) for r in rows] == [("T-1001", "2025-09-03"), ("T-1003", "2025-09-02")]
    voided = await db.scalars(select(AuditEntry.detail).where(AuditEntry.action == "attendance.voided"))
    assert sorted(d["line"] for d in voided if d) == [2, 3]
