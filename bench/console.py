"""``python -m bench console``: how fast the console's pages render with the demo district loaded.

The demo district is loaded with ``doorstep demo load`` into a fresh database on an embedded
PostgreSQL (six schools, 2,000 students with a school year of attendance, caseloads, home visits
and their photos), then a real ``doorstep serve`` on 127.0.0.1 serves it over TCP. The benchmark's
process signs in through the console's own form (the demo password, CSRF token and all) as a
supervisor, office staff and a counselor, and requests each console page that exists on this
commit, one request at a time, in rounds that visit every page once (so the machine's noise falls
on all pages alike). Server time is the request log's ``ms`` of each request (first middleware to
the response's start, so the page is rendered by then), matched by ``X-Request-ID``; wall time is
the client's, to the last byte of the page. Target (issue 12): every page ≤ 150 ms p95 server time.
Results go to the ``console`` section of docs/benchmarks.md.
"""

# ruff: noqa: E501  (the report table reads best one row a line)
from __future__ import annotations

import asyncio
import logging
import re
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from sqlalchemy import text

from bench.harness import load_average, machine, ms, pct, temporary_postgres, write_section
from bench.phones import push_body
from bench.served import Served
from bench.sync import _create_database, _py_spy
from server.db import EmbeddedPostgres, create_engine

TARGET_SECONDS = 0.150
PASSWORD = "bench console password, not a secret"
NOT_BUILT = "This page is not built yet"
DEMO_SECONDS = 600.0
CONFLICTS_PER_MANAGER = 3
"""The demo has no sync conflicts; each case manager's phones make this many (see ``make_conflicts``)."""

NOTE = """
Reading the figures: every page built so far meets the target with room to spare. The machine is
shared (the load average above: other engineers' test suites run at times) and the figures move
with it: runs the same day went from medians of 5 to 13 ms and p95s of at most 21 ms at a load
average of 2 to medians up to 58 ms and p95s up to 104 ms at 7 to 9 (then before the two fixes
below), the dashboard, the case page and the approvals queue the slowest, always within the
target; under load a request waits for a core while PostgreSQL and the other suites take theirs.
Where the time goes (2026-12-01): the Python a page costs the server is small
(`time.process_time` of the app called in-process, PostgreSQL apart, medians: cases list 4 ms,
overdue parent meetings 4 ms, approvals queue 7 ms, case page 8 ms, dashboard 9 to 10 ms); the rest
of the server time is the statements' round trips and PostgreSQL's work, and the wait for a CPU.
py-spy on the API worker during 40 more rounds (`--profile`; `python -m bench.profiles
DIR/console-serve.txt`), busy samples by layer: SQLAlchemy 35 % (building statements: the scope
predicates and the queue's joins are built anew for every request; loading rows), asyncpg 16 %,
socket system calls 14 %, the event loop 8 %, Doorstep's middleware and the session check 6 %,
Litestar 6 %, garbage collection 5 %, Jinja2 4 %. **The dashboard** is about fifteen statements whatever
the district's size (the session check, one aggregate per figure, the closed cases, their schools'
calendars, the rules engine's classification of their students' absences once per school year
their windows touch: 2.5 ms in PostgreSQL for the demo's 16 closed cases, through the attendance
key), then the names and the audit rows; no statement per case. Found and fixed on the way: its
counts of the approvals queue and of the overdue meetings first wrapped the lists' queries as
subqueries of every column (SQLAlchemy's column collections, ~1.7 ms of Python each; they now
select a count from the same joins), and the queue's and the meetings' aliases (a visit's case and
note, a meeting's case) were made on every request (0.9 ms of Python a statement, a tenth of the
busy samples; now made once at import). Not taken: caching the scope predicates' statements per
role (the largest share left in SQLAlchemy). **Truant students** runs the rules engine's
classification and evaluation (the SQL of `GET /students/{id}/truancy`) for every student the
reader may see on each request, a counselor's (about 680 in the demo) and an admin's 2,000, and keeps a page of the
truant ones: nothing stored, so it is always what a referral's eligibility reads. That statement
plans each run for its own day and students and without merge joins (`SET LOCAL` around it): a
prepared statement's generic plan, which PostgreSQL takes after five runs on a connection, was 15
times slower, and the calendar joins on the school alone filtered hundreds of thousands of pairs.
"""


