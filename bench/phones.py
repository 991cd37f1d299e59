"""The phones: the client side of ``bench sync`` over TCP, in a process of its own.

``python -m bench.phones PLAN RESULT`` reads a plan (JSON), drives a real ``doorstep serve`` on
127.0.0.1 as phones do (one keep-alive HTTP connection each, real logins, whole JSON bodies
encoded and answers decoded and checked) and, for the push's baseline, PostgreSQL directly with
asyncpg, then writes each request's wall time and request id (the server logs its own time under
that id). It imports nothing of the server. Every loop is bounded by the plan's counts and every
request by a timeout.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import msgspec

SYNC_BATCH = 50
BENCH_PASSWORD = "bench password, not a secret"
REQUEST_SECONDS = 60.0
INSERT = (
    "INSERT INTO contact_attempt (id, case_id, method, outcome, at, note, created_by, device_id) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
)

AttemptRow = tuple[uuid.UUID, uuid.UUID, str, str, datetime, str]


def attempt(cases: list[uuid.UUID], n: int) -> AttemptRow:
    """The ``n``-th contact attempt a phone records: id, case, method, outcome, time, note."""
    at = datetime(2026, 3, 2, 15, 0, tzinfo=UTC) + timedelta(minutes=n)
    return (uuid.uuid4(), cases[n % len(cases)], "phone", "left_message", at, "Called the mother at work.")


def attempt_mutation(row: AttemptRow) -> dict[str, Any]:
    id_, case_id, method, outcome, at, note = row
    args = {"id": id_, "case_id": case_id, "method": method, "outcome": outcome, "at": at.isoformat(), "note": note}
    return {"name": "contact_attempt.create", "args": args}


def push_body(device_id: uuid.UUID, first_id: int, mutations: list[dict[str, Any]]) -> bytes:
    """A push request of ``mutations`` numbered from ``first_id``."""
    numbered = [{"id": first_id + n, **m} for n, m in enumerate(mutations)]
    return msgspec.json.encode({"client_id": device_id, "schema_version": 1, "mutations": numbered})


# --- the plan and the results (JSON between the processes) -------------------------------------


class PhoneSpec(msgspec.Struct):
    username: str
    user_id: uuid.UUID
    device_id: uuid.UUID
    cases: list[uuid.UUID] = []


class PushPlan(msgspec.Struct, tag="push"):
    """Each round: every device sends ``batches`` batches of raw ``executemany``, then of ``POST
    /sync/push`` (the same rows' shape), one after the other; the devices run concurrently."""

    base_url: str
    dsn: str
    phones: list[PhoneSpec]
    batches: int
    rounds: int
    paths: list[str] = msgspec.field(default_factory=lambda: ["executemany", "http"])


class PullTarget(msgspec.Struct):
    name: str
    base_url: str
    puller: PhoneSpec
    big: PhoneSpec
    cursor: str


class PullPlan(msgspec.Struct, tag="pull"):
    """``repeats`` pulls of 50 changes from the puller's cursor, the targets in alternation; then
    ``initial_repeats`` initial syncs of the big caseload at each page limit."""

    targets: list[PullTarget]
    repeats: int
    limits: list[int]
    initial_repeats: int


class Timed(msgspec.Struct):
    wall: float
    latencies: list[float]
    request_ids: list[str]
    rows: int = 0


class PushResult(msgspec.Struct, tag="push"):
    runs: dict[str, list[Timed]]
    """``executemany`` and ``http``: one run a round."""


class InitialSync(msgspec.Struct):
    wall: float
    pages: int
    records: int
    request_ids: list[str]


class TargetResult(msgspec.Struct):
    pulls: Timed
    initial: dict[int, list[InitialSync]]


class PullResult(msgspec.Struct, tag="pull"):
    targets: dict[str, TargetResult]


Plan = PushPlan | PullPlan
Result = PushResult | PullResult


# --- the client ---------------------------------------------------------------------------------


def _local(base_url: str) -> str:
    if urlsplit(base_url).hostname != "127.0.0.1":
        raise SystemExit(f"the benchmark's phones only talk to 127.0.0.1, not {base_url}")
    return base_url


def _client(base_url: str, connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=_local(base_url), timeout=REQUEST_SECONDS, limits=limits, trust_env=False)


async def login(client: httpx.AsyncClient, phone: PhoneSpec) -> dict[str, str]:
    device = {"id": str(phone.device_id), "name": "bench phone", "platform": "android", "app_version": "1.0.0"}
    body = {"username": phone.username, "password": BENCH_PASSWORD, "device": device}
    r = await client.post("/auth/login", json=body)
    if r.status_code != 200:
        raise SystemExit(f"login of {phone.username} answered {r.status_code}: {r.text[:300]}")
    return {"Authorization": f"Bearer {r.json()['access_token']}", "Content-Type": "application/json"}


async def timed(count: int, batches: int, send: Callable[[int, int], Awaitable[str]]) -> Timed:
    """Devices ``0..count-1`` each send ``batches`` batches one after the other, concurrently."""
    latencies: list[float] = []
    ids: list[str] = []

    async def device(d: int) -> None:
        for b in range(batches):
            started = time.perf_counter()
            ids.append(await send(d, b))
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(device(d) for d in range(count)))
    return Timed(time.perf_counter() - started, latencies, ids, count * batches * SYNC_BATCH)


