"""``python -m bench rules``: import and evaluate a synthetic district on an embedded PostgreSQL.

In a temporary folder, import the synthetic district's roster and calendar, then time (1) a raw
COPY of the attendance file into a table of the same columns and indexes, (2) the attendance
import (COPY of the CSV to a temp table, checks in SQL, insert, audit), (3) the evaluation of
every student with one student in ten on an open case, (3b) the next day's evaluation while a
case manager's phone pushes one contact attempt after another (in-process: the sync engine and
``PgStore``), each push's wall time against the same pushes with no evaluation running, (4) a
re-import and (5) the first import with the foreign keys checked row by row. Results go to the
``rules`` section of docs/benchmarks.md.
"""

# ruff: noqa: E501  (the report table reads best one row a line)
from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Collection
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer
from sqlalchemy import text

from bench import phones
from bench.harness import machine, ms, temporary_postgres, write_section
from schemas.auth import Role
from schemas.sync import PushRequest, Status
from server import migrate
from server.attendance import imports as attendance_imports
from server.attendance.imports import import_attendance
from server.audit import Actor
from server.db import SessionFactory, create_engine, create_session_factory, session_scope
from server.demo import district as dd
from server.rosters.imports import import_roster
from server.rules.evaluate import evaluate_all
from server.schools.calendar import import_calendar
from server.sync.pg_store import PgStore
from sync import engine as sync_engine
from sync.store import Current, Principal, Ref

BENCH_YEAR = dd.DemoYear.containing(date(2026, 7, 1))
"""The benchmark loads a whole school year (2025-2026, all 180 days), whatever the date."""

NOTE = """
Reading the figures: on a quiet machine the evaluation meets its target with room to spare, and
so does the import (the times in this paragraph are a quiet machine's; see the last paragraph for
a loaded one). PostgreSQL parses the CSV (`COPY` into a temporary table of text columns, about
2 s); one statement checks and converts every row, finds students and schools with hash joins and
compares each row with the record it would replace (about 6 s); a plain `INSERT` writes the new
records (about 9 s). What decided it is the two foreign keys. Checked row by row they cost about 12 s
each for 3.6 million rows (`EXPLAIN ANALYZE` of the insert of resolved rows: 34 s with both keys,
20 s with one, 9 s with none; a single composite key to a student-school table would still take
19 s), so the insert alone took longer than three raw `COPY`s. A load of 100,000 new records or
more therefore drops both keys and adds them back with the same definitions in its own
transaction, and PostgreSQL validates them with one join each (under 1 s). No other transaction
ever sees the table without them, but reads of `attendance_record`, `student` and `school` wait
for the load to commit. If those locks are not granted within 2 s the import checks row by row:
the last row of the table, which misses the target. The second baseline pays for the row-by-row
checks the import now avoids, so it is no longer the fairer one. The re-import writes nothing;
its time is the parse, the checks, the comparison (a hash join with all of `attendance_record`)
and the search for repeated keys among keys that exist. Not taken: parsing in parallel; an
UNLOGGED staging table (parallel scans, but left behind if the import dies).

A push during the evaluation: the evaluation computes what it will write first (the summaries
that change, the meeting deadlines made or no longer required), locking nothing, then locks only
those cases, in id order as a push locks its own, and writes them; a push on any other case does
not wait. Against the evaluation before that change, which locked every open case `FOR UPDATE`
until it committed, run at the same time on the same data (2026-12-06): the slowest of 379 pushes
during the next day's evaluation took 685.3 ms, 637.2 ms of it in its locks and read; after, the
slowest of 348 took 69.4 ms, 28.3 ms in its locks and read (31 cases locked, those whose summary
changed), against 91.6 and 124.7 ms for the slowest with no evaluation running. Those two runs
shared the machine's two cores with each other and with other work (a load average of 13 to 19),
which slowed every figure: the evaluations took 15.07 and 14.64 s (the first) and 12.29 and 10.68
s (the next day's); a run alone at a load near 9 took 6.78 and 5.12 s. The figure of 2026-11-29
(1.04 s, a quiet machine) wrote no case summary: the benchmark then opened no case.
"""


CASE_SHARE = 10
"""One student in ten has an open case (a district's caseloads), all the bench manager's."""
IDLE_PUSHES = 30


