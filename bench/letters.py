"""``python -m bench letters``: family letters with the demo district, through a real ``doorstep serve``.

The demo district is loaded with ``doorstep demo load`` into a fresh database on an embedded
PostgreSQL, then a real ``doorstep serve`` on 127.0.0.1 serves it over TCP, with its background
worker (``DOORSTEP_WORKER=inline``: a ``python -m server.cli worker`` child of serve, where letter
batches run). The benchmark's process is the office (``office1``, who sees every case), logged in
through ``/auth/login``. Issue 19's targets, each measured in the same run:

1. one letter ≤ 200 ms: ``POST /cases/{id}/letters`` then ``GET /letters/{id}/pdf``, on as many
   different cases, the kinds in turn (after a few untimed ones);
2. a batch of 2,000 letters ≤ 60 s: ``POST /letter-batches`` then ``GET /letter-batches/{id}``
   until it is done, and its merged PDF downloaded and counted;
3. the background worker's memory grows ≤ 200 MB during that batch: its RSS sampled every 100 ms.

The demo has fewer students newly due a letter than a batch of 2,000: the rest are letters asked
for (``requested``, as a phone's ``letter.request`` leaves them; ``custom`` with a short text) on
other students, written into the database before the batch, so the batch holds ``--letters``.
Results go to the ``letters`` section of docs/benchmarks.md.
"""

# ruff: noqa: E501  (the report table reads best one row a line)
from __future__ import annotations

import asyncio
import io
import logging
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from pypdf import PdfReader
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from bench.harness import load_average, machine, ms, pct, temporary_postgres, write_section
from bench.served import Served
from bench.sync import _create_database
from bench.uploads import status_bytes
from server import clock
from server.db import EmbeddedPostgres, create_engine, create_session_factory
from server.letters.service import CHUNK
from server.settings import Settings

ONE_TARGET = 0.200
BATCH_TARGET = 60.0
GROWTH_TARGET = 200 * 1024 * 1024
BATCH_LETTERS = 2000
"""The batch the targets are stated for."""
PASSWORD = "bench letters password, not a secret"
DEMO_SECONDS = 600.0
QUEUE_SECONDS = 600.0
BATCH_SECONDS = 1800.0
SAMPLE_SECONDS = 0.1
POLL_SECONDS = 0.1
REQUEST_SECONDS = 120.0
KINDS = ("truancy_notice", "attendance_notice", "chronic_absence_notice", "habitual_truancy_notice", "custom")
"""The kinds of the single letters, in turn."""
BODY = "Please call the school office about your child's attendance. We want to help."
"""A custom letter's text (a single one, and every letter asked for to fill the batch)."""
MB = 1024 * 1024

NOTE = """
Reading the figures: the machine is shared (the load average above says how busy it was, and
what else ran on it mattered more than the load's figure), and the times move with it: in four
earlier runs the same day, at load averages of 2.5 to 5.5, the batch of 2,000 took 14.5 to 35.1 s
and the one letter's p90 was 146 to 174 ms; the memory grew 287 to 317 MB, before the fix below.
The batch meets its target with room: most of its time is printing, typst's compiles (in-process,
0.5 to 1.8 s per 100 letters on this machine). **Which letters.** The demo has only about 240 students newly due a letter as of its day, so
most of the batch is letters asked for. A `custom` letter prints what the others print (the days missed with their
dates, the classmates' median, why each day matters, the seven tips, whom to call, the siblings)
with its own text in place of the kind's opening, so typst's work per page is about the same;
those students have fewer absences, so shorter lists of dates. **One letter** meets its target,
without much room under load: most of it is server time; the making reads the rules' statuses of
the student's classmates and siblings for the median and the siblings' line, and the PDF is one
typst compile (9 ms in-process, warm, for one letter of the same shape).

**Memory** meets its target since the fix below; before it, the first batch a worker ran took it
from about 125 MB to over 400 MB, and it kept most of that afterwards. The steps' table says where: taking the letters adds about 50 MB (the session then holds the 2,000 letters made with
their content, and every student's rules statuses), printing the most, merging less. Found in-process (the
worker's code called in a plain process on synthetic letters of the same shape, 2026-12-06; not
through serve): (1) importing typst and making a `Compiler` take about 20 MB, a first one-letter
compile 9 MB more, and a first compile of 100 letters 111 MB more (their layout and typst's
memoized work); later chunks of 100 add about 2 MB each. `render_pdf` ages typst's cache out
after each chunk, but glibc keeps the freed pages: with `malloc_trim(0)` after each compile, 1,000
letters in chunks of 100 ended at 134 MB instead of 198 MB; in chunks of 25, at 109 MB (91 MB with
the trim). (2) `asyncio.to_thread` may run a chunk on another thread of the default executor, and
each thread makes its own `Compiler` (`render._compiler`): 20 chunks through `to_thread` ended at
283 MB with three threads, against 222 MB all on one thread. (3) A merge by pypdf builds the object
graph of every page before writing: 2,000 pages added 88 to 105 MB (PDFium's merge: about 20 MB,
in a tenth of the time). So the worker now typesets on one dedicated thread, in chunks of 50, hands
freed memory back with `malloc_trim` after each, and merges with PDFium
(`server.letters.service`); the first runs above, before that, grew the worker by 287 to 317 MB.
"""


