"""The phones of ``bench devices``: a fleet of simulated devices in a process of their own.

``python -m bench.fleet PLAN RESULT`` reads a plan (JSON) and drives a real ``doorstep serve`` on
127.0.0.1 as a district's phones do: each device logs in as its case manager and pulls its whole
caseload, then (``cycle`` plans) until the deadline repeats an exponential think time, a push of
contact attempts and an incremental pull. Every request is recorded: its kind, when it started,
how long it took, its status (0: no answer within the timeout or a broken connection). A 503 with
``Retry-After`` is the server shedding load: recorded, and the device sends the same request again
after the time it was told (with jitter), as the field app does. It imports nothing of the server.
"""

from __future__ import annotations

import asyncio
import random
import resource
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import msgspec

from bench.phones import BENCH_PASSWORD, attempt, attempt_mutation, push_body

REQUEST_SECONDS = 30.0
"""A phone's own timeout: no answer within it is an error (issue 20's first curve saw 30 s ones)."""
PAGE_LIMIT = 500
MAX_RETRIES = 20


class Device(msgspec.Struct):
    username: str
    device_id: uuid.UUID
    cases: list[uuid.UUID]


class FleetPlan(msgspec.Struct):
    base_url: str
    devices: list[Device]
    spread_seconds: float
    """Devices start uniformly over this long (a morning: 60 s)."""
    duration_seconds: float
    """Cycles run until this long after the start (0: login and first sync only)."""
    think_seconds: float = 10.0
    attempts_per_push: int = 5
    seed: int = 20
    signed_in: bool = False
    """Every device logs in and pulls its caseload before the clock starts (a few at a time, not
    counted): a working day's phones are signed in (a refresh token lasts 30 days), so the
    levels measure the day's cycles; the morning measures the logins."""


class Request(msgspec.Struct, array_like=True):
    kind: str
    """login, initial (one page of the first sync), push, pull."""
    started: float
    """Seconds since the fleet's start."""
    seconds: float
    status: int
    retry_after: bool


class FirstSync(msgspec.Struct, array_like=True):
    started: float
    finished: float
    """Seconds since the fleet's start; -1 if it failed."""
    records: int


class FleetResult(msgspec.Struct):
    requests: list[Request]
    first_syncs: list[FirstSync]
    cycles: int
    wall: float
    cpu_seconds: float
    """The fleet process's own CPU (user + system): is the client the bottleneck?"""


class Failed(Exception):
    pass


