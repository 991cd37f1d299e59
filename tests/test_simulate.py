"""The device simulator (``scripts/simulate``, ``bench.simulate``): its faults are really injected
and its checks see a loss (so a passing run is not vacuous), and a small run with every fault,
against a real ``doorstep serve``, finds nothing lost."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import msgspec
import pytest

from bench.served import Served
from bench.simulate import checks
from bench.simulate.checks import Report
from bench.simulate.faults import FAULTS, PULL, PUSH, REFRESH, TUS_PATCH, Answer, Faulty, Request, Wire
from bench.simulate.phone import Phone
from schemas.auth import Role
from schemas.sync import Error, MutationResult, RecordType, Status
from server.audit import Actor
from server.auth import service as auth_service
from server.db import create_engine, create_session_factory, session_scope
from sync.client import TransportError

OK = Answer(200, {}, b"{}")


class Recorder:
    """A server that answers 200 to everything and remembers what arrived, in order."""

    def __init__(self) -> None:
        self.arrived: list[bytes] = []
        self.times: list[float] = []

    async def __call__(self, request: Request) -> Answer:
        self.arrived.append(request.body)
        self.times.append(asyncio.get_running_loop().time())
        return OK


def faulty(recorder: Recorder, *force: str, rate: float = 0.0, faults: tuple[str, ...] = tuple(FAULTS)) -> Faulty:
    return Faulty(recorder, faults, rate, random.Random(1), force=list(force))


def push(body: bytes) -> Request:
    return Request(PUSH, "POST", "/sync/push", {}, body)


async def test_a_dropped_request_never_arrives() -> None:
    server = Recorder()
    with pytest.raises(TransportError):
        await faulty(server, "drop_request")(push(b"a"))
    assert server.arrived == []


async def test_a_dropped_response_arrived_but_the_phone_never_hears() -> None:
    server = Recorder()
    with pytest.raises(TransportError):
        await faulty(server, "drop_response")(push(b"a"))
    assert server.arrived == [b"a"]


async def test_a_duplicate_arrives_twice_and_the_phone_hears_once() -> None:
    server = Recorder()
    assert await faulty(server, "duplicate")(push(b"a")) == OK
    assert server.arrived == [b"a", b"a"]


async def test_a_delayed_request_times_out_on_the_phone_and_arrives_later_once() -> None:
    server = Recorder()
    net = faulty(server, "delay")
    sent = asyncio.get_running_loop().time()
    with pytest.raises(TransportError):
        await net(push(b"a"))
    await net.settle()
    assert server.arrived == [b"a"] and server.times[0] - sent >= 0.05


async def test_a_reordered_retry_brings_an_old_request_again_before_the_new_one() -> None:
    server = Recorder()
    net = faulty(server)
    await net(push(b"old"))
    net.force.append("reorder")
    await net(Request(PULL, "POST", "/sync/pull", {}, b"new"))
    assert server.arrived == [b"old", b"old", b"new"]


async def test_a_refresh_is_never_replayed_out_of_order() -> None:
    """After the reuse grace a replayed refresh token is what theft looks like."""
    server = Recorder()
    net = faulty(server, rate=1.0, faults=("reorder",))
    await net(Request(REFRESH, "POST", "/auth/refresh", {}, b"token"))
    await net(Request(REFRESH, "POST", "/auth/refresh", {}, b"token"))
    assert server.arrived == [b"token", b"token"] and not net.injected


async def test_faults_go_only_where_they_apply_at_the_rate_asked() -> None:
    server = Recorder()
    net = faulty(server, rate=1.0, faults=("cut_upload",))
    for _ in range(20):
        await net(push(b"a"))  # a push has no body to cut
    assert len(server.arrived) == 20 and not net.injected
    net = faulty(server, rate=0.5, faults=("drop_request",))
    dropped = 0
    for _ in range(400):
        try:
            await net(push(b"a"))
        except TransportError:
            dropped += 1
    assert 150 < dropped < 250 and net.injected == {("drop_request", PUSH): dropped}


async def test_a_cut_upload_sends_half_the_announced_body_then_closes_the_connection() -> None:
    """On a real socket: the server reads headers announcing the whole chunk, half of it, then EOF."""
    received = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.set_result(await reader.read())  # until the phone closes
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    wire = Wire(f"http://127.0.0.1:{port}")
    net = Faulty(wire, tuple(FAULTS), 0.0, random.Random(1), force=["cut_upload"])
    chunk = bytes(range(256)) * 40
    try:
        with pytest.raises(TransportError):
            await net(Request(TUS_PATCH, "PATCH", "/uploads/x", {"Upload-Offset": "0"}, chunk))
        data = await asyncio.wait_for(received, 10)
    finally:
        await wire.close()
        server.close()
        await server.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"PATCH /uploads/x HTTP/1.1")
    assert f"Content-Length: {len(chunk)}".encode() in head
    assert body == chunk[: len(chunk) // 2]


@pytest.mark.slow
async def test_five_phones_with_every_fault_lose_nothing(fresh_database: str, tmp_path: Path) -> None:
    """``scripts/simulate`` at N=5 against a real server: exit 0, every check passed, every fault
    injected, and the table's totals add up."""
    engine = create_engine(fresh_database)
    try:  # a user first, so that serve does not load the demo district
        async with session_scope(create_session_factory(engine)) as s:
            await auth_service.create_user(
                s, Actor.system("test"), username="admin", password="not used", role=Role.ADMIN
            )
    finally:
        await engine.dispose()
    report_path = tmp_path / "report.json"
    with Served(fresh_database, tmp_path, "simulate", workers=1) as served:
        command = [sys.executable, "-m", "bench.simulate", "--url", served.base_url]
        command += ["--database-url", fresh_database, "--data-dir", str(served.folder / "var")]
        command += ["--devices", "5", "--rounds", "3", "--seed", "7", "--fault-rate", "0.4"]
        command += ["--json", str(report_path)]
        done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "Nothing lost." in done.stdout
    report = msgspec.json.decode(report_path.read_bytes(), type=Report)
    assert report.ok and all(check.failed == 0 for check in report.checks)
    assert set(report.injected) == set(FAULTS), report.injected
    by_name = {check.name: check for check in report.checks}
    mutations = by_name["every mutation on the server once, or kept with its reason"]
    assert mutations.checked == sum(report.mutations.values()) == sum(report.outcomes.values()) > 40
    assert by_name["phones hold exactly what a fresh full pull brings"].checked == 5
    assert by_name["photos received, stored bytes match their sha256"].checked == report.activity["photos sent"] > 0
    assert report.outcomes.get("conflict", 0) > 0 and report.outcomes.get("rejected", 0) > 0