# --- the server's processes and the database -------------------------------------------------------


def background_worker(served: Served, wait: float = 60.0) -> int:
    """The pid of serve's background worker (``python -m server.cli worker``, a child of serve)."""
    assert served.proc is not None
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                args = (proc / "cmdline").read_bytes().split(b"\0")
            except (OSError, ValueError, IndexError):
                continue
            if ppid == served.proc.pid and b"server.cli" in args and b"worker" in args:
                return int(proc.name)
        time.sleep(0.2)
    raise RuntimeError("serve started no background worker (python -m server.cli worker)")


@dataclass
class Memory:
    """The background worker's memory over the batch: RSS before, the largest RSS sampled every
    ``SAMPLE_SECONDS``, the kernel's peak (``VmHWM``, reset to the RSS before), RSS after."""

    before: int = 0
    peak: int = 0
    hwm: int = 0
    after: int = 0
    samples: list[tuple[float, int]] = field(default_factory=list)
    """(``time.perf_counter()``, RSS) every ``SAMPLE_SECONDS``."""

    @property
    def growth(self) -> int:
        return max(self.peak, self.hwm) - self.before


@contextmanager
def watched(pid: int) -> Iterator[Memory]:
    """Sample ``pid``'s RSS from a thread while the block runs; its high-water mark is reset first
    (``/proc/<pid>/clear_refs``), so ``VmHWM`` after is the block's peak."""
    found = Memory()
    (Path("/proc") / str(pid) / "clear_refs").write_text("5")
    found.before = found.peak = status_bytes(pid, "VmRSS")
    done = threading.Event()

    def sample() -> None:
        while not done.wait(SAMPLE_SECONDS):
            rss = status_bytes(pid, "VmRSS")
            found.peak = max(found.peak, rss)
            found.samples.append((time.perf_counter(), rss))

    sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    sampler.start()
    try:
        yield found
    finally:
        done.set()
        sampler.join()
        found.hwm = status_bytes(pid, "VmHWM")
        found.after = status_bytes(pid, "VmRSS")


async def _sql(url: str, sql: str, **bind: Any) -> list[tuple[Any, ...]]:
    """The rows of one statement, committed."""
    engine = create_engine(url)
    try:
        async with engine.begin() as c:
            result = await c.execute(text(sql), bind)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        await engine.dispose()


def _scalar(url: str, sql: str, **bind: Any) -> Any:
    return asyncio.run(_sql(url, sql, **bind))[0][0]