class Fleet:
    def __init__(self, plan: FleetPlan, client: httpx.AsyncClient) -> None:
        self.plan = plan
        self.client = client
        self.requests: list[Request] = []
        self.first_syncs: list[FirstSync] = []
        self.cycles = 0
        self.t0 = time.monotonic()
        self.rng = random.Random(plan.seed)

    def now(self) -> float:
        return time.monotonic() - self.t0

    async def send(self, kind: str, path: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        """One request, sent again after each shedding 503 (Retry-After); the answer decoded."""
        for _ in range(MAX_RETRIES):
            started = self.now()
            status, retry_after, answer = 0, False, b""
            try:
                r = await self.client.post(path, content=body, headers=headers)
                status, answer = r.status_code, r.content
                retry_after = "retry-after" in r.headers
            except httpx.HTTPError:
                pass
            self.requests.append(Request(kind, started, self.now() - started, status, retry_after))
            if status == 200:
                decoded: dict[str, Any] = msgspec.json.decode(answer)
                return decoded
            if status in (503, 429) and retry_after:
                wait = float(r.headers["retry-after"])
                await asyncio.sleep(wait * self.rng.uniform(0.5, 1.5))
                continue
            raise Failed(f"{kind} answered {status}: {answer[:200]!r}")
        raise Failed(f"{kind} still shed after {MAX_RETRIES} tries")

    async def pull_all(self, kind: str, device: Device, headers: dict[str, str], cursor: str | None) -> tuple[str, int]:
        records = 0
        while True:
            body = {"client_id": device.device_id, "schema_version": 1, "cursor": cursor, "limit": PAGE_LIMIT}
            page = await self.send(kind, "/sync/pull", msgspec.json.encode(body), headers)
            records += len(page["changes"])
            cursor = page["cursor"]
            if not page["has_more"]:
                assert cursor is not None
                return cursor, records

    async def sign_in(self, device: Device) -> tuple[dict[str, str], str, int]:
        """Log in and pull the caseload: the headers, the cursor and the records pulled."""
        login = {
            "username": device.username,
            "password": BENCH_PASSWORD,
            "device": {"id": str(device.device_id), "name": "bench", "platform": "android", "app_version": "1"},
        }
        json = {"Content-Type": "application/json"}
        tokens = await self.send("login", "/auth/login", msgspec.json.encode(login), json)
        headers = {"Authorization": f"Bearer {tokens['access_token']}", "Content-Type": "application/json"}
        cursor, records = await self.pull_all("initial", device, headers, None)
        return headers, cursor, records

    async def device(self, n: int, device: Device, session: tuple[dict[str, str], str] | None = None) -> None:
        plan = self.plan
        await asyncio.sleep(plan.spread_seconds * n / max(1, len(plan.devices)))
        if session is None:
            started = self.now()
            try:
                headers, cursor, records = await self.sign_in(device)
            except Failed:
                self.first_syncs.append(FirstSync(started, -1, 0))
                return
            self.first_syncs.append(FirstSync(started, self.now(), records))
        else:
            headers, cursor = session
        next_id, counter = 1, n * 1_000_000
        while True:
            think = self.rng.expovariate(1 / plan.think_seconds)
            if self.now() + think >= plan.duration_seconds:
                return
            await asyncio.sleep(think)
            try:
                mutations = []
                for _ in range(plan.attempts_per_push):
                    mutations.append(attempt_mutation(attempt(device.cases, counter)))
                    counter += 1
                body = push_body(device.device_id, next_id, mutations)
                answer = await self.send("push", "/sync/push", body, headers)
                next_id += len(mutations)
                if any(r["status"] != "applied" for r in answer["results"]):
                    raise Failed(f"push not applied: {answer['results'][:2]}")
                cursor, _ = await self.pull_all("pull", device, headers, cursor)
                self.cycles += 1
            except Failed:
                continue


async def run(plan: FleetPlan) -> FleetResult:
    n = len(plan.devices)
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    timeout = httpx.Timeout(REQUEST_SECONDS, pool=None)
    cpu0 = _cpu()
    async with httpx.AsyncClient(base_url=plan.base_url, timeout=timeout, limits=limits, trust_env=False) as client:
        fleet = Fleet(plan, client)
        sessions: list[tuple[dict[str, str], str] | None] = [None] * n
        if plan.signed_in:
            sessions = list(await _signed_in(fleet, plan.devices))
            fleet.requests.clear()
            fleet.t0 = time.monotonic()
            cpu0 = _cpu()
        async with asyncio.timeout(plan.spread_seconds + plan.duration_seconds + 600):
            await asyncio.gather(*(fleet.device(i, d, sessions[i]) for i, d in enumerate(plan.devices)))
    return FleetResult(fleet.requests, fleet.first_syncs, fleet.cycles, fleet.now(), _cpu() - cpu0)


async def _signed_in(fleet: Fleet, devices: list[Device]) -> list[tuple[dict[str, str], str]]:
    """Every device signed in and synced, eight at a time."""
    gate = asyncio.Semaphore(8)

    async def one(device: Device) -> tuple[dict[str, str], str]:
        async with gate:
            headers, cursor, _ = await fleet.sign_in(device)
            return headers, cursor

    return list(await asyncio.gather(*(one(d) for d in devices)))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    plan = msgspec.json.decode(Path(sys.argv[1]).read_bytes(), type=FleetPlan)
    Path(sys.argv[2]).write_bytes(msgspec.json.encode(asyncio.run(run(plan))))


if __name__ == "__main__":
    main()
