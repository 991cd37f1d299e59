"""``python -m bench sync``: phone sync's push, pull and initial sync, against raw asyncpg.

Push throughput of 20 devices x 50-mutation batches through the app, the engine alone and a raw
asyncpg insert of the same rows; one 50-change pull with ~10k versus ~1M records; the initial
sync of a 2,000-record caseload. Results go to the ``sync`` section of docs/benchmarks.md.
"""

# ruff: noqa: E501  (the report table reads best one row a line)
from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any, cast

import asyncpg
import httpx
import msgspec
import typer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench import phones, profiles
from bench.harness import Run, load_average, machine, ms, pct, ratio, temporary_postgres, write_section
from bench.served import Served
from schemas.auth import Role
from schemas.sync import PushRequest, Status
from server import migrate
from server.app import create_app, settle_heap
from server.audit import Actor
from server.auth import service as auth_service
from server.db import EmbeddedPostgres, SessionFactory, create_engine, create_session_factory, session_scope
from server.settings import Settings
from server.sync.pg_store import PgStore
from sync import engine as sync_engine
from sync.store import Principal

# One embedded PostgreSQL, two databases: ``bench_push`` (20 case managers, each with her own
# cases) and ``bench_pull`` (a district bulk-loaded with INSERT … SELECT generate_series, first
# to ~10k records, measured, then grown to ~1M and measured again). The app is the real one
# (create_app with a session factory on the benchmark database), called in-process through
# httpx.ASGITransport; tokens come from real logins. Times are wall-clock on the client side of
# the in-process call, so "server time" includes the ASGI and httpx plumbing but no network.

SYNC_DEVICES = 20
SYNC_BATCH = phones.SYNC_BATCH
CASES_PER_MANAGER = 40
UNIT_ATTEMPTS = 6  # a bulk "unit": household, student, case, 6 contact attempts, 1 visit note
UNIT_RECORDS = 3 + UNIT_ATTEMPTS + 1
BIG_CASES = 200  # the 2,000-record caseload: 200 units
PULLER_CASES = 40  # the pulling device's caseload: 40 units
ACTIVITY_TXNS = 12  # recent activity after the puller's cursor: 12 transactions, each …
ACTIVITY_MINE = 5  # … 5 contact attempts and 1 household update in her scope (72 in all) …
ACTIVITY_OTHERS = 25  # … and 25 contact attempts of 5 other case managers (300 in all)
BENCH_PASSWORD = phones.BENCH_PASSWORD
INITIAL_LIMITS = (500, 1000, 200)
DRIVE_SECONDS = 3600
SYNC_NOTE = """
Reading the figures: the ratios matter, not the absolute numbers (the machine is shared; the load
average above says how busy it was). **Push.** Until this benchmark the section measured the app
called in-process (0.34 of raw, p95 172 ms), which skips the HTTP server, the socket and the
client's own work; an independent harness through `scripts/serve` (one process then) measured
0.19 to 0.20 with a p95 of 340 to 379 ms. `serve` now runs one API worker process per CPU
(`DOORSTEP_WORKERS`), and this benchmark measures through it, as phones reach it. The number of
workers matters little past the CPUs: the push rounds alone with `--workers 1` reached 0.28 and
0.29 of raw, with 2 (the default here) 0.34 and 0.37, with 4 0.31 and 0.32 (2026-12-01, load
average up to 3, mostly the benchmark's own).

Where the time went. (1) The machine's CPU bounds the ratio. The table of CPU per batch shows
it: a raw `executemany` of 50 rows costs about 2.5 ms of CPU in all, nearly all of it
PostgreSQL's; a push costs nearly three times that: PostgreSQL's share (its statements are more
than one insert: authentication's read, the client's lock, the load of the batch's cases, the
change log, the outcomes, the commit, and the pool's pre-ping) and the API worker's, near 3 ms
each, and the phones' own HTTP client's, about 1 ms. With two cores for everything the ratio
ends up near the ratio of those sums (the line under the table, which also gives it without the
phones' share, spent by real phones on their own CPUs), and other engineers' test suites, when
they run, take their share from the longer path more (its requests queue). (2) In the API workers'
event loops, socket system calls are the largest share of busy samples (a third or more): sends
to PostgreSQL (nine statements a push) and to the client. Each send wakes a PostgreSQL backend, which on two cores often takes the
CPU from the worker right there, so those samples are mostly the worker waiting for a core, not
its own work. (3) The Python that is left is spread thin: the engine and handlers (the largest,
about an eighth of the busy samples: decoding, checking and applying 50 mutations), asyncpg's
protocol, Litestar, authentication, garbage collection, msgspec, the request log line, uvicorn.
Two things were found and fixed: every request went twice through a thread pool (Litestar runs a plain-function guard and a plain-function rate-limit check in
threads; both are coroutines now: 0.40 to 0.21 ms of CPU for `GET /health`, 2.73 to 2.35 ms for a
push, in-process, one request at a time; through the server with 20 phones the gain was inside the
noise), and with several workers on one stdout two workers' JSON log lines could run together
(Python unbuffered wrote a line and its newline apart; each line is one write now). Not taken:
the pool's pre-ping is three round trips a request (`BEGIN`, `;`, `ROLLBACK`: about 0.23 ms of the
app's CPU a push in-process, plus PostgreSQL's share); a one-statement ping on checkout would keep
its resilience for a third of that, a change to connection handling left for a decision. Earlier,
measured in-process: `gc.freeze()` after startup (full collections walked ~170,000 long-lived
objects, ~120 ms with the loop stopped), `PgStore`'s push statements as prepared statements on the
session's asyncpg connection, the last write, the outcomes and the client's advance as one
statement, and authentication's read as one lean statement. **Pull.** A page reads the change log
from the cursor through `ix_sync_change_position` and checks each change's scope with index
probes (`EXPLAIN ANALYZE` at 1M records, when it was last looked at: 3 ms in PostgreSQL, about 300
log rows examined), so its
cost follows the changes after the cursor, not the size of the database. Most of the server time
is Python, and the profile says which: building the page's SQLAlchemy statement on every request
(the scope filter of each record type, the pick of each record's current row) is the largest
share, then garbage collection. A statement built once with bind parameters would
remove most of the first; not taken here. The independent harness saw the 1M pull at 1.17 and
1.82 times the 10k one; here both districts are checkpointed after loading, and each round starts
both servers afresh and pulls the two in alternation, so noise and cold caches fall on both alike. **Initial sync**
at the default page limit (500) is driven from her 200 cases through the indexes (the snapshot
asks the two branches of `reach` apart), so it meets its target at 1M records too.
"""