async def _vacuum(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=None)
    try:
        async with engine.connect() as c:
            await c.execute(text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()


def wait_for_queue(url: str) -> float:
    """Wait until the background worker has no job left (the demo's photos give it some when it
    starts): the batch is timed alone. Answers how long that took."""
    started = time.monotonic()
    while time.monotonic() - started < QUEUE_SECONDS:
        left = _scalar(url, "SELECT count(*) FROM procrastinate.procrastinate_jobs WHERE status IN ('todo', 'doing')")
        if not left:
            return time.monotonic() - started
        time.sleep(0.5)
    raise RuntimeError(f"the background worker still had jobs after {QUEUE_SECONDS:.0f} s")


async def _due(url: str, as_of: date) -> list[uuid.UUID]:
    """The students a batch made now would find newly due (the code the batch runs)."""
    from server.letters import facts, kinds
    from server.rules import repository as rules_repo

    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as s:
            year = await facts.year_of(s, as_of)
            configured = await kinds.configured(s, year.row.id)
            statuses = await rules_repo.statuses(s, year.params)
            return [d.student_id for d in await kinds.due(s, year.row.id, statuses, configured)]
    finally:
        await engine.dispose()


REQUEST_LETTERS = """
INSERT INTO letter (id, version, case_id, student_id, kind, status, body, note, created_by)
SELECT gen_random_uuid(), 1, c.id, s.id, 'custom', 'requested', :body, 'bench letters: asked for', c.case_manager_id
FROM student s
LEFT JOIN LATERAL (
    SELECT id, case_manager_id FROM case_file
    WHERE student_id = s.id AND status <> 'closed' AND deleted_at IS NULL ORDER BY opened_at DESC, id LIMIT 1
) c ON true
WHERE s.deleted_at IS NULL AND s.id <> ALL(:due)
  AND NOT EXISTS (SELECT 1 FROM letter l WHERE l.student_id = s.id AND l.status = 'requested' AND l.deleted_at IS NULL)
ORDER BY c.id IS NULL, s.id
LIMIT :n
RETURNING case_id IS NOT NULL
"""


async def _request_letters(url: str, due: list[uuid.UUID], n: int) -> list[bool]:
    """``n`` letters asked for, as ``letter.request`` leaves them (``requested``, no content yet),
    each on a student not due already and with none waiting: students with an open case first (the
    request's case), then others. A ``True`` for each one on a case."""
    engine = create_engine(url)
    try:
        async with engine.begin() as c:
            statement = text(REQUEST_LETTERS).bindparams(bindparam("due", type_=ARRAY(UUID(as_uuid=True))))
            result = await c.execute(statement, {"body": BODY, "due": due, "n": n})
            return [bool(row[0]) for row in result]
    finally:
        await engine.dispose()


# --- the office, over HTTP --------------------------------------------------------------------------


def log_in(base_url: str, username: str) -> httpx.Client:
    """A client with ``username``'s bearer token, as the office's own tools would hold it."""
    http = httpx.Client(base_url=base_url, timeout=REQUEST_SECONDS, trust_env=False)
    device = {"id": str(uuid.uuid4()), "name": "bench office", "platform": "web", "app_version": "1.0.0"}
    login = http.post("/auth/login", json={"username": username, "password": PASSWORD, "device": device})
    if login.status_code != 200:
        raise RuntimeError(f"log in as {username} failed: {login.status_code} {login.text[:300]}")
    http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    return http


def letter_body(n: int, day: date) -> dict[str, Any]:
    """The ``n``-th single letter's request: the kinds in turn, a truancy notice with its meeting
    proposed a week later, a custom letter with its text."""
    kind = KINDS[n % len(KINDS)]
    body: dict[str, Any] = {"id": str(uuid.uuid4()), "kind": kind}
    if kind == "truancy_notice":
        body["meeting_at"] = datetime.combine(day + timedelta(days=7), clock_time(20, 30), UTC).isoformat()
        body["meeting_place"] = "Room 12, main office"
    if kind == "custom":
        body["body"] = BODY
    return body


@dataclass(frozen=True)
class Poll:
    """One ``GET /letter-batches/{id}`` while the batch ran: when (``time.perf_counter()``) and what it said."""

    at: float
    status: str
    done: int
    total: int


STEPS = {
    "taking": "its letters taken and made (the rules' statuses, who is due, the facts of each letter)",
    "printing": f"printed {CHUNK} letters per typst compile, each part stored",
    "merging": "the parts merged into one PDF (PDFium), stored, the transaction committed",
}
"""A batch's steps as its progress shows them (``server.letters.service.run_batch``): no total yet,
then ``done`` < ``total``, then ``done`` = ``total`` until the status says done."""


def step_of(poll: Poll) -> str:
    if poll.status == "done":
        return "done"
    if poll.total == 0:
        return "taking"
    return "printing" if poll.done < poll.total else "merging"


@dataclass
class Step:
    name: str
    start: float
    """Seconds from the POST (the first poll that saw it; the first step starts at the POST)."""
    end: float
    rss: int = 0
    """The largest RSS sampled in it."""


def steps(began: float, polls: list[Poll], samples: list[tuple[float, int]]) -> list[Step]:
    """The batch's steps before done, each from the first poll that saw it to the first that saw
    the next, with the largest RSS sampled meanwhile."""
    seen: list[tuple[str, float]] = []
    for poll in polls:
        name = step_of(poll)
        if not seen or seen[-1][0] != name:
            seen.append((name, poll.at - began))
    found = []
    for n, (name, at) in enumerate(seen[:-1]):
        step = Step(name, 0.0 if n == 0 else at, seen[n + 1][1])
        step.rss = max((rss for t, rss in samples if step.start <= t - began < step.end), default=0)
        found.append(step)
    return found


def pdf_pages(data: bytes) -> int:
    if not data.startswith(b"%PDF"):
        raise RuntimeError(f"not a PDF: {data[:60]!r}")
    return len(PdfReader(io.BytesIO(data)).pages)


@dataclass
class Single:
    kind: str
    create: float
    pdf: float
    create_server: float = 0.0
    pdf_server: float = 0.0
    pages: int = 0
    pdf_bytes: int = 0

    @property
    def both(self) -> float:
        return self.create + self.pdf


def one_letter(http: httpx.Client, case_id: Any, n: int, day: date) -> tuple[Single, tuple[str, str]]:
    """Make one letter for the case and fetch its PDF, each timed by the client; the two request ids."""
    body = letter_body(n, day)
    rid = f"letter-{n}-{uuid.uuid4().hex[:12]}"
    began = time.perf_counter()
    made = http.post(f"/cases/{case_id}/letters", json=body, headers={"x-request-id": rid + "-create"})
    create = time.perf_counter() - began
    if made.status_code != 201:
        raise RuntimeError(f"POST /cases/{case_id}/letters answered {made.status_code}: {made.text[:300]}")
    began = time.perf_counter()
    pdf = http.get(f"/letters/{body['id']}/pdf", headers={"x-request-id": rid + "-pdf"})
    spent = time.perf_counter() - began
    if pdf.status_code != 200:
        raise RuntimeError(f"GET /letters/{body['id']}/pdf answered {pdf.status_code}: {pdf.text[:300]}")
    single = Single(body["kind"], create, spent, pages=pdf_pages(pdf.content), pdf_bytes=len(pdf.content))
    return single, (rid + "-create", rid + "-pdf")


# --- the run ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    letters: int
    singles: int
    warmup: int
    workers: int


@dataclass
class Figures:
    postgres: str = ""
    demo_today: str = ""
    load_seconds: float = 0.0
    queue_seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    singles: list[Single] = field(default_factory=list)
    due: int = 0
    waiting: int = 0
    requested_on_cases: int = 0
    requested_without_case: int = 0
    batch_wall: float = 0.0
    batch_server: float = 0.0
    batch_status: str = ""
    batch_letters: int = 0
    by_rule: int = 0
    by_request: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    languages: dict[str, int] = field(default_factory=dict)
    fallback: int = 0
    pdf_bytes: int = 0
    pdf_pages: int = 0
    download: float = 0.0
    memory: Memory = field(default_factory=Memory)
    steps: list[Step] = field(default_factory=list)
    worker_same: bool = True


COUNTS = {
    "students": "SELECT count(*) FROM student",
    "attendance records": "SELECT count(*) FROM attendance_record",
    "cases": "SELECT count(*) FROM case_file",
    "open cases": "SELECT count(*) FROM case_file WHERE status <> 'closed'",
    "letters": "SELECT count(*) FROM letter",
}
CASES = """
SELECT c.id FROM case_file c WHERE c.deleted_at IS NULL ORDER BY c.status = 'closed', md5(c.id::text) LIMIT :n
"""
"""Cases for the single letters: open ones first, in an order unrelated to school or manager."""


def _singles(http: httpx.Client, served: Served, url: str, day: date, o: Options) -> list[Single]:
    cases = [row[0] for row in asyncio.run(_sql(url, CASES, n=o.warmup + o.singles))]
    if len(cases) < o.warmup + o.singles:
        raise RuntimeError(f"the demo has {len(cases)} cases, fewer than --warmup + --singles")
    timed: list[tuple[Single, tuple[str, str]]] = []
    for n, case_id in enumerate(cases):
        single, ids = one_letter(http, case_id, n, day)
        if n >= o.warmup:
            timed.append((single, ids))
    time.sleep(0.5)  # the last log lines reach the file
    spent = served.server_seconds([rid for _, ids in timed for rid in ids])
    for single, (create_id, pdf_id) in timed:
        single.create_server, single.pdf_server = spent[create_id], spent[pdf_id]
    return [single for single, _ in timed]


def _batch(http: httpx.Client, url: str, worker: int, day: date, f: Figures) -> None:
    """The batch, timed from the POST to the first answer that says it is done, the worker watched."""
    batch_id = str(uuid.uuid4())
    with watched(worker) as memory:
        began = time.perf_counter()
        made = http.post("/letter-batches", json={"id": batch_id, "as_of": day.isoformat()})
        if made.status_code != 202:
            raise RuntimeError(f"POST /letter-batches answered {made.status_code}: {made.text[:300]}")
        polls: list[Poll] = []
        while True:
            state = http.get(f"/letter-batches/{batch_id}")
            state.raise_for_status()
            answer = state.json()
            status = answer["status"]
            polls.append(Poll(time.perf_counter(), status, answer["done"], answer["total"]))
            if status in ("done", "failed"):
                break
            if time.perf_counter() - began > BATCH_SECONDS:
                raise RuntimeError(f"the batch was still {status} after {BATCH_SECONDS:.0f} s")
            time.sleep(POLL_SECONDS)
        f.batch_wall = time.perf_counter() - began
    f.memory, f.batch_status = memory, status
    f.steps = steps(began, polls, memory.samples)
    if status != "done":
        raise RuntimeError(f"the batch failed: {state.json().get('error')}")
    f.batch_letters = len(state.json()["letters"])
    f.batch_server = float(
        _scalar(url, "SELECT extract(epoch FROM updated_at - created_at) FROM letter_batch WHERE id = :id", id=batch_id)
    )
    began = time.perf_counter()
    pdf = http.get(f"/letter-batches/{batch_id}/pdf")
    f.download = time.perf_counter() - began
    pdf.raise_for_status()
    f.pdf_bytes, f.pdf_pages = len(pdf.content), pdf_pages(pdf.content)
    rows = asyncio.run(
        _sql(url, "SELECT kind, language, by_rule, fallback FROM letter WHERE batch_id = :id", id=uuid.UUID(batch_id))
    )
    f.by_rule = sum(1 for r in rows if r[2])
    f.by_request = len(rows) - f.by_rule
    f.fallback = sum(1 for r in rows if r[3])
    for kind, language, _, _ in rows:
        f.kinds[kind] = f.kinds.get(kind, 0) + 1
        f.languages[language] = f.languages.get(language, 0) + 1


def _letters(server: EmbeddedPostgres, folder: Path, o: Options) -> Figures:
    f = Figures()
    url = asyncio.run(_create_database(server, "letters"))
    f.postgres = str(_scalar(url, "SHOW server_version"))
    served = Served(url, folder, "letters", o.workers)
    served.env["DOORSTEP_WORKER"] = "inline"  # the batch runs in serve's background worker
    day = clock.today(Settings())  # the district's today: what serve makes a single letter as of
    f.demo_today = day.isoformat()
    load = [sys.executable, "-m", "server.cli", "demo", "load", "--today", day.isoformat()]
    started = time.perf_counter()
    subprocess.run(
        load,
        env=served.env | {"DOORSTEP_DEMO_PASSWORD": PASSWORD},
        check=True,
        timeout=DEMO_SECONDS,
        stdout=subprocess.DEVNULL,
    )
    f.load_seconds = time.perf_counter() - started
    asyncio.run(_vacuum(url))
    with served:
        worker = background_worker(served)
        f.queue_seconds = wait_for_queue(url)
        http = log_in(served.base_url, "office1")
        try:
            f.singles = _singles(http, served, url, day, o)
            due = asyncio.run(_due(url, day))
            f.due = len(due)
            f.waiting = int(
                _scalar(url, "SELECT count(*) FROM letter WHERE status = 'requested' AND deleted_at IS NULL")
            )
            on_case = (
                asyncio.run(_request_letters(url, due, o.letters - f.due - f.waiting))
                if o.letters > f.due + f.waiting
                else []
            )
            f.requested_on_cases = sum(on_case)
            f.requested_without_case = len(on_case) - f.requested_on_cases
            asyncio.run(_vacuum(url))
            wait_for_queue(url)
            _batch(http, url, worker, day, f)
        finally:
            http.close()
        f.worker_same = background_worker(served, wait=1.0) == worker
    f.counts = {name: int(_scalar(url, sql) or 0) for name, sql in COUNTS.items()}
    return f


def letters(
    letters: Annotated[
        int, typer.Option(help="letters in the batch (letters asked for fill what is not due)")
    ] = BATCH_LETTERS,
    singles: Annotated[int, typer.Option(help="single letters timed, each on its own case")] = 50,
    warmup: Annotated[int, typer.Option(help="untimed single letters first")] = 5,
    workers: Annotated[int, typer.Option(help="DOORSTEP_WORKERS of the real server")] = 1,
    write: Annotated[bool, typer.Option(help="write docs/benchmarks.md")] = True,
) -> None:
    """Family letters with the demo district, through a real `doorstep serve`: one letter made and
    printed against 200 ms, a batch of --letters against 60 s, the background worker's memory
    growth over the batch against 200 MB."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    o = parse(letters, singles, warmup, workers)
    load_before = load_average()
    started = time.perf_counter()
    with temporary_postgres() as (server, folder):
        f = _letters(server, folder, o)
    report = _report(f, o, (load_before, load_average()), time.perf_counter() - started)
    print(report)
    if write:
        write_section("letters", report)


def parse(letters: int, singles: int, warmup: int, workers: int) -> Options:
    """The options, checked."""
    for count, name in ((letters, "--letters"), (singles, "--singles"), (workers, "--workers")):
        if count < 1:
            raise typer.BadParameter(f"{name} must be at least 1")
    if warmup < 0:
        raise typer.BadParameter("--warmup must be 0 or more")
    return Options(letters, singles, warmup, workers)


# --- the report --------------------------------------------------------------------------------------


def _met(ok: bool) -> str:
    return "**PASS**" if ok else "**FAIL**"


def _judged(f: Figures, ok: bool) -> str:
    """A batch target is of 2,000 letters: a smaller batch (``--letters``) is not judged."""
    return _met(ok) if f.batch_letters >= BATCH_LETTERS else f"not judged (fewer than {BATCH_LETTERS:,} letters)"


def _mb(n: float) -> str:
    return f"{n / MB:,.1f}"


def _stats(values: list[float]) -> str:
    return f"{ms(statistics.median(values))} | {ms(pct(values, 0.9))} | {ms(max(values))}"


def one_letter_p90(f: Figures) -> float:
    """What the one-letter target is judged by: the p90 of a letter made and its PDF fetched."""
    return pct([s.both for s in f.singles], 0.9)


def _report(f: Figures, o: Options, load: tuple[str, str], total_s: float) -> str:
    s = f.singles
    one = one_letter_p90(f)
    m = f.memory
    kinds = ", ".join(f"{n:,} {k}" for k, n in sorted(f.kinds.items(), key=lambda kv: -kv[1]))
    languages = ", ".join(f"{n:,} `{k}`" for k, n in sorted(f.languages.items(), key=lambda kv: -kv[1]))
    district = ", ".join(f"{n:,} {name}" for name, n in f.counts.items())
    workers = f"{o.workers} API worker process{'es' if o.workers > 1 else ''}"
    load_before, load_after = load
    step_rows = "\n".join(
        f"| {step.name}: {STEPS.get(step.name, '')} | {step.start:.1f} | {step.end - step.start:.1f} | {_mb(step.rss)} |"
        for step in f.steps
    )
    return f"""## letters: one letter and a batch of {f.batch_letters:,} through a real `doorstep serve`

Run {date.today().isoformat()} with `scripts/bench letters` on {machine()}; embedded PostgreSQL {f.postgres};
load average (1, 5, 15 min) {load_before} at the start and {load_after} at the end; whole run {total_s / 60:.1f} min.
The demo district (`doorstep demo load --today {f.demo_today}`, {f.load_seconds:.0f} s, then `VACUUM ANALYZE`) in a fresh
database; at the end it held {district}. The server is a real `doorstep serve` (`python -m server.cli serve`) in its
own process on 127.0.0.1 over TCP: {workers} (`DOORSTEP_WORKERS={o.workers}`) and its background worker
(`DOORSTEP_WORKER=inline`: `python -m server.cli worker`, a child of serve, where batches run), JSON request log at INFO
to a file. Before anything was timed the worker had emptied its queue (the demo photos' copies and thumbnails,
{f.queue_seconds:.0f} s). The client is the benchmark's own process: httpx, one keep-alive connection, logged in as
`office1` (office staff: every case) through `POST /auth/login`, one request at a time.

| target | measured | |
|---|---|---|
| one letter ≤ {ONE_TARGET * 1000:.0f} ms | **{ms(one)} ms** p90 of `POST /cases/{{id}}/letters` + `GET /letters/{{id}}/pdf` (client wall time, {len(s)} letters; max {ms(max(x.both for x in s))} ms) | {_met(one <= ONE_TARGET)} |
| a batch of 2,000 letters ≤ {BATCH_TARGET:.0f} s | **{f.batch_wall:.1f} s** for {f.batch_letters:,} letters, from `POST /letter-batches` to the first `GET /letter-batches/{{id}}` that said done | {_judged(f, f.batch_wall <= BATCH_TARGET)} |
| the worker's memory grows ≤ {GROWTH_TARGET // MB} MB during the batch | **{_mb(m.growth)} MB** (peak {_mb(max(m.peak, m.hwm))} MB − {_mb(m.before)} MB before) | {_judged(f, m.growth <= GROWTH_TARGET)} |

**One letter**, {len(s)} of them, each on a different case (open cases first, in an order unrelated to school or
case manager), the kinds in turn ({", ".join(KINDS)}; a truancy notice with a meeting proposed, a custom one with a
short text), after {o.warmup} untimed. Each is made as of the district's today ({f.demo_today}), in the household's
language, then its PDF fetched ({min(x.pages for x in s)} to {max(x.pages for x in s)} page{"s" if max(x.pages for x in s) > 1 else ""}, {statistics.median(x.pdf_bytes for x in s) / 1024:,.0f} KB median).
Client wall time to the last byte; server time is the request log's `ms` (first middleware to the response's start),
matched by `X-Request-ID`.

