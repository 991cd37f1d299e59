"""follow_up.complete: open → done with an expected version, and follow-ups in a pull."""

from __future__ import annotations

import uuid
from typing import Any

from schemas.sync import RecordType, Status
from sync.store import Ref
from tests.sync.world import World, follow_up_data, mutation

AT = "2025-03-04T10:00:00Z"


async def seeded(world: World, case: uuid.UUID, student: uuid.UUID) -> uuid.UUID:
    fid = uuid.uuid4()
    await world.backend.seed.put(Ref(RecordType.FOLLOW_UP, fid), follow_up_data(case, student))
    return fid


def complete(fid: uuid.UUID, **extra: Any) -> dict[str, Any]:
    return {"id": str(fid), "at": AT} | extra


async def test_a_follow_up_is_pulled_under_its_case_and_completed_once(world: World) -> None:
    fid = await seeded(world, world.c1, world.s1)
    held, cursor = await world.pull_all(world.a)
    assert held[Ref(RecordType.FOLLOW_UP, fid)] == (1, follow_up_data(world.c1, world.s1))
    b_held, _ = await world.pull_all(world.b)
    assert Ref(RecordType.FOLLOW_UP, fid) not in b_held
    response = await world.push(
        world.a,
        mutation(1, "follow_up.complete", complete(fid, note="done by phone"), base_version=1),
        mutation(2, "follow_up.complete", complete(fid), base_version=1),  # the same, again: a no-op
    )
    assert [(r.status, r.version) for r in response.results] == [(Status.APPLIED, 2), (Status.APPLIED, 2)]
    after, _ = await world.pull_all(world.a, cursor, held)
    _, data = after[Ref(RecordType.FOLLOW_UP, fid)]
    assert (data["status"], data["completed_at"], data["completed_by"], data["note"]) == (
        "done",
        AT,
        str(world.a.user_id),
        "done by phone",
    )
    assert after == await world.backend.seed.snapshot(world.a.user_id)


async def test_completing_from_a_stale_version_is_a_conflict_and_stays_open(world: World) -> None:
    fid = await seeded(world, world.c1, world.s1)
    await world.backend.seed.put(
        Ref(RecordType.FOLLOW_UP, fid), follow_up_data(world.c1, world.s1) | {"title": "Renamed"}
    )
    response = await world.push(world.a, mutation(1, "follow_up.complete", complete(fid), base_version=1))
    (result,) = response.results
    assert (result.status, result.version) == (Status.CONFLICT, 2)
    _, data = await world.record(world.a, Ref(RecordType.FOLLOW_UP, fid)) or (0, {})
    assert data["status"] == "open"


async def test_follow_up_complete_rules(world: World) -> None:
    mine, theirs = await seeded(world, world.c1, world.s1), await seeded(world, world.c3, world.s3)
    response = await world.push(
        world.a,
        mutation(1, "follow_up.complete", complete(mine)),
        mutation(2, "follow_up.complete", complete(theirs), base_version=1),
        mutation(3, "follow_up.complete", complete(uuid.uuid4()), base_version=1),
        mutation(4, "follow_up.complete", {"id": str(mine), "at": "2025-03-04T10:00:00"}, base_version=1),
    )
    codes = [r.error.code if r.error else None for r in response.results]
    assert codes == ["malformed", "not_in_scope", "unknown_record", "malformed"]