@dataclass
class Phone:
    """A benchmark device: its case manager, her cases and households, and its mutation counter."""

    user_id: uuid.UUID
    username: str
    device_id: uuid.UUID
    cases: list[uuid.UUID]
    households: list[uuid.UUID]
    headers: dict[str, str] = field(default_factory=dict)
    next_id: int = 1
    household_versions: dict[uuid.UUID, int] = field(default_factory=dict)


def _bench_settings(folder: Path) -> Settings:
    return Settings(
        jwt_secret="bench-secret-" + "x" * 40,
        data_dir=folder / "data",
        log_level="WARNING",
        login_rate_per_minute=100_000,
        access_token_seconds=3 * 3600,
    )


async def _create_database(server: EmbeddedPostgres, name: str) -> str:
    admin = create_engine(server.url(), isolation_level="AUTOCOMMIT", poolclass=None)
    try:
        async with admin.connect() as c:
            await c.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    url = server.url(name)
    await migrate.run(url)
    return url


async def _autocommit(engine: AsyncEngine, sql: str) -> None:
    async with engine.connect() as c:
        await (await c.execution_options(isolation_level="AUTOCOMMIT")).execute(text(sql))


def _unit_sql(prefix: str, start: int, end: int, manager: Callable[[str], str], attempts: int) -> list[str]:
    """INSERT … SELECT generate_series of units [start, end): household, student, case, contact
    attempts, one visit note. Ids are md5(prefix, kind, n) so a later step can find them."""

    def ids(kind: str, n: str) -> str:
        return f"md5('{prefix}{kind}' || ({n}))::uuid"

    units = f"generate_series({start}, {end - 1}) AS i"
    return [
        "INSERT INTO household (id, external_id, phone, language, address, latitude, longitude) "
        f"SELECT {ids('h', 'i')}, '{prefix}-' || i, '555-' || lpad((i % 10000)::text, 4, '0'), 'en', "
        f"i || ' Elm Street, Springfield', 41.8 + (i % 1000) / 10000.0, -87.6 - (i % 997) / 10000.0 FROM {units}",
        "INSERT INTO student (id, student_number, first_name, last_name, grade, household_id) "
        f"SELECT {ids('s', 'i')}, '{prefix}-' || i, 'First' || i, 'Last' || i, (1 + i % 12)::text, {ids('h', 'i')} "
        f"FROM {units}",
        "INSERT INTO case_file (id, student_id, status, case_manager_id, opened_at) "
        f"SELECT {ids('c', 'i')}, {ids('s', 'i')}, 'active', {manager('i')}, now() - interval '60 days' FROM {units}",
        "INSERT INTO contact_attempt (id, case_id, method, outcome, at, note, created_by) "
        f"SELECT {ids('a', 'j')}, {ids('c', f'j / {attempts}')}, (ARRAY['phone', 'letter', 'home_visit'])[1 + j % 3], "
        "(ARRAY['no_answer', 'letter_sent', 'family_met'])[1 + j % 3], now() - make_interval(mins => j % 50000), "
        f"'Left a message with the grandmother; will call back Thursday.', {manager(f'j / {attempts}')} "
        f"FROM generate_series({start * attempts}, {end * attempts - 1}) AS j",
        "INSERT INTO visit_note (id, case_id, author_id, body, status) "
        f"SELECT {ids('n', 'i')}, {ids('c', 'i')}, {manager('i')}, "
        "'Met the mother at home. The child misses the bus when the older sibling works early; '"
        " || 'we talked about the school''s late bus and a morning alarm. Follow up in two weeks.', 'draft' "
        f"FROM {units}",
    ]


def _one_manager(user_id: uuid.UUID) -> Callable[[str], str]:
    return lambda _: f"'{user_id}'::uuid"


def _bulk_manager(n: str) -> str:
    return f"md5('u' || (({n}) / {CASES_PER_MANAGER}))::uuid"


async def _make_user(factory: SessionFactory, username: str, role: Role, supervisor: str | None = None) -> uuid.UUID:
    async with session_scope(factory) as s:
        user = await auth_service.create_user(
            s,
            Actor.system("bench"),
            username=username,
            password=BENCH_PASSWORD,
            role=role,
            supervisor_username=supervisor,
        )
    return user.id


async def _login(client: httpx.AsyncClient, username: str, device_id: uuid.UUID) -> dict[str, str]:
    device = {"id": str(device_id), "name": "bench phone", "platform": "android", "app_version": "1.0.0"}
    r = await client.post("/auth/login", json={"username": username, "password": BENCH_PASSWORD, "device": device})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}", "Content-Type": "application/json"}


def _attempt(phone: Phone, n: int) -> phones.AttemptRow:
    return phones.attempt(phone.cases, n)


def _push_body(phone: Phone, mutations: list[dict[str, Any]]) -> bytes:
    body = phones.push_body(phone.device_id, phone.next_id, mutations)
    phone.next_id += len(mutations)
    return body


_attempt_mutation = phones.attempt_mutation


async def _timed(phones: list[Phone], batches: int, send: Callable[[Phone, int], Awaitable[None]]) -> Run:
    """Every phone sends ``batches`` batches one after the other; the phones run concurrently."""
    latencies: list[float] = []

    async def device(phone: Phone) -> None:
        for b in range(batches):
            started = time.perf_counter()
            await send(phone, b)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(device(p) for p in phones))
    return Run(time.perf_counter() - started, latencies, len(phones) * batches * SYNC_BATCH)


async def _push_setup(server: EmbeddedPostgres) -> tuple[str, str, list[Phone]]:
    """The push database: 20 case managers with 10 cases each. Returns its URL, PostgreSQL's
    version and the phones (the in-process run's; the real server's get devices of their own)."""
    url = await _create_database(server, "bench_push")
    engine = create_engine(url)
    factory = create_session_factory(engine)
    try:
        version = str(await _scalar(factory, "SHOW server_version"))
        await _make_user(factory, "sup", Role.SUPERVISOR)
        devices: list[Phone] = []
        for n in range(SYNC_DEVICES):
            user_id = await _make_user(factory, f"cm{n}", Role.CASE_MANAGER, "sup")
            async with session_scope(factory) as s:
                for statement in _unit_sql(f"d{n}", 0, 10, _one_manager(user_id), 1):
                    await s.execute(text(statement))
            cases = [uuid.UUID(hashlib.md5(f"d{n}c{i}".encode()).hexdigest()) for i in range(10)]
            homes = [uuid.UUID(hashlib.md5(f"d{n}h{i}".encode()).hexdigest()) for i in range(10)]
            devices.append(
                Phone(user_id, f"cm{n}", uuid.uuid4(), cases, homes, household_versions=dict.fromkeys(homes, 1))
            )
        await _autocommit(engine, "VACUUM ANALYZE")
    finally:
        await engine.dispose()
    return url, version, devices