async def _open_cases(factory: SessionFactory) -> tuple[Principal, list[uuid.UUID]]:
    """A supervisor, a case manager, and an open case for one student in ``CASE_SHARE``."""
    sup, cm = uuid.uuid4(), uuid.uuid4()
    async with session_scope(factory) as s:
        for id_, name, role, boss in ((sup, "bench-sup", "supervisor", None), (cm, "bench-cm", "case_manager", sup)):
            await s.execute(
                text(
                    "INSERT INTO user_account (id, username, display_name, role, password_hash, supervisor_id) "
                    "VALUES (:id, :name, :name, :role, '!', :boss)"
                ),
                {"id": id_, "name": name, "role": role, "boss": boss},
            )
        cases = await s.scalars(
            text(
                "INSERT INTO case_file (id, student_id, school_id, status, case_manager_id, opened_at) "
                "SELECT gen_random_uuid(), s.id, s.school_id, 'active', :cm, now() FROM ("
                "  SELECT id, school_id, row_number() OVER (ORDER BY student_number) AS n FROM student) s "
                "WHERE s.n % :share = 0 RETURNING id"
            ),
            {"cm": cm, "share": CASE_SHARE},
        )
        return Principal(uuid.uuid4(), cm, Role.CASE_MANAGER), sorted(cases)


class _TimedStore(PgStore):
    """``PgStore`` timing its ``load``: the batch's cases share-locked in id order, then read.
    A push that waits for the evaluation waits there."""

    loaded: float = 0.0

    async def load(self, user_id: uuid.UUID, refs: Collection[Ref]) -> dict[Ref, Current]:
        started = time.perf_counter()
        try:
            return await super().load(user_id, refs)
        finally:
            self.loaded = time.perf_counter() - started


class _Phone:
    """The case manager's phone: one contact attempt a push, on her cases in turn."""

    def __init__(self, factory: SessionFactory, who: Principal, cases: list[uuid.UUID]) -> None:
        self.factory, self.who, self.cases, self.sent = factory, who, cases, 0

    async def push(self) -> tuple[float, float]:
        """One push, committed: its wall time, and the time its locks and read took, in seconds."""
        self.sent += 1
        mutation = phones.attempt_mutation(phones.attempt(self.cases, self.sent * 7919))
        body = phones.push_body(self.who.client_id, self.sent, [mutation])
        request = msgspec.json.decode(body, type=PushRequest)
        started = time.perf_counter()
        async with self.factory() as s:
            store = _TimedStore(s)
            response = await sync_engine.push(store, self.who, request)
            await s.commit()
        took = time.perf_counter() - started
        assert [r.status for r in response.results] == [Status.APPLIED], response
        return took, store.loaded


async def _push_during(phone: _Phone, work: Any) -> tuple[Any, list[tuple[float, float]]]:
    """Run ``work`` (a coroutine) while the phone pushes one batch after another; its result and
    the times (``_Phone.push``) of every push started before it finished."""
    task = asyncio.ensure_future(work)
    took: list[tuple[float, float]] = []
    while not task.done():
        took.append(await phone.push())
    return await task, took


def _times(pushes: list[tuple[float, float]]) -> dict[str, str]:
    """Median and slowest of the pushes' wall times and of their locks and read."""
    walls, loads = [w for w, _ in pushes], [load for _, load in pushes]
    return {
        "p50": ms(statistics.median(walls)),
        "max": ms(max(walls)),
        "load_p50": ms(statistics.median(loads)),
        "load_max": ms(max(loads)),
    }