@dataclass(frozen=True)
class Page:
    """One console page, as one demo user sees it."""

    name: str
    user: str
    path: str


@dataclass
class Timings:
    wall: list[float] = field(default_factory=list)
    server: list[float] = field(default_factory=list)


@dataclass
class Figures:
    postgres: str = ""
    conflicts: int = 0
    demo_today: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    pages: list[Page] = field(default_factory=list)
    not_built: list[Page] = field(default_factory=list)
    timings: dict[Page, Timings] = field(default_factory=dict)
    load_seconds: float = 0.0


# --- the console, as a browser uses it ------------------------------------------------------------

CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    """The CSRF token a console form carries (the double-submit value of its hidden field)."""
    found = CSRF.search(html)
    if found is None:
        raise RuntimeError("the page carries no CSRF token")
    return found.group(1)


def sign_in(base_url: str, username: str, password: str) -> httpx.Client:
    """A client signed in through the console's form: the sign-in page for its CSRF token, then
    the form post, answered 303 with the session cookie."""
    client = httpx.Client(base_url=base_url, timeout=60, trust_env=False)
    form = client.get("/console/sign-in")
    form.raise_for_status()
    done = client.post(
        "/console/sign-in", data={"username": username, "password": password, "_csrf_token": csrf_token(form.text)}
    )
    if done.status_code != 303 or "doorstep_console" not in client.cookies:
        raise RuntimeError(f"sign-in as {username} failed: {done.status_code} {done.text[:300]}")
    return client


def built(client: httpx.Client, page: Page) -> bool:
    """Whether the page exists on this commit (not the console's placeholder); any other answer
    than 200 is an error in the benchmark's choice of pages."""
    response = client.get(page.path)
    if response.status_code != 200:
        raise RuntimeError(f"{page.name} ({page.path}) answered {response.status_code}: {response.text[:300]}")
    return NOT_BUILT not in response.text


# --- the database -----------------------------------------------------------------------------------


async def _scalar(url: str, sql: str) -> Any:
    engine = create_engine(url)
    try:
        async with engine.connect() as c:
            return (await c.execute(text(sql))).scalar()
    finally:
        await engine.dispose()


