"""The note lifecycle around a visit: draft saves linked to a visit log, submit, frozen, addenda."""

from __future__ import annotations

import uuid
from typing import Any

from schemas.sync import RecordType, Status
from sync.store import Ref
from tests.sync.world import World, mutation

AT = "2025-03-04T10:00:00Z"


def save(nid: uuid.UUID, case: uuid.UUID, body: str, visit: uuid.UUID | None = None) -> dict[str, Any]:
    args = {"id": str(nid), "case_id": str(case), "body": body}
    return args | ({"visit_log_id": str(visit)} if visit else {})


def addendum(aid: uuid.UUID, nid: uuid.UUID, body: str) -> dict[str, Any]:
    return {"id": str(aid), "note_id": str(nid), "body": body}


async def test_the_note_lifecycle_with_a_visit_and_addenda(world: World) -> None:
    visit, nid, a1, a2 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    response = await world.push(
        world.a,
        mutation(1, "visit_log.check_in", {"id": str(visit), "case_id": str(world.c1), "at": AT}),
        mutation(2, "visit_note.save", save(nid, world.c1, "draft 1", visit)),
        mutation(3, "visit_note.save", save(nid, world.c1, "draft 2"), base_version=1),  # an older phone's save
        mutation(4, "visit_note.add_addendum", addendum(a1, nid, "too early")),
        mutation(5, "visit_note.submit", {"id": str(nid)}, base_version=2),
        mutation(6, "visit_note.save", save(nid, world.c1, "changed after submit", visit), base_version=3),
        mutation(7, "visit_note.add_addendum", addendum(a1, nid, "the father called back")),
        mutation(8, "visit_note.add_addendum", addendum(a2, nid, "and again")),
    )
    statuses = [r.status for r in response.results]
    assert statuses == [Status.APPLIED] * 3 + [Status.REJECTED, Status.APPLIED, Status.CONFLICT] + [Status.APPLIED] * 2
    assert response.results[3].error is not None and response.results[3].error.code == "not_submitted"
    held, _ = await world.pull_all(world.a)
    version, note = held[Ref(RecordType.VISIT_NOTE, nid)]
    assert (version, note["body"], note["status"], note["visit_log_id"]) == (3, "draft 2", "submitted", str(visit))
    assert held[Ref(RecordType.VISIT_NOTE_ADDENDUM, a1)] == (
        1,
        {"note_id": str(nid), "body": "the father called back", "author_id": str(world.a.user_id)},
    )
    assert Ref(RecordType.VISIT_NOTE_ADDENDUM, a2) in held
    assert held == await world.backend.seed.snapshot(world.a.user_id)
    # the same addendum again is a no-op; other text under its id is a conflict, not an overwrite
    again = await world.push(
        world.a,
        mutation(9, "visit_note.add_addendum", addendum(a1, nid, "the father called back")),
        mutation(10, "visit_note.add_addendum", addendum(a1, nid, "rewritten")),
    )
    assert [(r.status, r.version) for r in again.results] == [(Status.APPLIED, 1), (Status.CONFLICT, 1)]


async def test_keep_both_on_a_stale_base_then_an_addendum(world: World) -> None:
    nid = uuid.uuid4()
    await world.push(world.a, mutation(1, "visit_note.save", save(nid, world.c1, "v1")))
    await world.push(world.a, mutation(2, "visit_note.save", save(nid, world.c1, "v2"), base_version=1))
    stale = await world.push(world.a, mutation(3, "visit_note.save", save(nid, world.c1, "from v1"), base_version=1))
    assert stale.results[0].status is Status.CONFLICT
    await world.push(world.a, mutation(4, "visit_note.submit", {"id": str(nid)}, base_version=2))
    added = await world.push(world.a, mutation(5, "visit_note.add_addendum", addendum(uuid.uuid4(), nid, "more")))
    assert added.results[0].status is Status.APPLIED
    _, note = await world.record(world.a, Ref(RecordType.VISIT_NOTE, nid)) or (0, {})
    assert (note["body"], note["status"]) == ("v2", "submitted")


async def test_addenda_and_links_stay_in_their_case(world: World) -> None:
    nid, visit = uuid.uuid4(), uuid.uuid4()
    await world.push(
        world.a,
        mutation(1, "visit_log.check_in", {"id": str(visit), "case_id": str(world.c1), "at": AT}),
        mutation(2, "visit_note.save", save(nid, world.c1, "x")),
        mutation(3, "visit_note.submit", {"id": str(nid)}, base_version=1),
    )
    response = await world.push(
        world.a,
        mutation(4, "visit_note.save", save(uuid.uuid4(), world.c2, "y", visit)),
        mutation(5, "visit_note.save", save(uuid.uuid4(), world.c1, "y", uuid.uuid4())),
        mutation(6, "visit_note.add_addendum", addendum(uuid.uuid4(), uuid.uuid4(), "z")),
        mutation(7, "visit_note.add_addendum", addendum(uuid.uuid4(), nid, "")),
    )
    codes = [r.error.code if r.error else None for r in response.results]
    assert codes == ["case_mismatch", "unknown_record", "unknown_record", "malformed"]
    stranger = await world.push(world.b, mutation(1, "visit_note.add_addendum", addendum(uuid.uuid4(), nid, "z")))
    assert stranger.results[0].error is not None and stranger.results[0].error.code == "not_in_scope"
    b_held, _ = await world.pull_all(world.b)
    assert not any(r.type == RecordType.VISIT_NOTE_ADDENDUM for r in b_held)