async def _rules(url: str, students: int, folder: Path) -> dict[str, Any]:
    await migrate.run(url)
    engine = create_engine(url)
    factory = create_session_factory(engine)
    actor = Actor.system("bench")
    csv_path = folder / "attendance.csv"
    with csv_path.open("w") as f:
        f.writelines(dd.attendance_lines(BENCH_YEAR, students))
    rows = students * dd.SCHOOL_DAYS
    try:
        async with session_scope(factory) as s:
            await import_roster(s, actor, dd.roster_lines(BENCH_YEAR, students))
            await import_calendar(s, actor, dd.calendar_lines(BENCH_YEAR))
            version = (await s.execute(text("SHOW server_version"))).scalar_one()
        # 1. Raw COPY of the same rows (server-side CSV parse) into a table with the same shape of keys.
        async with session_scope(factory) as s:
            await s.execute(
                text(
                    "CREATE TABLE bench_raw (student_number text, school_code text, day date, minutes_present int, "
                    "minutes_scheduled int, present_half_day bool, tardy bool, reason_code text, "
                    "documentation_received_on date, PRIMARY KEY (student_number, day))"
                )
            )
            await s.execute(text("CREATE INDEX ON bench_raw (school_code)"))
        async with session_scope(factory) as s:
            conn = await s.connection()
            raw = await conn.get_raw_connection()
            started = time.perf_counter()
            await raw.driver_connection.copy_to_table(  # type: ignore[union-attr]
                "bench_raw", source=str(csv_path), format="csv", header=True
            )
        copy_s = time.perf_counter() - started
        # 2. The import.
        started = time.perf_counter()
        async with session_scope(factory) as s:
            with csv_path.open(newline="") as lines:
                result = await import_attendance(s, actor, lines)
        import_s = time.perf_counter() - started
        assert result.inserted == rows, result
        # 1b. Raw binary COPY of the same rows, resolved, into a copy of attendance_record with its
        # keys, index and foreign keys (the import pays for the foreign-key checks too).
        binary = folder / "attendance.bin"
        async with session_scope(factory) as s:
            await s.execute(text("CREATE TABLE bench_raw2 (LIKE attendance_record INCLUDING ALL)"))
            await s.execute(text("ALTER TABLE bench_raw2 ADD FOREIGN KEY (student_id) REFERENCES student (id)"))
            await s.execute(text("ALTER TABLE bench_raw2 ADD FOREIGN KEY (school_id) REFERENCES school (id)"))
            conn = await s.connection()
            raw = await conn.get_raw_connection()
            await raw.driver_connection.copy_from_query(  # type: ignore[union-attr]
                "SELECT * FROM attendance_record", output=str(binary), format="binary"
            )
        async with session_scope(factory) as s:
            conn = await s.connection()
            raw = await conn.get_raw_connection()
            started = time.perf_counter()
            await raw.driver_connection.copy_to_table(  # type: ignore[union-attr]
                "bench_raw2", source=str(binary), format="binary"
            )
        copy_fk_s = time.perf_counter() - started
        async with engine.connect() as c:
            await (await c.execution_options(isolation_level="AUTOCOMMIT")).execute(text("VACUUM ANALYZE"))
        # 3. Evaluation of every student on the year's last day but one, cases open for some.
        who, cases = await _open_cases(factory)
        days = BENCH_YEAR.calendar_days()
        started = time.perf_counter()
        async with session_scope(factory) as s:
            await evaluate_all(s, days[-2], actor)
        eval_s = time.perf_counter() - started
        # 3b. The next day's evaluation, a phone pushing all along; the same pushes alone first.
        phone = _Phone(factory, who, cases)
        idle = [await phone.push() for _ in range(IDLE_PUSHES)]

        async def next_day() -> Any:
            started = time.perf_counter()
            async with session_scope(factory) as s:
                found = await evaluate_all(s, days[-1], actor)
            return found, time.perf_counter() - started

        (evaluation, next_s), during = await _push_during(phone, next_day())
        # 4. Re-import of the same file (nothing changes).
        started = time.perf_counter()
        async with session_scope(factory) as s:
            with csv_path.open(newline="") as lines:
                again = await import_attendance(s, actor, lines)
        reimport_s = time.perf_counter() - started
        assert again.inserted == again.updated == 0
        # 5. The first import again, with the foreign keys checked row by row (the import's way
        # when the locks of its set-based check are not granted).
        async with session_scope(factory) as s:
            await s.execute(text("TRUNCATE attendance_record"))
        async with engine.connect() as c:
            await (await c.execution_options(isolation_level="AUTOCOMMIT")).execute(text("VACUUM ANALYZE"))
        bulk, attendance_imports.BULK_NEW_ROWS = attendance_imports.BULK_NEW_ROWS, rows + 1
        try:
            started = time.perf_counter()
            async with session_scope(factory) as s:
                with csv_path.open(newline="") as lines:
                    per_row = await import_attendance(s, actor, lines)
            per_row_s = time.perf_counter() - started
        finally:
            attendance_imports.BULK_NEW_ROWS = bulk
        assert per_row.inserted == rows, per_row
    finally:
        await engine.dispose()
    return {
        "students": students,
        "rows": rows,
        "postgres": version,
        "copy_s": round(copy_s, 2),
        "copy_fk_s": round(copy_fk_s, 2),
        "import_s": round(import_s, 2),
        "reimport_s": round(reimport_s, 2),
        "per_row_s": round(per_row_s, 2),
        "eval_s": round(eval_s, 2),
        "next_s": round(next_s, 2),
        "cases": len(cases),
        "cases_changed": evaluation.cases_changed,
        "cases_locked": str(getattr(evaluation, "cases_locked", "every open case")),
        "idle": _times(idle),
        "pushes_during": len(during),
        "during": _times(during),
        "truant": evaluation.truant,
        "habitual": evaluation.habitual,
        "chronic": evaluation.chronic,
    }