async def _vacuum(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=None)
    try:
        async with engine.connect() as c:
            await c.execute(text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()


TEAM = "(SELECT id FROM user_account WHERE supervisor_id = (SELECT id FROM user_account WHERE username = 'sup1'))"
RICHEST_CASE = f"""
SELECT c.id FROM case_file c WHERE c.case_manager_id IN {TEAM}
ORDER BY (SELECT count(*) FROM visit_log v WHERE v.case_id = c.id)
       + (SELECT count(*) FROM visit_note n WHERE n.case_id = c.id)
       + (SELECT count(*) FROM contact_attempt a WHERE a.case_id = c.id)
       + (SELECT count(*) FROM follow_up f WHERE f.case_id = c.id) DESC, c.id
LIMIT 1
"""
RICHEST_VISIT = f"""
SELECT v.id FROM visit_log v JOIN visit_note n ON n.visit_log_id = v.id
WHERE v.created_by IN {TEAM} AND n.status = 'submitted'
ORDER BY (SELECT count(*) FROM form_photo p WHERE p.visit_log_id = v.id) DESC,
         (SELECT count(*) FROM visit_note_addendum a WHERE a.note_id = n.id) DESC, v.id
LIMIT 1
"""
COUNTS = {
    "students": "SELECT count(*) FROM student",
    "attendance records": "SELECT count(*) FROM attendance_record",
    "cases": "SELECT count(*) FROM case_file",
    "closed cases": "SELECT count(*) FROM case_file WHERE status = 'closed'",
    "visit logs": "SELECT count(*) FROM visit_log",
    "visits awaiting a decision": "SELECT count(*) FROM visit_note WHERE status = 'submitted' AND visit_log_id IS NOT NULL",
    "form photos": "SELECT count(*) FROM form_photo",
    "open conflicts": "SELECT count(*) FROM conflict WHERE status = 'open'",
    "overdue parent meetings": "SELECT count(*) FROM follow_up WHERE kind = 'parent_meeting' AND completed_at IS NULL AND due_on < current_date",
    "audit rows": "SELECT count(*) FROM audit_log",
}


# --- conflicts, made as phones make them --------------------------------------------------------------

HOUSEHOLDS = """
SELECT u.username, h.id, h.version FROM case_file c
JOIN user_account u ON u.id = c.case_manager_id JOIN student s ON s.id = c.student_id
JOIN household h ON h.id = s.household_id
WHERE c.status <> 'closed' AND u.role = 'case_manager' ORDER BY u.username, c.opened_at, c.id
"""


async def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as c:
            return [tuple(row) for row in await c.execute(text(sql))]
    finally:
        await engine.dispose()


class Phone:
    """A case manager's phone over the public protocol: logged in, pushing one mutation at a time."""

    def __init__(self, http: httpx.Client, username: str) -> None:
        self.http, self.device_id, self.next_id = http, uuid.uuid4(), 1
        device = {"id": str(self.device_id), "name": "bench phone", "platform": "android", "app_version": "1.0.0"}
        login = http.post("/auth/login", json={"username": username, "password": PASSWORD, "device": device})
        login.raise_for_status()
        self.headers = {"Authorization": f"Bearer {login.json()['access_token']}", "Content-Type": "application/json"}

    def push(self, mutation: dict[str, Any]) -> str:
        body = push_body(self.device_id, self.next_id, [mutation])
        self.next_id += 1
        response = self.http.post("/sync/push", content=body, headers=self.headers)
        response.raise_for_status()
        status: str = response.json()["results"][0]["status"]
        return status


def make_conflicts(base_url: str, url: str, per_manager: int) -> int:
    """Sync conflicts as the field makes them: each case manager has two phones, and for each of
    her first ``per_manager`` households one phone changes the phone number and address, then the
    other, still holding the version before, changes them otherwise (``stale_base``: kept for
    office staff to resolve). Answers how many conflicts were made."""
    homes: dict[str, list[tuple[Any, int]]] = {}
    for username, home_id, version in asyncio.run(_rows(url, HOUSEHOLDS)):
        homes.setdefault(username, []).append((home_id, version))
    made = 0
    with httpx.Client(base_url=base_url, timeout=60, trust_env=False) as http:
        for username, theirs in homes.items():
            first, second = Phone(http, username), Phone(http, username)
            for n, (home_id, version) in enumerate(theirs[:per_manager]):
                for phone, number, street in ((first, 100 + n, "Elm Street"), (second, 200 + n, "Elm St., rear door")):
                    changes = {"phone": f"555-0{number}", "address": f"{number} {street}"}
                    mutation = {"name": "household.update", "args": {"id": str(home_id), "changes": changes}}
                    status = phone.push(mutation | {"base_version": version})
                made += status == "conflict"
    return made


def pages_to_time(case_id: Any, visit_id: Any, conflict_id: Any = None) -> list[Page]:
    """Every console page there is (or will be), as the role that works in it sees it; a supervisor
    her team's, office staff the whole district."""
    pages = [
        Page("cases list", "sup1", "/console/cases"),
        Page("approvals queue", "sup1", "/console/approvals"),
        Page("dashboard", "sup1", "/console/dashboard"),
        Page("overdue parent meetings", "sup1", "/console/dashboard/overdue-meetings"),
        Page("conflicts", "sup1", "/console/conflicts"),
        Page("cases list", "office1", "/console/cases"),
        Page("approvals queue", "office1", "/console/approvals"),
        Page("dashboard", "office1", "/console/dashboard"),
        Page("overdue parent meetings", "office1", "/console/dashboard/overdue-meetings"),
        Page("conflicts", "office1", "/console/conflicts"),
        Page("imports", "office1", "/console/imports"),
        Page("resources", "office1", "/console/resources"),
        Page("letters", "office1", "/console/letters"),
        Page("reports", "sup1", "/console/reports"),
        Page("reports", "office1", "/console/reports"),
        Page("truant students", "counselor1", "/console/truant-students"),
        Page("truant students", "admin", "/console/truant-students"),
        Page("unassigned cases", "sup1", "/console/cases/unassigned"),
    ]
    if case_id is not None:
        pages.insert(1, Page("case page", "sup1", f"/console/cases/{case_id}"))
    if visit_id is not None:
        pages.insert(3, Page("visit page", "sup1", f"/console/visits/{visit_id}"))
    if conflict_id is not None:
        pages.insert(
            pages.index(Page("conflicts", "office1", "/console/conflicts")) + 1,
            Page("conflict page", "office1", f"/console/conflicts/{conflict_id}"),
        )
    return pages


# --- the run --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    repeats: int
    warmup: int
    workers: int
    today: date | None
    profile: Path | None


def _console(server: EmbeddedPostgres, folder: Path, o: Options) -> Figures:
    f = Figures()
    url = asyncio.run(_create_database(server, "console"))
    f.postgres = str(asyncio.run(_scalar(url, "SHOW server_version")))
    served = Served(url, folder, "console", o.workers)
    # The background worker would make the demo photos' served copies and thumbnails on the same two
    # cores while pages are timed; the pages are what is measured here.
    served.env["DOORSTEP_WORKER"] = "off"
    demo_env = served.env | {"DOORSTEP_DEMO_PASSWORD": PASSWORD}
    load = [sys.executable, "-m", "server.cli", "demo", "load"]
    if o.today is not None:
        load += ["--today", o.today.isoformat()]
    started = time.perf_counter()
    subprocess.run(load, env=demo_env, check=True, timeout=DEMO_SECONDS, stdout=subprocess.DEVNULL)
    f.load_seconds = time.perf_counter() - started
    asyncio.run(_vacuum(url))
    f.demo_today = (o.today or date.today()).isoformat()
    case_id = asyncio.run(_scalar(url, RICHEST_CASE))
    visit_id = asyncio.run(_scalar(url, RICHEST_VISIT))
    with served:
        f.conflicts = make_conflicts(served.base_url, url, CONFLICTS_PER_MANAGER)
        conflict_id = asyncio.run(_scalar(url, "SELECT id FROM conflict ORDER BY created_at DESC, id LIMIT 1"))
        clients = {
            user: sign_in(served.base_url, user, PASSWORD) for user in ("sup1", "office1", "counselor1", "admin")
        }
        try:
            for page in pages_to_time(case_id, visit_id, conflict_id):
                (f.pages if built(clients[page.user], page) else f.not_built).append(page)
            f.timings = {page: Timings() for page in f.pages}
            ids: dict[str, tuple[Page, float]] = {}
            for round_ in range(o.warmup + o.repeats):
                for page in f.pages:
                    request_id = f"console-{round_}-{uuid.uuid4().hex[:12]}"
                    began = time.perf_counter()
                    response = clients[page.user].get(page.path, headers={"x-request-id": request_id})
                    wall = time.perf_counter() - began
                    if response.status_code != 200:
                        raise RuntimeError(f"{page.name} answered {response.status_code}: {response.text[:300]}")
                    if round_ >= o.warmup:
                        ids[request_id] = (page, wall)
            time.sleep(0.5)  # the last log lines reach the file
            spent = served.server_seconds(list(ids))
            for request_id, (page, wall) in ids.items():
                f.timings[page].wall.append(wall)
                f.timings[page].server.append(spent[request_id])
            if o.profile is not None:
                with _py_spy(served, o.profile / "console-serve.txt"):
                    for _ in range(o.repeats):
                        for page in f.pages:
                            clients[page.user].get(page.path)
        finally:
            for client in clients.values():
                client.close()
    f.counts = {name: int(asyncio.run(_scalar(url, sql)) or 0) for name, sql in COUNTS.items()}
    return f


def console(
    repeats: Annotated[int, typer.Option(help="timed requests of each page")] = 100,
    warmup: Annotated[int, typer.Option(help="untimed rounds of every page first")] = 5,
    workers: Annotated[int, typer.Option(help="DOORSTEP_WORKERS of the real server")] = 1,
    today: Annotated[str | None, typer.Option(help="load the demo as of this day, YYYY-MM-DD (default: today)")] = None,
    profile: Annotated[
        Path | None, typer.Option(help="as many requests again under py-spy: their stacks into this folder")
    ] = None,
    write: Annotated[bool, typer.Option(help="write docs/benchmarks.md")] = True,
) -> None:
    """The console's pages with the demo district loaded, through a real `doorstep serve`: p50 and p95
    server and wall time per page, against 150 ms p95 server time."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    for count, name in ((repeats, "--repeats"), (workers, "--workers")):
        if count < 1:
            raise typer.BadParameter(f"{name} must be at least 1")
    if warmup < 0:
        raise typer.BadParameter("--warmup must be 0 or more")
    try:
        day = date.fromisoformat(today) if today else None
    except ValueError as exc:
        raise typer.BadParameter("--today must be YYYY-MM-DD") from exc
    o = Options(repeats, warmup, workers, day, profile)
    load_before = load_average()
    started = time.perf_counter()
    with temporary_postgres() as (server, folder):
        f = _console(server, folder, o)
    report = _report(f, o, (load_before, load_average()), time.perf_counter() - started)
    print(report)
    if write:
        write_section("console", report)


# --- the report -----------------------------------------------------------------------------------------


def _met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def p95s(f: Figures) -> dict[Page, float]:
    return {page: pct(t.server, 0.95) for page, t in f.timings.items()}


def _report(f: Figures, o: Options, load: tuple[str, str], total_s: float) -> str:
    worst_page, worst = max(p95s(f).items(), key=lambda kv: kv[1])
    rows = "\n".join(
        f"| {page.name} | `{page.user}` | `{page.path.split('/console', 1)[1] or '/'}` | {len(t.server)} | "
        f"{ms(statistics.median(t.server))} | **{ms(pct(t.server, 0.95))}** | {ms(max(t.server))} | "
        f"{ms(statistics.median(t.wall))} | {ms(pct(t.wall, 0.95))} | {_met(pct(t.server, 0.95) <= TARGET_SECONDS)} |"
        for page, t in f.timings.items()
    )
    missing = ", ".join(f"{name} (`{path}`)" for path, name in dict((p.path, p.name) for p in f.not_built).items())
    district = ", ".join(f"{n:,} {name}" for name, n in f.counts.items())
    workers = f"{o.workers} API worker process{'es' if o.workers > 1 else ''}"
    load_before, load_after = load
    return f"""## console: page render times with the demo district through a real `doorstep serve`

Run {date.today().isoformat()} with `scripts/bench console` on {machine()}; embedded PostgreSQL {f.postgres};
load average (1, 5, 15 min) {load_before} at the start and {load_after} at the end; whole run {total_s / 60:.1f} min.
The demo district (`doorstep demo load`{f" --today {o.today}" if o.today else ""}, as of {f.demo_today}, {f.load_seconds:.0f} s, then
`VACUUM ANALYZE`) in a fresh database. The demo has no sync conflicts, so each case manager's two phones made
{CONFLICTS_PER_MANAGER} through `POST /sync/push` before the timing ({f.conflicts} in all: the same household edited on both, the
second from the version before, `stale_base`). At the end the database held {district}. The server is a real
`doorstep serve` (`python -m server.cli serve`) in its own process on 127.0.0.1 over TCP: {workers}
(`DOORSTEP_WORKERS={o.workers}`, uvicorn with uvloop and httptools), JSON request log at INFO to a file, no background
worker (`DOORSTEP_WORKER=off`: the demo photos' thumbnails would be made on the same two cores meanwhile). The client
is the benchmark's own process: httpx, one keep-alive connection per user, signed in through the console's form
(the sign-in page's CSRF token, the demo password, the session cookie), one request at a time. Each round requests
every page once, in the order below; {o.warmup} rounds untimed, then {o.repeats}. Server time is the request log's `ms`
(first middleware to the response's start: the session check, the queries, the audit rows and the template
rendered; the commit after it), matched by `X-Request-ID`; wall time is the client's, to the page's last byte. The
case page is the supervisor's team's case with the most records, the visit page her team's submitted visit with the
most photos, the conflict page the newest conflict.

| target | measured | |
|---|---|---|
| every console page ≤ {TARGET_SECONDS * 1000:.0f} ms p95 server time with the demo district loaded | **{ms(worst)} ms**, the slowest page's p95 ({worst_page.name}, `{worst_page.user}`) | {_met(worst <= TARGET_SECONDS)} |

| page | signed in as | path | n | server p50 ms | server p95 ms | server max ms | wall p50 ms | wall p95 ms | ≤ {TARGET_SECONDS * 1000:.0f} ms p95 |
|---|---|---|---:|---:|---:|---:|---:|---:|---|
{rows}

{f"Not built on this commit (the placeholder page), so not timed: {missing}." if missing else "Every page of the console's navigation was timed."}
{NOTE}"""