| | median ms | p90 ms | max ms |
|---|---:|---:|---:|
| `POST /cases/{{id}}/letters` (wall) | {_stats([x.create for x in s])} |
| `GET /letters/{{id}}/pdf` (wall) | {_stats([x.pdf for x in s])} |
| **the two together** (wall) | {_stats([x.both for x in s])} |
| `POST /cases/{{id}}/letters` (server) | {_stats([x.create_server for x in s])} |
| `GET /letters/{{id}}/pdf` (server) | {_stats([x.pdf_server for x in s])} |

**The batch**, as of {f.demo_today}: {f.due:,} students newly due a letter by the rules (after the single letters
above){f", {f.waiting:,} letters asked for already" if f.waiting else ""}; to reach {o.letters:,}, {f.requested_on_cases + f.requested_without_case:,} letters asked for were
written into the database first (`requested`, `custom` with a short text, as a phone's `letter.request` leaves them:
{f.requested_on_cases:,} on the open case of a student not due, {f.requested_without_case:,} on students with no open case, none on a student due).
The batch made **{f.batch_letters:,} letters** ({f.by_rule:,} due by rule, {f.by_request:,} asked for): {kinds}; in {languages}
({f.fallback:,} in English for want of a catalog). Wall time from the POST to done, polling every {POLL_SECONDS * 1000:.0f} ms:
**{f.batch_wall:.1f} s** ({f.batch_letters / f.batch_wall:,.0f} letters/s); the batch's own `created_at` to its last `updated_at`:
{f.batch_server:.1f} s. The merged PDF (`GET /letter-batches/{{id}}/pdf`, {f.download:.1f} s): **{_mb(f.pdf_bytes)} MB, {f.pdf_pages:,} pages**
(counted with pypdf).

**The background worker's memory** over the batch (`/proc/<pid>/status` of `python -m server.cli worker`, found
among serve's children; its `VmHWM` reset through `clear_refs` just before the POST, `VmRSS` sampled every
{SAMPLE_SECONDS * 1000:.0f} ms from a thread of the benchmark, {len(m.samples):,} samples){"" if f.worker_same else " (**the worker was restarted** during the run: the figures are of the process that took the batch)"}:

| RSS before | peak RSS sampled | `VmHWM` | growth (the larger peak − before) | RSS after |
|---:|---:|---:|---:|---:|
| {_mb(m.before)} MB | {_mb(m.peak)} MB | {_mb(m.hwm)} MB | **{_mb(m.growth)} MB** | {_mb(m.after)} MB |

The batch's steps as its progress showed them (each from the first poll that saw it), with the worker's largest RSS
sampled in each:

| step | from the POST, s | took, s | largest RSS, MB |
|---|---:|---:|---:|
{step_rows}
{NOTE}"""