def rules(
    students: Annotated[int, typer.Option(help="students (x 180 school days)")] = 20_000,
    write: Annotated[bool, typer.Option(help="write docs/benchmarks.md")] = True,
) -> None:
    """Import and evaluate N students x 180 school days on an embedded PostgreSQL."""
    with temporary_postgres() as (server, folder):
        r = asyncio.run(_rules(server.url(), students, folder))
    rows = int(r["rows"])
    copy_rate = rows / float(r["copy_s"])
    import_rate = rows / float(r["import_s"])
    copy_fk_rate = rows / float(r["copy_fk_s"])
    ratio = f"≥ 1/3 of COPY: **{import_rate / copy_rate:.2f}** of the first, **{import_rate / copy_fk_rate:.2f}** of the second"
    report = f"""## rules: import and evaluate {r["students"]:,} students x 180 school days ({rows:,} attendance rows)

Run {date.today().isoformat()} with `scripts/bench rules` on {machine()}; embedded PostgreSQL {r["postgres"]}.

| step | seconds | rows/s | target |
|---|---:|---:|---|
| raw `COPY` of the CSV into a table with the same key and index | {r["copy_s"]} | {copy_rate:,.0f} | baseline |
| raw binary `COPY` of the resolved rows into a copy of `attendance_record` with its foreign keys | {r["copy_fk_s"]} | {copy_fk_rate:,.0f} | baseline |
| attendance import (CSV `COPY` to a temp table, checks in SQL, insert, foreign keys checked set-based, audit) | {r["import_s"]} | {import_rate:,.0f} | {ratio} |
| re-import of the same file (nothing changes) | {r["reimport_s"]} | {rows / float(r["reimport_s"]):,.0f} | |
| the first import again, foreign keys checked row by row (when the set-based check's locks are not granted) | {r["per_row_s"]} | {rows / float(r["per_row_s"]):,.0f} | **{rows / float(r["per_row_s"]) / copy_rate:.2f}** of the first |
| evaluation of every student (classification, rules, episodes, meetings, {r["cases"]:,} open cases' summaries), the year's last day but one | {r["eval_s"]} | | ≤ 10 s |
| the next day's evaluation ({r["cases_changed"]:,} of the {r["cases"]:,} summaries changed; cases locked: {r["cases_locked"]}) | {r["next_s"]} | | |

The evaluation of the last day found {r["truant"]:,} truant, {r["habitual"]:,} habitual, {r["chronic"]:,} chronic students.

A case manager's phone pushing one contact attempt (in-process: the sync engine and `PgStore`, committed),
one push after another; "locks and read" is the push's `load`, where it share-locks its case and
would wait for the evaluation:

| pushes | median ms | slowest ms | locks and read: median ms | slowest ms |
|---|---:|---:|---:|---:|
| {IDLE_PUSHES} with no evaluation running | {r["idle"]["p50"]} | {r["idle"]["max"]} | {r["idle"]["load_p50"]} | {r["idle"]["load_max"]} |
| {r["pushes_during"]} during the next day's evaluation | {r["during"]["p50"]} | {r["during"]["max"]} | {r["during"]["load_p50"]} | {r["during"]["load_max"]} |
{NOTE}"""
    print(report)
    if write:
        write_section("rules", report)