async def _scalar(factory: SessionFactory, sql: str) -> Any:
    async with factory() as s:
        return (await s.execute(text(sql))).scalar_one()


async def _attempts(url: str) -> int:
    """The number of contact attempts in the database at ``url``."""
    engine = create_engine(url)
    try:
        return int(await _scalar(create_session_factory(engine), "SELECT count(*) FROM contact_attempt"))
    finally:
        await engine.dispose()


async def _push_bench(url: str, folder: Path, batches: int, phones: list[Phone]) -> dict[str, Any]:
    """In-process: raw executemany and COPY, the engine alone, the app through ASGITransport."""
    before = await _attempts(url)
    engine = create_engine(url)
    factory = create_session_factory(engine)
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    raw = [await asyncpg.connect(dsn) for _ in range(SYNC_DEVICES)]
    raw_of = {p.device_id: c for p, c in zip(phones, raw, strict=True)}
    insert = (
        "INSERT INTO contact_attempt (id, case_id, method, outcome, at, note, created_by, device_id) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )
    columns = ["id", "case_id", "method", "outcome", "at", "note", "created_by", "device_id"]
    counter = itertools.count()

    def raw_rows(phone: Phone) -> list[tuple[Any, ...]]:
        return [(*_attempt(phone, next(counter)), phone.user_id, phone.device_id) for _ in range(SYNC_BATCH)]

    plans: dict[uuid.UUID, list[Any]] = {}

    def plan(make: Callable[[Phone], Any], n: int) -> None:
        """Make every device's payloads before the clock starts."""
        for phone in phones:
            plans[phone.device_id] = [make(phone) for _ in range(n)]

    def payload(phone: Phone, b: int) -> Any:
        return plans[phone.device_id][b]

    async def executemany(phone: Phone, b: int) -> None:
        rows = payload(phone, b)
        conn = raw_of[phone.device_id]
        async with conn.transaction():
            await conn.executemany(insert, rows)

    async def copy(phone: Phone, b: int) -> None:
        rows = payload(phone, b)
        conn = raw_of[phone.device_id]
        async with conn.transaction():
            await conn.copy_records_to_table("contact_attempt", records=rows, columns=columns)

    def attempts_body(phone: Phone) -> bytes:
        return _push_body(phone, [_attempt_mutation(_attempt(phone, next(counter))) for _ in range(SYNC_BATCH)])

    async def core(phone: Phone, b: int) -> None:
        request = msgspec.json.decode(payload(phone, b), type=PushRequest)
        async with factory() as s:
            response = await sync_engine.push(
                PgStore(s), Principal(phone.device_id, phone.user_id, Role.CASE_MANAGER), request
            )
            await s.commit()
        assert all(r.status is Status.APPLIED for r in response.results), response

    app = create_app(_bench_settings(folder), session_factory=factory)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=cast(Any, app)), base_url="http://bench") as client:
        for phone in phones:
            phone.headers = await _login(client, phone.username, phone.device_id)
        settle_heap()  # as the server's startup does (the lifespan is not run in-process)

        async def http(phone: Phone, b: int) -> None:
            r = await client.post("/sync/push", content=payload(phone, b), headers=phone.headers)
            assert r.status_code == 200 and b'"applied"' in r.content and b'"rejected"' not in r.content, r.text

        async def http_mixed(phone: Phone, b: int) -> None:
            # 40 contact attempts, 5 new visit notes, 5 household updates (from the version last seen).
            mutations = [_attempt_mutation(_attempt(phone, next(counter))) for _ in range(40)]
            for k in range(5):
                case_id = phone.cases[(b * 5 + k) % len(phone.cases)]
                body = f"Visit {b}.{k}: talked with the family about mornings; the bus pass is sorted."
                mutations.append(
                    {"name": "visit_note.save", "args": {"id": uuid.uuid4(), "case_id": case_id, "body": body}}
                )
            homes = [phone.households[(b * 5 + k) % len(phone.households)] for k in range(5)]
            for k, home in enumerate(homes):
                changes = {"phone": f"555-{b:02d}{k:02d}", "language": ["en", "es"][b % 2]}
                mutations.append(
                    {
                        "name": "household.update",
                        "args": {"id": home, "changes": changes},
                        "base_version": phone.household_versions[home],
                    }
                )
            r = await client.post("/sync/push", content=_push_body(phone, mutations), headers=phone.headers)
            assert r.status_code == 200, r.text
            results = r.json()["results"]
            assert all(x["status"] == "applied" for x in results), results
            for home, result in zip(homes, results[45:], strict=True):
                phone.household_versions[home] = result["version"]

        # Warm up each path once per device (prepared statements, pools, caches), then time.
        for send, make in ((executemany, raw_rows), (core, attempts_body), (http, attempts_body)):
            plan(make, 1)
            await _timed(phones, 1, send)
        runs: dict[str, Run] = {}
        for name, send, make in (
            ("executemany", executemany, raw_rows),
            ("copy", copy, raw_rows),
            ("core", core, attempts_body),
            ("http", http, attempts_body),
        ):
            plan(make, batches)
            runs[name] = await _timed(phones, batches, send)
        runs["mixed"] = await _timed(phones, batches, http_mixed)
    for c in raw:
        await c.close()
    await engine.dispose()
    written = await _attempts(url) - before
    expected = SYNC_DEVICES * SYNC_BATCH * (3 + 4 * batches) + SYNC_DEVICES * 40 * batches
    assert written == expected, (written, expected)
    return {name: run for name, run in runs.items()}