async def run_push(plan: PushPlan) -> PushResult:
    async with asyncio.timeout(3600):
        return await _run_push(plan)


async def _run_push(plan: PushPlan) -> PushResult:
    phones = plan.phones
    counter = itertools.count()
    next_id = [1] * len(phones)
    raw = [await asyncpg.connect(plan.dsn) for _ in phones]
    try:
        async with _client(plan.base_url, len(phones)) as client:
            headers = [await login(client, p) for p in phones]

            def rows(d: int) -> list[tuple[Any, ...]]:
                p = phones[d]
                return [(*attempt(p.cases, next(counter)), p.user_id, p.device_id) for _ in range(SYNC_BATCH)]

            def body(d: int) -> bytes:
                mutations = [attempt_mutation(attempt(phones[d].cases, next(counter))) for _ in range(SYNC_BATCH)]
                encoded = push_body(phones[d].device_id, next_id[d], mutations)
                next_id[d] += SYNC_BATCH
                return encoded

            payloads: list[list[Any]] = []

            async def executemany(d: int, b: int) -> str:
                conn = raw[d]
                async with conn.transaction():
                    await conn.executemany(INSERT, payloads[d][b])
                return ""

            def http(tag: str) -> Callable[[int, int], Awaitable[str]]:
                async def send(d: int, b: int) -> str:
                    request_id = f"bench-{tag}-{d}-{b}"
                    r = await client.post(
                        "/sync/push", content=payloads[d][b], headers={**headers[d], "X-Request-ID": request_id}
                    )
                    if r.status_code != 200:
                        raise SystemExit(f"push answered {r.status_code}: {r.text[:300]}")
                    results = msgspec.json.decode(r.content)["results"]
                    if len(results) != SYNC_BATCH or any(x["status"] != "applied" for x in results):
                        raise SystemExit(f"push not applied: {r.text[:300]}")
                    return request_id

                return send

            def plan_payloads(make: Callable[[int], Any], n: int) -> None:
                """Make every device's payloads before the clock starts."""
                payloads[:] = [[make(d) for _ in range(n)] for d in range(len(phones))]

            def raw_path(tag: str) -> Callable[[int, int], Awaitable[str]]:
                return executemany

            paths: dict[str, tuple[Callable[[int], Any], Callable[[str], Callable[[int, int], Awaitable[str]]]]] = {
                "executemany": (rows, raw_path),
                "http": (body, http),
            }
            # Warm up each path once a device (connections, prepared statements, caches).
            for name in plan.paths:
                make, send = paths[name]
                plan_payloads(make, 1)
                await timed(len(phones), 1, send("warm"))
            runs: dict[str, list[Timed]] = {name: [] for name in plan.paths}
            for round_ in range(plan.rounds):
                for name in plan.paths:
                    make, send = paths[name]
                    plan_payloads(make, plan.batches)
                    runs[name].append(await timed(len(phones), plan.batches, send(f"push{round_}")))
            return PushResult(runs)
    finally:
        for conn in raw:
            await conn.close()


