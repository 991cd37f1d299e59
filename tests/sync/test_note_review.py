"""A supervisor's review of a visit note, seen from the phone, on both stores: a returned note is
edited with ``visit_note.save`` and stays returned until it is submitted again; an approved one is
locked (an edit that arrives after the approval is an ``edited_after_approval`` conflict, kept for
review, never written); the review reaches the phone on its next pull.

The decision itself is the server's (``sync.review.decide``, written by the approvals service);
here it is seeded, as an office edit is."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from schemas.sync import RecordType, Status
from schemas.visits import ReviewDecision
from sync import review
from sync.policies import Rejected
from sync.store import Ref
from tests.sync.world import World, mutation

AT = "2025-03-04T10:00:00Z"
DECIDED = datetime(2025, 3, 5, 16, 30, tzinfo=UTC)


def save(nid: uuid.UUID, case: uuid.UUID, body: str, visit: uuid.UUID | None = None) -> dict[str, Any]:
    args = {"id": str(nid), "case_id": str(case), "body": body}
    return args | ({"visit_log_id": str(visit)} if visit else {})


async def submitted_note(world: World) -> tuple[uuid.UUID, uuid.UUID]:
    """A note about a visit, saved and submitted by ``a``: (note id, visit id), at version 2."""
    nid, visit = uuid.uuid4(), uuid.uuid4()
    response = await world.push(
        world.a,
        mutation(1, "visit_log.check_in", {"id": str(visit), "case_id": str(world.c1), "at": AT}),
        mutation(2, "visit_note.save", save(nid, world.c1, "met the mother", visit)),
        mutation(3, "visit_note.submit", {"id": str(nid)}, base_version=1),
    )
    assert [r.status for r in response.results] == [Status.APPLIED] * 3
    return nid, visit


async def decide(world: World, nid: uuid.UUID, decision: ReviewDecision, comment: str | None = None) -> int:
    """The supervisor's decision, as the server writes it; returns the note's new version."""
    ref = Ref(RecordType.VISIT_NOTE, nid)
    found = await world.record(world.a, ref)
    assert found is not None
    _, data = found
    return await world.backend.seed.put(
        ref, data | review.decide(data["status"], decision, comment, world.sup.user_id, DECIDED)
    )


async def note(world: World, nid: uuid.UUID) -> tuple[int, dict[str, Any]]:
    found = await world.record(world.a, Ref(RecordType.VISIT_NOTE, nid))
    assert found is not None
    return found


async def test_a_returned_note_is_edited_on_the_phone_and_submitted_again(world: World) -> None:
    nid, visit = await submitted_note(world)
    held, cursor = await world.pull_all(world.a)
    version = await decide(world, nid, ReviewDecision.RETURN, "Say who was at home")
    held, cursor = await world.pull_all(world.a, cursor, held)
    assert held[Ref(RecordType.VISIT_NOTE, nid)] == (
        version,
        {
            "case_id": str(world.c1),
            "author_id": str(world.a.user_id),
            "body": "met the mother",
            "status": "returned",
            "visit_log_id": str(visit),
            "review_status": "returned",
            "review_comment": "Say who was at home",
            "reviewed_by": str(world.sup.user_id),
            "reviewed_at": "2025-03-05T16:30:00Z",
        },
    )
    edited = await world.push(
        world.a,
        mutation(4, "visit_note.save", save(nid, world.c1, "met the mother and the aunt"), base_version=version),
    )
    assert [(r.status, r.version) for r in edited.results] == [(Status.APPLIED, version + 1)]
    _, data = await note(world, nid)
    assert (data["status"], data["body"]) == ("returned", "met the mother and the aunt"), "it stays returned"
    again = await world.push(world.a, mutation(5, "visit_note.submit", {"id": str(nid)}, base_version=version + 1))
    assert [(r.status, r.version) for r in again.results] == [(Status.APPLIED, version + 2)]
    _, data = await note(world, nid)
    assert (data["status"], data["review_status"], data["review_comment"]) == (
        "submitted",
        "returned",
        "Say who was at home",
    ), "submitted again; the last review stays on the note until the next one"
    approved = await decide(world, nid, ReviewDecision.APPROVE)
    held, _ = await world.pull_all(world.a, cursor, held)
    held_version, data = held[Ref(RecordType.VISIT_NOTE, nid)]
    assert (held_version, data["status"], data["review_status"], data["review_comment"]) == (
        approved,
        "approved",
        "approved",
        None,
    )
    assert held == await world.backend.seed.snapshot(world.a.user_id)


async def test_an_edit_that_arrives_after_approval_is_kept_for_review_and_never_written(world: World) -> None:
    nid, _ = await submitted_note(world)
    version = await decide(world, nid, ReviewDecision.APPROVE, "Thorough")
    before = await note(world, nid)
    late = await world.push(
        world.a,
        mutation(4, "visit_note.save", save(nid, world.c1, "written offline before the approval"), base_version=2),
        mutation(5, "visit_note.submit", {"id": str(nid)}, base_version=3),
        mutation(6, "visit_note.save", save(nid, world.c1, "even from the current version"), base_version=version),
    )
    assert [(r.status, r.version) for r in late.results] == [(Status.CONFLICT, version)] * 3
    assert await note(world, nid) == before, "the approval stands"
    held, _ = await world.pull_all(world.a)
    conflicts = [held[Ref(RecordType.CONFLICT, r.conflict_id or uuid.uuid4())][1] for r in late.results]
    assert [(c["kind"], c["record_id"], c["mine"], c["theirs_version"]) for c in conflicts] == [
        ("edited_after_approval", str(nid), {"body": "written offline before the approval"}, version),
        ("edited_after_approval", str(nid), {"status": "submitted"}, version),
        ("edited_after_approval", str(nid), {"body": "even from the current version"}, version),
    ]
    assert conflicts[0]["theirs"]["status"] == "approved"
    addendum = {"id": str(uuid.uuid4()), "note_id": str(nid), "body": "the bus pass came"}
    added = await world.push(world.a, mutation(7, "visit_note.add_addendum", addendum))
    assert added.results[0].status is Status.APPLIED, "an approved note takes addenda"


async def test_an_approved_note_stays_locked_even_once_deleted(world: World) -> None:
    nid, _ = await submitted_note(world)
    await decide(world, nid, ReviewDecision.APPROVE)
    deleted = await world.backend.seed.delete(Ref(RecordType.VISIT_NOTE, nid))
    response = await world.push(world.a, mutation(4, "visit_note.save", save(nid, world.c1, "back"), base_version=3))
    assert [(r.status, r.version) for r in response.results] == [(Status.CONFLICT, deleted)]
    assert await world.record(world.a, Ref(RecordType.VISIT_NOTE, nid)) is None, "no edit brings it back"
    held, _ = await world.pull_all(world.a)
    conflict = held[Ref(RecordType.CONFLICT, response.results[0].conflict_id or uuid.uuid4())][1]
    assert (conflict["kind"], conflict["mine"]) == ("edited_after_approval", {"body": "back"})


async def test_a_returned_note_keeps_both_texts_from_a_stale_base_and_takes_addenda(world: World) -> None:
    nid, _ = await submitted_note(world)
    version = await decide(world, nid, ReviewDecision.RETURN, "More detail")
    response = await world.push(
        world.a,
        mutation(4, "visit_note.save", save(nid, world.c1, "from the submitted version"), base_version=2),
        mutation(5, "visit_note.submit", {"id": str(nid)}, base_version=2),
        mutation(6, "visit_note.add_addendum", {"id": str(uuid.uuid4()), "note_id": str(nid), "body": "later"}),
    )
    assert [(r.status, r.version) for r in response.results] == [
        (Status.CONFLICT, version),
        (Status.CONFLICT, version),
        (Status.APPLIED, 1),
    ]
    _, data = await note(world, nid)
    assert (data["status"], data["body"]) == ("returned", "met the mother")
    held, _ = await world.pull_all(world.a)
    kinds = [held[Ref(RecordType.CONFLICT, r.conflict_id or uuid.uuid4())][1]["kind"] for r in response.results[:2]]
    assert kinds == ["stale_base", "stale_base"]


async def test_a_submitted_note_awaiting_review_is_still_frozen(world: World) -> None:
    nid, _ = await submitted_note(world)
    response = await world.push(world.a, mutation(4, "visit_note.save", save(nid, world.c1, "late"), base_version=2))
    assert response.results[0].status is Status.CONFLICT
    held, _ = await world.pull_all(world.a)
    assert held[Ref(RecordType.CONFLICT, response.results[0].conflict_id or uuid.uuid4())][1]["kind"] == "frozen"


@pytest.mark.parametrize("state", ["draft", "approved", "returned"])
def test_only_a_submitted_note_is_decided(state: str) -> None:
    for decision in ReviewDecision:
        with pytest.raises(Rejected) as refused:
            review.decide(state, decision, "why", uuid.uuid4(), DECIDED)
        assert refused.value.code == "invalid_transition"
    assert review.decide("submitted", ReviewDecision.RETURN, "why", uuid.UUID(int=1), DECIDED) == {
        "status": "returned",
        "review_status": "returned",
        "review_comment": "why",
        "reviewed_by": str(uuid.UUID(int=1)),
        "reviewed_at": "2025-03-05T16:30:00Z",
    }