class _Queue:
    """What the checks read of a phone's client: its stored outcomes."""

    def __init__(self, results: dict[int, MutationResult]) -> None:
        self.results = results

    def result(self, mutation_id: int) -> MutationResult | None:
        return self.results.get(mutation_id)


def _phone(sent: dict[int, tuple[str, dict[str, Any]]], results: dict[int, MutationResult]) -> Phone:
    manager = SimpleNamespace(username="cm")
    return cast(Phone, SimpleNamespace(manager=manager, sent=sent, client=_Queue(results)))


def test_the_checks_see_a_lost_an_extra_a_disagreeing_and_an_unexplained_mutation() -> None:
    conflict = uuid.uuid4()
    args: dict[str, Any] = {"id": str(uuid.uuid4())}
    sent = {i: ("contact_attempt.create", args) for i in range(1, 7)}
    mine = {
        1: MutationResult(1, Status.APPLIED),
        2: MutationResult(2, Status.ALREADY_PROCESSED, original=Status.APPLIED),
        3: MutationResult(3, Status.APPLIED),
        4: MutationResult(4, Status.REJECTED),
        5: MutationResult(5, Status.CONFLICT, conflict_id=conflict),
    }
    server = {i: ("contact_attempt.create", mine[i]) for i in (1, 2, 4, 5)}
    server[3] = ("contact_attempt.create", MutationResult(3, Status.REJECTED, error=Error("malformed")))
    server[7] = ("contact_attempt.create", MutationResult(7, Status.APPLIED))
    tally = checks._Tally("mutations")
    checks.check_mutations(tally, _phone(sent, mine), server, {}, Counter())
    found = tally.done()
    assert found.checked == 7 and found.failed == 5, found.examples
    assert "#1" not in " ".join(found.examples) and "#2" not in " ".join(found.examples)


def test_the_checks_see_a_record_missing_and_an_update_applied_twice() -> None:
    contact, referral = uuid.uuid4(), uuid.uuid4()
    sent: dict[int, tuple[str, dict[str, Any]]] = {
        1: ("contact_attempt.create", {"id": str(contact)}),
        2: ("service_referral.create", {"id": str(referral)}),
        3: ("service_referral.update", {"id": str(referral)}),
    }
    server = {i: (name, MutationResult(i, Status.APPLIED)) for i, (name, _) in sent.items()}
    twice = {"updates": [{"note": "Update 1"}, {"note": "Update 1"}]}
    fresh: checks.Records = {(RecordType.SERVICE_REFERRAL, referral): (3, twice)}
    tally = checks._Tally("effects")
    checks.check_effects(tally, _phone(sent, {}), server, fresh)
    assert tally.done().failed == 2, tally.failures
    fresh[(RecordType.CONTACT_ATTEMPT, contact)] = (1, {})
    fresh[(RecordType.SERVICE_REFERRAL, referral)] = (2, {"updates": [{"note": "Update 1"}]})
    tally = checks._Tally("effects")
    checks.check_effects(tally, _phone(sent, {}), server, fresh)
    assert tally.done().failed == 0 and tally.checked == 3