def _served_push(url: str, folder: Path, devices: list[Phone], o: Options) -> dict[str, Any]:
    """Through a real ``doorstep serve`` over TCP, the phones in a process of their own: each round,
    raw ``executemany`` from that process, then ``POST /sync/push`` of the same rows' shape. With
    ``o.profile``, one more round afterwards (not in the figures) under py-spy."""
    before = asyncio.run(_attempts(url))

    expected = 0
    cpu: dict[str, dict[str, float]] | None = None

    def plan(rounds: int, batches: int = o.batches, paths: tuple[str, ...] = PATHS) -> phones.PushPlan:
        """New devices each time: each numbers its mutations from 1."""
        nonlocal expected
        expected += SYNC_DEVICES * SYNC_BATCH * len(paths) * (1 + rounds * batches)
        return phones.PushPlan(
            base_url=served.base_url,
            dsn=url.replace("postgresql+asyncpg://", "postgresql://"),
            phones=[phones.PhoneSpec(p.username, p.user_id, uuid.uuid4(), p.cases) for p in devices],
            batches=batches,
            rounds=rounds,
            paths=list(paths),
        )

    with Served(url, folder, "push", o.workers) as served:
        result = _drive(plan(o.rounds), folder / "push")
        assert isinstance(result, phones.PushResult)
        server = served.server_seconds([rid for run in result.runs["http"] for rid in run.request_ids])
        processes = len(served.workers())
        if o.profile is not None:
            cpu = _cpu_accounting(served, folder / "pgdata", plan, o.batches)
            with _py_spy(served, o.profile / "push-serve.txt"):
                _drive(plan(1), folder / "push-profiled")
    written = asyncio.run(_attempts(url)) - before
    assert written == expected, (written, expected)
    return {
        "workers": processes,
        "rounds": o.rounds,
        "executemany": result.runs["executemany"],
        "http": result.runs["http"],
        "http_server": [server[rid] for run in result.runs["http"] for rid in run.request_ids],
        "cpu": cpu,
    }


PATHS = ("executemany", "http")