async def _pull(
    client: httpx.AsyncClient, phone: PhoneSpec, headers: dict[str, str], cursor: str | None, limit: int, rid: str
) -> tuple[float, dict[str, Any]]:
    """One pull page: its wall time at the client (the answer decoded), and the page."""
    body = msgspec.json.encode({"client_id": phone.device_id, "schema_version": 1, "cursor": cursor, "limit": limit})
    started = time.perf_counter()
    r = await client.post("/sync/pull", content=body, headers={**headers, "X-Request-ID": rid})
    if r.status_code != 200:
        raise SystemExit(f"pull answered {r.status_code}: {r.text[:300]}")
    page: dict[str, Any] = msgspec.json.decode(r.content)
    return time.perf_counter() - started, page


MAX_PAGES = 1000


async def _initial(
    client: httpx.AsyncClient, phone: PhoneSpec, headers: dict[str, str], limit: int, tag: str
) -> InitialSync:
    """From ``cursor=None`` until ``has_more`` is false (at most MAX_PAGES pages)."""
    total, records, cursor = 0.0, 0, None
    ids: list[str] = []
    for page_no in range(MAX_PAGES):
        request_id = f"{tag}-{page_no}"
        elapsed, page = await _pull(client, phone, headers, cursor, limit, request_id)
        total += elapsed
        records += len(page["changes"])
        ids.append(request_id)
        cursor = page["cursor"]
        if not page["has_more"]:
            return InitialSync(total, page_no + 1, records, ids)
    raise SystemExit(f"the initial sync did not end within {MAX_PAGES} pages")


async def run_pull(plan: PullPlan) -> PullResult:
    async with asyncio.timeout(3600):
        clients = [_client(t.base_url, 2) for t in plan.targets]
        try:
            pullers = [await login(c, t.puller) for c, t in zip(clients, plan.targets, strict=True)]
            bigs = [await login(c, t.big) for c, t in zip(clients, plan.targets, strict=True)]
            pulls = {t.name: Timed(0.0, [], []) for t in plan.targets}
            initial: dict[str, dict[int, list[InitialSync]]] = {t.name: {} for t in plan.targets}
            for n in range(-3, plan.repeats):  # three warm-up pulls
                for c, t, h in zip(clients, plan.targets, pullers, strict=True):
                    request_id = f"bench-pull-{t.name}-{n}"
                    elapsed, page = await _pull(c, t.puller, h, t.cursor, 50, request_id)
                    if len(page["changes"]) != 50 or not page["has_more"]:
                        raise SystemExit(f"expected 50 changes and more: {len(page['changes'])}, {page['has_more']}")
                    if n >= 0:
                        pulls[t.name].latencies.append(elapsed)
                        pulls[t.name].request_ids.append(request_id)
            for limit in plan.limits:
                for c, t, h in zip(clients, plan.targets, bigs, strict=True):
                    await _initial(c, t.big, h, limit, f"bench-initial-warm-{t.name}-{limit}")
                for n in range(plan.initial_repeats):
                    for c, t, h in zip(clients, plan.targets, bigs, strict=True):
                        sync = await _initial(c, t.big, h, limit, f"bench-initial-{t.name}-{limit}-{n}")
                        initial[t.name].setdefault(limit, []).append(sync)
        finally:
            for c in clients:
                await c.aclose()
    return PullResult({name: TargetResult(pulls[name], initial[name]) for name in pulls})


async def run(plan: Plan) -> Result:
    if isinstance(plan, PushPlan):
        return await run_push(plan)
    return await run_pull(plan)


def main() -> None:
    plan_path, result_path = Path(sys.argv[1]), Path(sys.argv[2])
    plan: Plan = msgspec.json.decode(plan_path.read_bytes(), type=Plan)
    result = asyncio.run(run(plan))
    result_path.write_bytes(msgspec.json.encode(result))


if __name__ == "__main__":
    main()
