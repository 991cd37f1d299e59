"""The reference client: durable queue, retries, crashes at each point, revocation, reset."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from schemas.sync import RecordType, Status
from sync.client import PUSH_PATH, DeviceRevoked, Reply, SyncClient, SyncFailed, TransportError
from sync.store import Principal, Ref
from tests.sync.transport import Crash, Network, engine_transport, problem
from tests.sync.world import World, household_data


class Device:
    """A phone: its SQLite file, its network, and a way to die and come back."""

    def __init__(self, world: World, who: Principal, folder: Path, revoked: set[uuid.UUID] | None = None) -> None:
        self.world, self.who, self.path = world, who, folder / f"{who.client_id}.sqlite"
        self.net = Network(engine_transport(world.backend, who, revoked))
        self.sleeps: list[float] = []
        self.client = self.open()

    def open(self) -> SyncClient:
        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        return SyncClient(self.path, self.who.client_id, self.net, sleep=sleep, retries=4)

    def restart(self) -> None:
        self.client.close()
        self.client = self.open()

    def contact(self, case: uuid.UUID) -> int:
        args = {"id": str(uuid.uuid4()), "case_id": str(case), "method": "phone", "outcome": "reached"}
        return self.client.enqueue("contact_attempt.create", args | {"at": "2025-01-01T09:00:00+01:00"})


@pytest.fixture
def phone(world: World, tmp_path: Path) -> Iterator[Device]:
    device = Device(world, world.a, tmp_path)
    yield device
    device.client.close()


async def test_queue_is_durable_and_ids_count_up_from_one(phone: Device) -> None:
    assert [phone.contact(phone.world.c1) for _ in range(3)] == [1, 2, 3]
    phone.restart()
    assert phone.client.pending() == [1, 2, 3]
    await phone.client.sync()
    assert phone.client.pending() == []
    result = phone.client.result(2)
    assert result is not None and result.status is Status.APPLIED
    assert sum(t == RecordType.CONTACT_ATTEMPT for t, _ in phone.client.records()) == 3


async def test_push_retries_with_exponential_backoff(phone: Device) -> None:
    phone.contact(phone.world.c1)
    phone.net.faults = ["drop_request", "drop_response", "drop_request"]
    await phone.client.push()
    assert phone.sleeps == [0.5, 1.0, 2.0]
    result = phone.client.result(1)
    assert result is not None and result.status is Status.ALREADY_PROCESSED and result.original is Status.APPLIED


async def test_retries_run_out(phone: Device) -> None:
    phone.contact(phone.world.c1)
    phone.net.faults = ["drop_request"] * 5
    with pytest.raises(SyncFailed):
        await phone.client.push()
    assert phone.client.pending() == [1]


@pytest.mark.parametrize("point", ["crash_before_send", "crash_after_commit", "crash_before_save"])
async def test_a_crash_at_any_point_loses_nothing_and_applies_once(
    phone: Device, point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone.contact(phone.world.c1)
    phone.contact(phone.world.c2)
    if point == "crash_before_save":

        def die(*_: Any) -> None:
            raise Crash(point)

        monkeypatch.setattr(phone.client, "_save_push", die)
    else:
        phone.net.faults = [point]
    with pytest.raises(Crash):
        await phone.client.push()
    monkeypatch.undo()
    phone.restart()
    assert phone.client.pending() == [1, 2]
    await phone.client.sync()
    expected = Status.APPLIED if point == "crash_before_send" else Status.ALREADY_PROCESSED
    assert [r.status for r in (phone.client.result(1), phone.client.result(2)) if r] == [expected, expected]
    outcomes = await phone.world.backend.seed.outcomes(phone.who.client_id)
    assert sorted(outcomes) == [1, 2]
    assert sum(t == RecordType.CONTACT_ATTEMPT for t, _ in phone.client.records()) == 2


async def test_a_crash_before_a_pull_is_saved_pulls_the_same_page_again(
    phone: Device, monkeypatch: pytest.MonkeyPatch
) -> None:
    await phone.client.pull()
    await phone.world.backend.seed.put(Ref(RecordType.HOUSEHOLD, phone.world.h1), household_data("new"))

    def die(*_: Any) -> None:
        raise Crash("before save")

    monkeypatch.setattr(phone.client, "_save_pull", die)
    with pytest.raises(Crash):
        await phone.client.pull()
    monkeypatch.undo()
    phone.restart()
    await phone.client.pull()
    held = {Ref(t, i): v for (t, i), v in phone.client.records().items()}
    assert held == await phone.world.backend.seed.snapshot(phone.who.user_id)


async def test_device_revoked_wipes_the_local_store(world: World, tmp_path: Path) -> None:
    revoked: set[uuid.UUID] = set()
    phone = Device(world, world.a, tmp_path, revoked)
    await phone.client.sync()
    phone.contact(world.c1)
    revoked.add(world.a.client_id)
    with pytest.raises(DeviceRevoked):
        await phone.client.sync()
    assert (phone.client.records(), phone.client.pending(), phone.client.meta("cursor")) == ({}, [], None)


async def test_reset_refetches_and_keeps_pending_mutations(phone: Device) -> None:
    await phone.client.pull()
    phone.client._db.execute("INSERT INTO record VALUES ('case', ?, 1, '{}')", (str(uuid.uuid4()),))
    phone.client._db.execute("UPDATE meta SET value = 'forgotten' WHERE key = 'cursor'")
    phone.client._db.commit()
    phone.contact(phone.world.c1)
    await phone.client.pull()
    held = {Ref(t, i): v for (t, i), v in phone.client.records().items()}
    assert held == await phone.world.backend.seed.snapshot(phone.who.user_id)
    assert phone.client.pending() == [1]


async def test_unsupported_version_and_other_refusals_are_not_retried(tmp_path: Path) -> None:
    calls: list[str] = []

    async def transport(path: str, body: bytes) -> Reply:
        calls.append(path)
        return problem(400, "version_not_supported")

    client = SyncClient(tmp_path / "x.sqlite", uuid.uuid4(), transport)
    client.enqueue("household.update", {})
    with pytest.raises(SyncFailed) as e:
        await client.push()
    assert (e.value.code, calls) == ("version_not_supported", [PUSH_PATH])


async def test_503_and_network_errors_are_retried(tmp_path: Path) -> None:
    replies: list[Reply | Exception] = [
        problem(503, "unavailable"),
        TransportError(),
        Reply(200, b'{"cursor":"c","has_more":false,"reset":false,"last_mutation_id":0,"changes":[]}'),
    ]

    async def transport(path: str, body: bytes) -> Reply:
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def no_sleep(_: float) -> None:
        return None

    client = SyncClient(tmp_path / "x.sqlite", uuid.uuid4(), transport, sleep=no_sleep)
    await client.pull()
    assert client.meta("cursor") == "c"