def _cpu_seconds(root: int, reaped: bool) -> float:
    """CPU time (user + system) of ``root`` and every process below it; with ``reaped``, also of
    the children ``root`` has reaped (PostgreSQL's backends end with their connections)."""
    stats: dict[int, list[str]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stats[int(proc.name)] = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, fields in stats.items():
            if int(fields[1]) == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    ticks = sum(int(stats[pid][11]) + int(stats[pid][12]) for pid in tree if pid in stats)
    if reaped and root in stats:
        ticks += int(stats[root][13]) + int(stats[root][14])
    return ticks / os.sysconf("SC_CLK_TCK")


def _postmaster(pgdata: Path) -> int:
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if proc.name.isdigit() and args[0].endswith(b"/postgres") and str(pgdata.resolve()).encode() in args:
            return int(proc.name)
    raise RuntimeError(f"no PostgreSQL on {pgdata}")


def _cpu_accounting(
    served: Served, pgdata: Path, plan: Callable[[int, int, tuple[str, ...]], phones.PushPlan], batches: int
) -> dict[str, dict[str, float]]:
    """CPU per 50-mutation batch on each push path, by process: the phones' process, PostgreSQL
    (every process of the server) and ``doorstep serve`` (its API workers). Each is the difference
    between a drive of ``batches`` batches a device and one of a single batch, so start-up,
    logins and warm-up cancel out."""
    assert served.proc is not None
    postmaster, serve = _postmaster(pgdata), served.proc.pid

    def snapshot() -> dict[str, float]:
        mine = os.times()
        return {
            "phones": mine.children_user + mine.children_system,
            "postgres": _cpu_seconds(postmaster, reaped=True),
            "serve": _cpu_seconds(serve, reaped=False),
        }

    found = {}
    for path in PATHS:
        used = []
        for n in (1, batches):
            before = snapshot()
            _drive(plan(1, n, (path,)), served.folder / f"cpu-{path}-{n}")
            after = snapshot()
            used.append({k: after[k] - before[k] for k in after})
        found[path] = {k: (used[1][k] - used[0][k]) / (SYNC_DEVICES * (batches - 1)) for k in used[0]}
    return found


@contextmanager
def _py_spy(served: Served, out: Path) -> Iterator[None]:
    """Sample the serve process and its children (the API workers) with py-spy while the block runs:
    collapsed stacks with native frames, idle time left out (``py-spy`` must be installed)."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    assert served.proc is not None
    out.parent.mkdir(parents=True, exist_ok=True)
    args = ["record", "--pid", str(served.proc.pid), "--subprocesses", "--native", "--format", "raw"]
    spy = subprocess.Popen([exe, *args, "--rate", "200", "--output", str(out)])
    time.sleep(2)  # attached to every process before the load starts
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        try:
            spy.wait(60)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()


def _drive(plan: phones.Plan, stem: Path) -> phones.Result:
    """Run the phones in their own process (``python -m bench.phones``) and read what they timed."""
    plan_path, result_path = stem.with_suffix(".plan.json"), stem.with_suffix(".result.json")
    plan_path.write_bytes(msgspec.json.encode(plan))
    subprocess.run(
        [sys.executable, "-m", "bench.phones", str(plan_path), str(result_path)], check=True, timeout=DRIVE_SECONDS
    )
    result: phones.Result = msgspec.json.decode(result_path.read_bytes(), type=phones.Result)
    return result


def _pooled(runs: list[phones.Timed]) -> Run:
    """Rounds of one path as one run: their walls added, their latencies and rows pooled."""
    return Run(sum(r.wall for r in runs), [x for r in runs for x in r.latencies], sum(r.rows for r in runs))


# --- pull and initial sync -------------------------------------------------------------------------


@dataclass
class PullFigures:
    records: int
    changes_rows: int
    pull_http: list[float]
    pull_store: list[float]
    initial: dict[int, list[float]]  # page limit → total request time of each full initial sync
    initial_pages: dict[int, int]
    initial_records: int
    initial_store: list[float]


async def _load_district(factory: SessionFactory, sup: uuid.UUID, start: int, end: int) -> None:
    """Bulk units [start, end) of the district, for managers of CASES_PER_MANAGER cases each."""
    step = 10_000
    for lo in range(start, end, step):
        hi = min(end, lo + step)
        async with session_scope(factory) as s:
            await s.execute(
                text(
                    "INSERT INTO user_account (id, username, display_name, role, password_hash, supervisor_id) "
                    "SELECT md5('u' || k)::uuid, 'bulk' || k, 'Bulk ' || k, 'case_manager', '!', "
                    f"'{sup}'::uuid FROM generate_series({lo // CASES_PER_MANAGER}, {(hi - 1) // CASES_PER_MANAGER}) AS k "
                    "ON CONFLICT DO NOTHING"
                )
            )
            for statement in _unit_sql("b", lo, hi, _bulk_manager, UNIT_ATTEMPTS):
                await s.execute(text(statement))


async def _activity(factory: SessionFactory, puller: uuid.UUID, bulk_units: int, round_: int) -> None:
    """Recent activity after the puller's cursor, in ACTIVITY_TXNS transactions."""
    for t in range(ACTIVITY_TXNS):
        async with session_scope(factory) as s:
            k0 = (round_ * ACTIVITY_TXNS + t) * ACTIVITY_MINE
            await s.execute(
                text(
                    "INSERT INTO contact_attempt (id, case_id, method, outcome, at, created_by) "
                    f"SELECT gen_random_uuid(), md5('pc' || (k % {PULLER_CASES}))::uuid, 'phone', 'reached', now(), "
                    f"'{puller}'::uuid FROM generate_series({k0}, {k0 + ACTIVITY_MINE - 1}) AS k"
                )
            )
            await s.execute(
                text(
                    f"UPDATE household SET phone = '555-9{t:03d}', version = version + 1, updated_at = now() "
                    f"WHERE id = md5('ph' || {(round_ * ACTIVITY_TXNS + t) % PULLER_CASES})::uuid"
                )
            )
            await s.execute(
                text(
                    "INSERT INTO contact_attempt (id, case_id, method, outcome, at, created_by) "
                    f"SELECT gen_random_uuid(), md5('bc' || ((k * {CASES_PER_MANAGER} + 7 * {t}) % {bulk_units}))::uuid, "
                    "'phone', 'no_answer', now(), NULL "
                    f"FROM generate_series(1, {ACTIVITY_OTHERS}) AS k"
                )
            )


async def _pull_once(client: httpx.AsyncClient, phone: Phone, cursor: str | None, limit: int) -> tuple[float, Any]:
    body = msgspec.json.encode({"client_id": phone.device_id, "schema_version": 1, "cursor": cursor, "limit": limit})
    started = time.perf_counter()
    r = await client.post("/sync/pull", content=body, headers=phone.headers)
    elapsed = time.perf_counter() - started
    assert r.status_code == 200, r.text
    return elapsed, msgspec.json.decode(r.content)


async def _initial_sync(client: httpx.AsyncClient, phone: Phone, limit: int) -> tuple[float, int, int, str]:
    """From cursor=None until has_more is false: total request time, pages, records, final cursor."""
    total, pages, records, cursor = 0.0, 0, 0, None
    while True:
        elapsed, page = await _pull_once(client, phone, cursor, limit)
        total += elapsed
        pages += 1
        records += len(page["changes"])
        cursor = page["cursor"]
        if not page["has_more"]:
            return total, pages, records, cursor


@dataclass
class District:
    """One pull database: its app client, the pulling device (cursor positioned) and the big caseload's."""

    url: str
    engine: AsyncEngine
    factory: SessionFactory
    client: httpx.AsyncClient
    puller: Phone
    big: Phone
    cursor: str = ""
    load_s: float = 0.0


async def _district(url: str, folder: Path, records: int, stack: AsyncExitStack) -> District:
    """A district of about ``records`` records; the puller synced, then recent activity after her cursor."""
    engine = create_engine(url)
    stack.push_async_callback(engine.dispose)
    factory = create_session_factory(engine)
    sup = await _make_user(factory, "sup", Role.SUPERVISOR)
    await _make_user(factory, "sup2", Role.SUPERVISOR)
    puller_id = await _make_user(factory, "puller", Role.CASE_MANAGER, "sup2")
    big_id = await _make_user(factory, "big", Role.CASE_MANAGER, "sup2")
    async with session_scope(factory) as s:
        for statement in _unit_sql("p", 0, PULLER_CASES, _one_manager(puller_id), UNIT_ATTEMPTS):
            await s.execute(text(statement))
        for statement in _unit_sql("g", 0, BIG_CASES, _one_manager(big_id), UNIT_ATTEMPTS):
            await s.execute(text(statement))
    units = max(CASES_PER_MANAGER, (records - (PULLER_CASES + BIG_CASES) * UNIT_RECORDS) // UNIT_RECORDS)
    started = time.perf_counter()
    await _load_district(factory, sup, 0, units)
    await _autocommit(engine, "VACUUM ANALYZE")
    await _autocommit(engine, "CHECKPOINT")
    load_s = time.perf_counter() - started
    app = create_app(_bench_settings(folder), session_factory=factory)
    transport = httpx.ASGITransport(app=cast(Any, app))
    client = await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://bench"))
    puller = Phone(puller_id, "puller", uuid.uuid4(), [], [])
    big = Phone(big_id, "big", uuid.uuid4(), [], [])
    puller.headers = await _login(client, "puller", puller.device_id)
    big.headers = await _login(client, "big", big.device_id)
    # The puller catches up, then recent activity lands after her cursor.
    *_, cursor = await _initial_sync(client, puller, 1000)
    await _activity(factory, puller_id, units, 0)
    _, first = await _pull_once(client, puller, cursor, 50)
    assert len(first["changes"]) == 50 and first["has_more"], (len(first["changes"]), first["has_more"])
    return District(url, engine, factory, client, puller, big, cursor, load_s)


async def _count(d: District) -> tuple[int, int]:
    async with d.factory() as s:
        records = (
            await s.execute(
                text(
                    "SELECT (SELECT count(*) FROM case_file) + (SELECT count(*) FROM student) "
                    "+ (SELECT count(*) FROM household) + (SELECT count(*) FROM contact_attempt) "
                    "+ (SELECT count(*) FROM visit_note)"
                )
            )
        ).scalar_one()
        changes = (await s.execute(text("SELECT count(*) FROM sync_change"))).scalar_one()
    return int(records), int(changes)


async def _store_pull(d: District) -> float:
    principal = Principal(d.puller.device_id, d.puller.user_id, Role.CASE_MANAGER)
    async with d.factory() as s:
        started = time.perf_counter()
        await PgStore(s).changes(principal, d.cursor, 50, sync_engine.PULL_MAX_BYTES)
        return time.perf_counter() - started


async def _store_initial(d: District) -> float:
    principal = Principal(d.big.device_id, d.big.user_id, Role.CASE_MANAGER)
    started = time.perf_counter()
    cursor: str | None = None
    while True:
        async with d.factory() as s:
            page = await PgStore(s).changes(principal, cursor, 500, sync_engine.PULL_MAX_BYTES)
        cursor = page.cursor
        if not page.has_more:
            return time.perf_counter() - started


async def _pull_bench(
    server: EmbeddedPostgres, folder: Path, small: int, large: int, repeats: int
) -> tuple[dict[str, Any], list[phones.PullTarget]]:
    """Two districts side by side, measured in alternation so that the machine's noise hits both
    alike, in-process. Returns the figures, and the districts for the real server's pulls."""
    async with AsyncExitStack() as stack:
        districts = [
            await _district(await _create_database(server, name), folder, records, stack)
            for name, records in (("bench_pull_small", small), ("bench_pull_large", large))
        ]
        figures = [PullFigures(*await _count(d), [], [], {}, {}, 0, []) for d in districts]
        for d in districts:  # warm-up
            await _pull_once(d.client, d.puller, d.cursor, 50)
            await _store_pull(d)
        for _ in range(repeats):
            for d, f in zip(districts, figures, strict=True):
                f.pull_http.append((await _pull_once(d.client, d.puller, d.cursor, 50))[0])
                f.pull_store.append(await _store_pull(d))
        # Initial sync of the 2,000-record caseload, at three page limits.
        for limit in INITIAL_LIMITS:
            for d in districts:
                await _initial_sync(d.client, d.big, limit)  # warm-up
            for _ in range(max(3, repeats // 4)):
                for d, f in zip(districts, figures, strict=True):
                    total, pages, f.initial_records, _ = await _initial_sync(d.client, d.big, limit)
                    f.initial.setdefault(limit, []).append(total)
                    f.initial_pages[limit] = pages
                    if limit == 500:
                        f.initial_store.append(await _store_initial(d))
        targets = [
            phones.PullTarget(
                name=name,
                base_url=d.url,  # the database's, until a server serves it
                puller=phones.PhoneSpec(d.puller.username, d.puller.user_id, d.puller.device_id),
                big=phones.PhoneSpec(d.big.username, d.big.user_id, d.big.device_id),
                cursor=d.cursor,
            )
            for name, d in zip(("small", "large"), districts, strict=True)
        ]
        return {
            "small": figures[0],
            "large": figures[1],
            "load_small_s": districts[0].load_s,
            "load_large_s": districts[1].load_s,
        }, targets


@dataclass
class ServedPull:
    """One round of pulls through real servers: per district, the wall times at the client and
    the server times of the repeated 50-change pull, and (first round) the initial syncs."""

    wall: dict[str, list[float]]
    server: dict[str, list[float]]
    initial: dict[str, dict[int, list[tuple[float, float, int, int]]]]  # wall, server, pages, records


def _served_pull(targets: list[phones.PullTarget], folder: Path, o: Options) -> list[ServedPull]:
    """``rounds`` rounds, each with both districts served afresh by real servers (two ``doorstep
    serve``, one a district) and pulled in alternation by the phones' process. With ``o.profile``,
    the large district's server is sampled by py-spy afterwards, during more pulls (not in the figures)."""
    repeats, rounds, workers = o.repeats, o.pull_rounds, o.workers
    found = []
    for round_ in range(rounds):
        with (
            Served(targets[0].base_url, folder, f"pull-small-{round_}", workers) as small,
            Served(targets[1].base_url, folder, f"pull-large-{round_}", workers) as large,
        ):
            served = {"small": small, "large": large}
            plan = phones.PullPlan(
                targets=[msgspec.structs.replace(t, base_url=served[t.name].base_url) for t in targets],
                repeats=repeats,
                limits=list(INITIAL_LIMITS) if round_ == 0 else [],
                initial_repeats=max(3, repeats // 4),
            )
            result = _drive(plan, folder / f"pull-{round_}")
            assert isinstance(result, phones.PullResult)
            figures = ServedPull({}, {}, {})
            for name, target in result.targets.items():
                ids = target.pulls.request_ids + [
                    rid for syncs in target.initial.values() for sync in syncs for rid in sync.request_ids
                ]
                server = served[name].server_seconds(ids)
                figures.wall[name] = target.pulls.latencies
                figures.server[name] = [server[rid] for rid in target.pulls.request_ids]
                figures.initial[name] = {
                    limit: [(x.wall, sum(server[rid] for rid in x.request_ids), x.pages, x.records) for x in syncs]
                    for limit, syncs in target.initial.items()
                }
            found.append(figures)
            if o.profile is not None and round_ == rounds - 1:
                profiled = phones.PullPlan([plan.targets[1]], repeats=max(200, repeats), limits=[], initial_repeats=0)
                with _py_spy(large, o.profile / "pull-serve.txt"):
                    _drive(profiled, folder / "pull-profiled")
    return found


def _sync(
    server: EmbeddedPostgres,
    folder: Path,
    o: Options,
) -> dict[str, Any]:
    push_url, version, devices = asyncio.run(_push_setup(server))
    served_push = _served_push(push_url, folder, devices, o)
    push = asyncio.run(_push_bench(push_url, folder, o.batches, devices)) if o.in_process else None
    pull, targets = asyncio.run(_pull_bench(server, folder, o.small, o.large, o.repeats))
    served_pull = _served_pull(targets, folder, o)
    return {"postgres": version, "served_push": served_push, "push": push, "pull": pull, "served_pull": served_pull}


@dataclass(frozen=True)
class Options:
    batches: int
    small: int
    large: int
    repeats: int
    rounds: int
    pull_rounds: int
    workers: int | None
    in_process: bool
    profile: Path | None = None


def sync(
    batches: Annotated[int, typer.Option(help="push: batches of 50 per device (20 devices) a round")] = 25,
    small: Annotated[int, typer.Option(help="pull: records in the small database")] = 10_000,
    large: Annotated[int, typer.Option(help="pull: records in the large database")] = 1_000_000,
    repeats: Annotated[int, typer.Option(help="pull: repeated pulls (median)")] = 30,
    rounds: Annotated[int, typer.Option(help="push over TCP: rounds of raw executemany then HTTP")] = 2,
    pull_rounds: Annotated[int, typer.Option(help="pull over TCP: rounds, each with fresh servers")] = 3,
    workers: Annotated[int | None, typer.Option(help="DOORSTEP_WORKERS of the real servers (default: theirs)")] = None,
    in_process: Annotated[bool, typer.Option(help="the in-process push paths too (second lines)")] = True,
    profile: Annotated[
        Path | None, typer.Option(help="one more push round and more pulls under py-spy: their stacks into this folder")
    ] = None,
    write: Annotated[bool, typer.Option(help="write docs/benchmarks.md")] = True,
) -> None:
    """Push and pull through a real `doorstep serve` over TCP against raw asyncpg; in-process too."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    for count, name in ((batches, "--batches"), (repeats, "--repeats"), (rounds, "--rounds")):
        if count < 1:
            raise typer.BadParameter(f"{name} must be at least 1")
    options = Options(batches, small, large, repeats, rounds, max(1, pull_rounds), workers, in_process, profile)
    load_before = load_average()
    started = time.perf_counter()
    with temporary_postgres() as (server, folder):
        r = _sync(server, folder, options)
    r["load"] = (load_before, load_average())
    report = _sync_report(r, options, time.perf_counter() - started)
    print(report)
    if write:
        write_section("sync", report)


def _met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def _push_row(label: str, run: Run, raw: Run, server: list[float] | None = None, target: str | None = None) -> str:
    """A row of a push table; the server-time columns and the target's only when given."""
    row = (
        f"| {label} | {run.batches_per_s:,.1f} | {run.rows_per_s:,.0f} | {ratio(run.rows_per_s, raw.rows_per_s):.2f} | "
        f"{ms(pct(run.latencies, 0.5))} | {ms(pct(run.latencies, 0.95))} |"
    )
    if target is not None:
        row += f" {ms(pct(server, 0.5)) if server else ''} | {ms(pct(server, 0.95)) if server else ''} | {target} |"
    return row


def _sync_report(r: dict[str, Any], o: Options, total_s: float) -> str:
    sp = r["served_push"]
    raw_runs: list[phones.Timed] = sp["executemany"]
    http_runs: list[phones.Timed] = sp["http"]
    raw, http = _pooled(raw_runs), _pooled(http_runs)
    push_ratio = ratio(http.rows_per_s, raw.rows_per_s)
    push_p95 = pct(http.latencies, 0.95)
    round_ratios = ", ".join(
        f"{ratio(h.rows / h.wall, e.rows / e.wall):.2f}" for e, h in zip(raw_runs, http_runs, strict=True)
    )
    raw_label = "raw asyncpg `executemany` into `contact_attempt` from the phones' process, one transaction per batch"
    http_label = "`POST /sync/push` to `doorstep serve` over TCP (HTTP, auth, engine, `PgStore`, commit)"
    push_rows = [
        _push_row(raw_label, raw, raw, None, "baseline"),
        _push_row(http_label, http, raw, sp["http_server"], "≥ 0.33 of raw, p95 ≤ 300 ms"),
    ]
    cpu_table = ""
    if sp["cpu"] is not None:
        raw_cpu, http_cpu = sp["cpu"]["executemany"], sp["cpu"]["http"]
        bound = ratio(sum(raw_cpu.values()), sum(http_cpu.values()))
        bound_server = ratio(sum(raw_cpu.values()) - raw_cpu["phones"], sum(http_cpu.values()) - http_cpu["phones"])
        cpu_rows = []
        for path, label in (("executemany", "raw `executemany`"), ("http", "`POST /sync/push`")):
            used = sp["cpu"][path]
            cpu_rows.append(
                f"| {label} | {ms(used['phones'])} | {ms(used['postgres'])} | {ms(used['serve'])} | "
                f"{ms(sum(used.values()))} |"
            )
        cpu_table = f"""
CPU spent per 50-mutation batch, by process (`--profile`: after the timed rounds, a drive of {o.batches} batches a
device minus one of a single batch, each path alone, from `/proc`; PostgreSQL counts all its processes,
`doorstep serve` its API workers):

| path | phones' process ms | PostgreSQL ms | `doorstep serve` ms | all ms |
|---|---:|---:|---:|---:|
{chr(10).join(cpu_rows)}

When the CPUs are the bound, the ratio ends up near the ratio of those sums: **{bound:.2f}** (measured in drives
of their own, so it differs from the timed ratio by the machine's noise; without the phones' process, whose work
real phones do on their own CPUs: {bound_server:.2f}).
"""
    profile_tables = ""
    if o.profile is not None:
        parts = []
        for name, what in (("push", "the push (one more round)"), ("pull", "pulls at the large district")):
            samples, busy, layers = profiles.summarise(o.profile / f"{name}-serve.txt")
            rows_ = "\n".join(f"| {layer} | {n / busy * 100:.1f} % |" for layer, n in layers.most_common())
            parts.append(
                f"py-spy (`--native`, 200 Hz) on the API workers during {what}: {samples:,} samples in their event\n"
                f"loops, {busy:,} busy (not waiting in `epoll`, logins left out), each given to the innermost layer\n"
                f"it was in (`python -m bench.profiles {o.profile.name}/{name}-serve.txt`):\n\n"
                f"| layer | share of busy samples |\n|---|---:|\n{rows_}\n"
            )
        profile_tables = "\n### where the time went\n\n" + "\n".join(parts)
    in_process = ""
    if r["push"] is not None:
        push: dict[str, Run] = r["push"]
        labels = {
            "executemany": "in-process: raw asyncpg `executemany`, one transaction per batch",
            "copy": "in-process: raw asyncpg `COPY` (`copy_records_to_table`), one transaction per batch",
            "core": "in-process: sync engine + `PgStore`, no HTTP (decode, `engine.push`, commit)",
            "http": "in-process: `POST /sync/push` through the app over `ASGITransport` (no server, no socket)",
            "mixed": "in-process: `POST /sync/push`, mixed: 40 contact attempts, 5 new visit notes, 5 household updates",
        }
        in_process = "\n".join(_push_row(label, push[name], push["executemany"]) for name, label in labels.items())
        in_process = f"""
Second lines, in-process (the app called through `httpx.ASGITransport` in the benchmark's own process, one event
loop, no HTTP server, no socket: what this section measured before; ratios to the in-process `executemany`):

| path | batches/s | rows/s | ratio to raw `executemany` | p50 ms/batch | p95 ms/batch |
|---|---:|---:|---:|---:|---:|
{in_process}
"""
    rounds: list[ServedPull] = r["served_pull"]
    pull_rows, pull_ratios, pull_server_1m = [], [], []
    pull: dict[str, Any] = r["pull"]
    for n, sr in enumerate(rounds, 1):
        base_wall, base_server = statistics.median(sr.wall["small"]), statistics.median(sr.server["small"])
        for name in ("small", "large"):
            wall, server = statistics.median(sr.wall[name]), statistics.median(sr.server[name])
            wall_ratio, server_ratio = wall / base_wall, server / base_server
            if name == "large":
                pull_ratios.append(wall_ratio)
                pull_server_1m.append(server)
            pull_rows.append(
                f"| {n} | {pull[name].records:,} | {ms(wall)} | {ms(pct(sr.wall[name], 0.95))} | {wall_ratio:.2f} | "
                f"{ms(server)} | {ms(pct(sr.server[name], 0.95))} | {server_ratio:.2f} |"
            )
    small: PullFigures = pull["small"]
    large: PullFigures = pull["large"]
    base_http, base_store = statistics.median(small.pull_http), statistics.median(small.pull_store)
    pull_in_process = []
    for f in (small, large):
        http_med, store_med = statistics.median(f.pull_http), statistics.median(f.pull_store)
        pull_in_process.append(
            f"| {f.records:,} | {ms(http_med)} | {ms(pct(f.pull_http, 0.95))} | {http_med / base_http:.2f} | "
            f"{ms(store_med)} | {store_med / base_store:.2f} |"
        )
    initial_rows = []
    first = rounds[0]
    for key, f in (("small", small), ("large", large)):
        for limit in sorted(first.initial[key]):
            syncs = first.initial[key][limit]
            walls, servers = [x[0] for x in syncs], [x[1] for x in syncs]
            initial_rows.append(
                f"| {f.records:,} | {limit} | {syncs[0][2]} | {ms(statistics.median(walls))} | {ms(min(walls))} | "
                f"{ms(statistics.median(servers))} | {'≤ 150 ms' if limit == 500 else ''} |"
            )
        for limit in sorted(f.initial):
            initial_rows.append(
                f"| {f.records:,} | {limit}, in-process | {f.initial_pages[limit]} | {ms(statistics.median(f.initial[limit]))} | "
                f"{ms(min(f.initial[limit]))} | | |"
            )
        initial_rows.append(
            f"| {f.records:,} | 500, `PgStore.changes` only | {f.initial_pages[500]} | "
            f"{ms(statistics.median(f.initial_store))} | {ms(min(f.initial_store))} | | |"
        )
    initial_1m = statistics.median(x[0] for x in first.initial["large"][500])
    total_rows = SYNC_DEVICES * o.batches * SYNC_BATCH * o.rounds
    load_before, load_after = r["load"]
    targets = f"""| target | measured | |
|---|---|---|
| push over real HTTP ≥ 1/3 of raw `executemany`, same run | **{push_ratio:.2f}** (rounds: {round_ratios}) | {_met(push_ratio >= 1 / 3)} |
| push p95 ≤ 300 ms per 50-mutation batch | **{ms(push_p95)} ms** | {_met(push_p95 <= 0.3)} |
| pull of 50 changes at {large.records:,} records ≤ 1.2× at {small.records:,}, each of {len(rounds)} rounds (client wall, medians) | **{", ".join(f"{x:.2f}" for x in pull_ratios)}** | {_met(all(x <= 1.2 for x in pull_ratios))} |
| the same pull at {large.records:,} records ≤ 20 ms server time (median, each round) | **{", ".join(ms(x) for x in pull_server_1m)} ms** | {_met(all(x <= 0.02 for x in pull_server_1m))} |
| initial sync of the 2,000-record caseload at {large.records:,} records, page limit 500, ≤ 150 ms (client wall, median) | **{ms(initial_1m)} ms** | {_met(initial_1m <= 0.15)} |"""
    return f"""## sync: push, pull and initial sync through a real `doorstep serve`

Run {date.today().isoformat()} with `scripts/bench sync` on {machine()}; embedded PostgreSQL {r["postgres"]};
load average (1, 5, 15 min) {load_before} at the start and {load_after} at the end; whole run {total_s / 60:.1f} min.
The server is a real `doorstep serve` (`python -m server.cli serve`) in its own process on 127.0.0.1 over TCP:
{sp["workers"]} API worker process{"es" if sp["workers"] > 1 else ""} (uvicorn with uvloop and httptools), the background worker, JSON request
log at INFO to a file, on a database the benchmark prepared. The phones are another process (`python -m bench.phones`):
httpx, one keep-alive connection a device, real logins, every answer decoded and checked; the raw baseline is
asyncpg from that same process with a connection a device. Server, PostgreSQL and phones share the machine.
Wall times are the client's; server time is the request log's `ms` (first middleware to the response's start,
so uvicorn's parsing, the socket and any wait for the event loop are outside it), matched by request id.

{targets}

### push: {SYNC_DEVICES} devices, each sending batches of {SYNC_BATCH} `contact_attempt.create` one after the other, concurrently

{o.rounds} round{"s" if o.rounds > 1 else ""} of raw `executemany` then `POST /sync/push`, {o.batches} batches a device each ({total_rows:,} rows a path),
after one warm-up batch a device on each path; the rounds pooled.

| path | batches/s | rows/s | ratio to raw `executemany` | p50 ms/batch | p95 ms/batch | server p50 ms | server p95 ms | target |
|---|---:|---:|---:|---:|---:|---:|---:|---|
{chr(10).join(push_rows)}
{cpu_table}{in_process}
### pull: one 50-change page (limit 50), {small.records:,} versus {large.records:,} records

The device's case manager has {PULLER_CASES} cases ({PULLER_CASES * UNIT_RECORDS} records); the rest of the district is bulk-loaded
with `INSERT … SELECT generate_series` (each case: household, student, {UNIT_ATTEMPTS} contact attempts, one visit
note; {CASES_PER_MANAGER} cases per case manager), then `VACUUM ANALYZE` and `CHECKPOINT`. The device syncs to the end of the log, then
{ACTIVITY_TXNS} transactions land after its cursor, each with {ACTIVITY_MINE} contact attempts and a household update in its
scope and {ACTIVITY_OTHERS} contact attempts of other case managers ({ACTIVITY_TXNS * (ACTIVITY_MINE + 1)} pending changes in scope among
{ACTIVITY_TXNS * (ACTIVITY_MINE + 1 + ACTIVITY_OTHERS)}); `sync_change` holds {small.changes_rows:,} and {large.changes_rows:,} rows. Each round starts two real servers
afresh, one a district (separate databases on the same PostgreSQL), and pulls the same cursor {o.repeats} times from
each in alternation (small, large, small, …) after three warm-up pulls, so that the machine's noise falls on both
alike; the figures are medians. Loading took {pull["load_small_s"]:.0f} s and {pull["load_large_s"]:.0f} s.

| round | records | wall median ms | wall p95 ms | ratio | server median ms | server p95 ms | ratio |
|---|---:|---:|---:|---:|---:|---:|---:|
{chr(10).join(pull_rows)}

Second lines, in-process (the app through `ASGITransport` in the benchmark's process, {len(small.pull_http)} pulls each, before the
real servers' rounds), and the store's query alone:

| records | `POST /sync/pull` median ms | p95 ms | ratio | `PgStore.changes` median ms | ratio |
|---:|---:|---:|---:|---:|---:|
{chr(10).join(pull_in_process)}

### initial sync: a {large.initial_records:,}-record caseload, from `cursor=None` until `has_more` is false

One case manager with {BIG_CASES} cases: {BIG_CASES} each of cases, students, households and visit notes,
{BIG_CASES * UNIT_ATTEMPTS:,} contact attempts. Through the real server (first round): the client's wall time of
all pages, and the sum of their server times; in-process: the sum of the pages' request times. Medians of
repeated syncs.

| records in the database | page limit | pages | wall, median ms | best ms | server, median ms | target |
|---:|---|---:|---:|---:|---:|---|
{chr(10).join(initial_rows)}
{profile_tables}{SYNC_NOTE}"""
