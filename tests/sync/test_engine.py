"""The push and pull decisions: every status, every error code, every conflict policy."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from schemas.mutations import MUTATION_TYPES
from schemas.sync import PullRequest, PushRequest, RecordType, Status
from sync import engine
from sync.handlers import HANDLERS
from sync.store import Ref
from tests.sync.world import World, mutation

AT = "2025-03-04T10:00:00Z"


def contact(cid: uuid.UUID, case: uuid.UUID, at: str = AT, **extra: Any) -> dict[str, Any]:
    return {"id": str(cid), "case_id": str(case), "method": "phone", "outcome": "reached", "at": at} | extra


def note(nid: uuid.UUID, case: uuid.UUID, body: str) -> dict[str, Any]:
    return {"id": str(nid), "case_id": str(case), "body": body}


def test_every_mutation_in_the_union_has_a_handler() -> None:
    assert set(HANDLERS) == set(MUTATION_TYPES)


# --- ordering and exactly-once -------------------------------------------------------------------


async def test_applied_create_advances_last_mutation_id(world: World) -> None:
    cid = uuid.uuid4()
    response = await world.push(world.a, mutation(1, "contact_attempt.create", contact(cid, world.c1, note="hi")))
    assert response.last_mutation_id == 1
    assert [(r.id, r.status, r.version) for r in response.results] == [(1, Status.APPLIED, 1)]
    version, data = await world.record(world.a, Ref(RecordType.CONTACT_ATTEMPT, cid)) or (0, {})
    assert version == 1
    assert data == {
        "case_id": str(world.c1),
        "method": "phone",
        "outcome": "reached",
        "at": AT,
        "note": "hi",
        "created_by": str(world.a.user_id),
    }


async def test_replayed_batch_is_already_processed_with_the_original_outcome(world: World) -> None:
    batch = [
        mutation(1, "contact_attempt.create", contact(uuid.uuid4(), world.c1)),
        mutation(2, "contact_attempt.create", contact(uuid.uuid4(), world.c3)),
    ]
    first = await world.push(world.a, *batch)
    again = await world.push(world.a, *batch)
    assert [r.status for r in first.results] == [Status.APPLIED, Status.REJECTED]
    assert [(r.status, r.original) for r in again.results] == [
        (Status.ALREADY_PROCESSED, Status.APPLIED),
        (Status.ALREADY_PROCESSED, Status.REJECTED),
    ]
    assert again.results[0].version == 1
    assert again.results[1].error == first.results[1].error
    assert again.last_mutation_id == 2
    assert len(await world.backend.seed.outcomes(world.a.client_id)) == 2


async def test_an_id_repeated_inside_a_batch_is_already_processed(world: World) -> None:
    m = mutation(1, "contact_attempt.create", contact(uuid.uuid4(), world.c1))
    response = await world.push(world.a, m, m)
    assert [r.status for r in response.results] == [Status.APPLIED, Status.ALREADY_PROCESSED]


async def test_a_gap_stops_the_batch_and_is_reported(world: World) -> None:
    c1, c3 = uuid.uuid4(), uuid.uuid4()
    response = await world.push(
        world.a,
        mutation(1, "contact_attempt.create", contact(c1, world.c1)),
        mutation(3, "contact_attempt.create", contact(c3, world.c1)),
    )
    assert response.last_mutation_id == 1
    assert [r.id for r in response.results] == [1]
    assert response.gap is not None and (response.gap.expected, response.gap.received) == (2, 3)
    assert await world.record(world.a, Ref(RecordType.CONTACT_ATTEMPT, c3)) is None


async def test_a_batch_starting_after_a_gap_applies_nothing(world: World) -> None:
    response = await world.push(world.a, mutation(5, "contact_attempt.create", contact(uuid.uuid4(), world.c1)))
    assert (response.last_mutation_id, response.results) == (0, [])
    assert response.gap is not None and response.gap.expected == 1


# --- rejections ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["visit_log.delete", "form_photo.upload"])
async def test_unknown_mutation_names_are_malformed(world: World, name: str) -> None:
    response = await world.push(world.a, mutation(1, name, {"id": str(uuid.uuid4())}))
    assert response.results[0].status is Status.REJECTED
    assert response.results[0].error is not None and response.results[0].error.code == "malformed"


async def test_malformed_mutation_is_stored_raw_and_the_queue_moves_on(world: World) -> None:
    bad = mutation(1, "contact_attempt.create", contact(uuid.uuid4(), world.c1, method="pigeon"))
    good = mutation(2, "contact_attempt.create", contact(uuid.uuid4(), world.c1))
    response = await world.push(world.a, bad, good)
    assert [r.status for r in response.results] == [Status.REJECTED, Status.APPLIED]
    assert response.last_mutation_id == 2
    stored = (await world.backend.seed.outcomes(world.a.client_id))[1]
    assert stored.name == "contact_attempt.create"
    assert stored.raw is not None and msgspec.json.decode(stored.raw) == bad


async def test_a_mutation_whose_name_is_not_a_string_is_malformed(world: World) -> None:
    response = await world.push(world.a, {"id": 1, "name": 7, "args": {}})
    assert response.results[0].error is not None and response.results[0].error.code == "malformed"
    assert (await world.backend.seed.outcomes(world.a.client_id))[1].name == "7"


async def test_a_mutation_without_an_id_refuses_the_envelope(world: World) -> None:
    with pytest.raises(engine.SyncError) as e:
        await world.push(world.a, {"name": "contact_attempt.create", "args": {}})
    assert (e.value.status, e.value.code) == (400, "malformed")


async def test_naive_datetimes_are_malformed(world: World) -> None:
    m = mutation(1, "contact_attempt.create", contact(uuid.uuid4(), world.c1, at="2025-03-04T10:00:00"))
    response = await world.push(world.a, m)
    assert response.results[0].error is not None and response.results[0].error.code == "malformed"


@pytest.mark.parametrize(("case_attr", "code"), [("c3", "not_in_scope"), (None, "unknown_case")])
async def test_business_rule_failures_are_rejected_and_touch_nothing(
    world: World, case_attr: str | None, code: str
) -> None:
    case = getattr(world, case_attr) if case_attr else uuid.uuid4()
    cid = uuid.uuid4()
    response = await world.push(world.a, mutation(1, "contact_attempt.create", contact(cid, case)))
    result = response.results[0]
    assert (result.status, result.error and result.error.code) == (Status.REJECTED, code)
    assert response.last_mutation_id == 1
    assert await world.record(world.office, Ref(RecordType.CONTACT_ATTEMPT, cid)) is None
    stored = (await world.backend.seed.outcomes(world.a.client_id))[1]
    assert stored.raw is not None, "the refused data is kept"


async def test_deleted_case_is_unknown(world: World) -> None:
    await world.backend.seed.delete(Ref(RecordType.CASE, world.c1))
    response = await world.push(world.a, mutation(1, "contact_attempt.create", contact(uuid.uuid4(), world.c1)))
    assert response.results[0].error is not None and response.results[0].error.code == "unknown_case"


async def test_household_outside_scope_and_unknown_records_are_rejected(world: World) -> None:
    response = await world.push(
        world.a,
        mutation(1, "household.update", {"id": str(world.h2), "changes": {"phone": "1"}}, 1),
        mutation(2, "household.update", {"id": str(uuid.uuid4()), "changes": {"phone": "1"}}, 1),
        mutation(3, "visit_note.submit", {"id": str(uuid.uuid4())}, 1),
        mutation(4, "household.update", {"id": str(world.h1), "changes": {}}, 1),
    )
    codes = [r.error.code if r.error else None for r in response.results]
    assert codes == ["not_in_scope", "unknown_record", "unknown_record", "malformed"]


async def test_read_only_roles_cannot_write(world: World) -> None:
    response = await world.push(world.sup, mutation(1, "contact_attempt.create", contact(uuid.uuid4(), world.c1)))
    assert response.results[0].error is not None and response.results[0].error.code == "read_only"


async def test_unsupported_schema_version_is_refused_whole(world: World) -> None:
    request = PushRequest(world.a.client_id, 99, [])
    async with world.backend.tx() as store:
        with pytest.raises(engine.SyncError) as e:
            await engine.push(store, world.a, request)
        assert e.value.code == "version_not_supported"
        with pytest.raises(engine.SyncError):
            await engine.pull(store, world.a, PullRequest(world.a.client_id, 0))


async def test_another_devices_client_id_is_forbidden(world: World) -> None:
    request = PushRequest(world.b.client_id, 1, [])
    async with world.backend.tx() as store:
        with pytest.raises(engine.SyncError) as e:
            await engine.push(store, world.a, request)
    assert (e.value.status, e.value.code) == (403, "forbidden")


async def test_a_client_bound_to_another_user_is_forbidden(world: World) -> None:
    await world.push(world.a, mutation(1, "contact_attempt.create", contact(uuid.uuid4(), world.c1)))
    thief = type(world.a)(world.a.client_id, world.b.user_id, world.b.role)
    with pytest.raises(engine.SyncError) as e:
        await world.push(thief, mutation(2, "contact_attempt.create", contact(uuid.uuid4(), world.c3)))
    assert e.value.status == 403


# --- insert-only ---------------------------------------------------------------------------------


async def test_duplicate_create_is_a_no_op(world: World) -> None:
    cid = uuid.uuid4()
    args = contact(cid, world.c1)
    response = await world.push(
        world.a, mutation(1, "contact_attempt.create", args), mutation(2, "contact_attempt.create", args)
    )
    assert [(r.status, r.version) for r in response.results] == [(Status.APPLIED, 1), (Status.APPLIED, 1)]
    records = await world.backend.seed.snapshot(world.a.user_id)
    assert sum(ref.type == RecordType.CONTACT_ATTEMPT for ref in records) == 1


async def test_duplicate_id_with_other_content_is_a_conflict_not_an_overwrite(world: World) -> None:
    cid = uuid.uuid4()
    response = await world.push(
        world.a,
        mutation(1, "contact_attempt.create", contact(cid, world.c1)),
        mutation(2, "contact_attempt.create", contact(cid, world.c1, outcome="no_answer")),
    )
    assert response.results[1].status is Status.CONFLICT
    version, data = await world.record(world.a, Ref(RecordType.CONTACT_ATTEMPT, cid)) or (0, {})
    assert (version, data["outcome"]) == (1, "reached")
    conflict = await world.record(world.a, Ref(RecordType.CONFLICT, response.results[1].conflict_id or uuid.uuid4()))
    assert conflict is not None and conflict[1]["kind"] == "duplicate_id"
    assert conflict[1]["mine"]["outcome"] == "no_answer"


@pytest.mark.parametrize("deleted", [False, True])
async def test_an_id_of_another_caseloads_record_is_rejected_and_reveals_nothing(world: World, deleted: bool) -> None:
    """Issue 9, finding 2: a create naming another caseload's contact attempt answered a
    ``duplicate_id`` conflict whose row carried the foreign record to the sender's next pull (and a
    deleted one could be written back under the sender's case)."""
    cid = uuid.uuid4()
    await world.push(world.a, mutation(1, "contact_attempt.create", contact(cid, world.c1, note="a's secret")))
    ref = Ref(RecordType.CONTACT_ATTEMPT, cid)
    if deleted:
        await world.backend.seed.delete(ref)
    before = await world.record(world.office, ref)

    response = await world.push(world.b, mutation(1, "contact_attempt.create", contact(cid, world.c3, note="b")))

    result = response.results[0]
    assert (result.status, result.error and result.error.code, result.conflict_id) == (
        Status.REJECTED,
        "not_in_scope",
        None,
    )
    assert "secret" not in msgspec.json.encode(response).decode()
    assert await world.record(world.office, ref) == before  # untouched: not moved, not restored
    held, _ = await world.pull_all(world.b)
    assert not [r for r in held if r.type == RecordType.CONFLICT]
    assert b"secret" not in msgspec.json.encode(list(held.values()))


# --- per-field last-writer-wins ------------------------------------------------------------------


async def test_household_update_changes_only_the_fields_sent(world: World) -> None:
    changes = {"phone": "555-9999", "alt_phone": None}
    response = await world.push(world.a, mutation(1, "household.update", {"id": str(world.h1), "changes": changes}, 1))
    assert (response.results[0].status, response.results[0].version) == (Status.APPLIED, 2)
    version, data = await world.record(world.a, Ref(RecordType.HOUSEHOLD, world.h1)) or (0, {})
    assert (version, data["phone"], data["alt_phone"], data["language"]) == (2, "555-9999", None, "en")


async def test_household_stale_base_applies_per_field_and_records_a_conflict(world: World) -> None:
    ref = Ref(RecordType.HOUSEHOLD, world.h1)
    await world.push(world.a, mutation(1, "household.update", {"id": str(world.h1), "changes": {"phone": "1"}}, 1))
    stale = {"id": str(world.h1), "changes": {"language": "es"}}
    response = await world.push(world.a, mutation(2, "household.update", stale, 1))
    result = response.results[0]
    assert (result.status, result.version) == (Status.CONFLICT, 3)
    version, data = await world.record(world.a, ref) or (0, {})
    assert (version, data["phone"], data["language"]) == (3, "1", "es")
    conflict = await world.record(world.a, Ref(RecordType.CONFLICT, result.conflict_id or uuid.uuid4()))
    assert conflict is not None
    assert conflict[1] | {"theirs": None} == {
        "record_type": "household",
        "record_id": str(world.h1),
        "kind": "stale_base",
        "base_version": 1,
        "mine": {"language": "es"},
        "theirs": None,
        "theirs_version": 2,
        "author_id": str(world.a.user_id),
        "client_id": str(world.a.client_id),
        "mutation_id": 2,
        "status": "open",
        "resolved_at": None,
        "resolution": None,
    }
    assert conflict[1]["theirs"]["phone"] == "1"


async def test_last_writer_in_server_order_wins_whatever_the_device_clocks(world: World) -> None:
    a_change = {"id": str(world.h1), "changes": {"phone": "from-a"}}
    await world.push(world.a, mutation(1, "household.update", a_change, 1))
    await world.backend.seed.put(
        Ref(RecordType.CASE, world.c2), {**(await _case(world, world.c2)), "case_manager_id": str(world.b.user_id)}
    )
    # b now reaches h1 through c2 (s2, s1's sibling; a student has one open case at a time);
    # her change arrives later, so it wins
    b_change = {"id": str(world.h1), "changes": {"phone": "from-b"}}
    response = await world.push(world.b, mutation(1, "household.update", b_change, 1))
    assert response.results[0].status is Status.CONFLICT
    _, data = await world.record(world.a, Ref(RecordType.HOUSEHOLD, world.h1)) or (0, {})
    assert data["phone"] == "from-b"


async def _case(world: World, case: uuid.UUID) -> dict[str, Any]:
    found = await world.record(world.office, Ref(RecordType.CASE, case))
    assert found is not None
    return found[1]


# --- keep-both and the state machine -------------------------------------------------------------


async def test_note_save_then_edit_from_its_version(world: World) -> None:
    nid = uuid.uuid4()
    response = await world.push(
        world.a,
        mutation(1, "visit_note.save", note(nid, world.c1, "v1")),
        mutation(2, "visit_note.save", note(nid, world.c1, "v2"), 1),
    )
    assert [(r.status, r.version) for r in response.results] == [(Status.APPLIED, 1), (Status.APPLIED, 2)]
    _, data = await world.record(world.a, Ref(RecordType.VISIT_NOTE, nid)) or (0, {})
    assert data == {"case_id": str(world.c1), "author_id": str(world.a.user_id), "body": "v2", "status": "draft"} | {
        "visit_log_id": None,
        "review_status": None,
        "review_comment": None,
        "reviewed_by": None,
        "reviewed_at": None,
    }


async def test_note_save_from_a_stale_base_keeps_both_texts(world: World) -> None:
    nid = uuid.uuid4()
    await world.push(
        world.a,
        mutation(1, "visit_note.save", note(nid, world.c1, "base")),
        mutation(2, "visit_note.save", note(nid, world.c1, "server text"), 1),
    )
    response = await world.push(world.a, mutation(3, "visit_note.save", note(nid, world.c1, "phone text"), 1))
    result = response.results[0]
    assert (result.status, result.version) == (Status.CONFLICT, 2)
    _, data = await world.record(world.a, Ref(RecordType.VISIT_NOTE, nid)) or (0, {})
    assert data["body"] == "server text"
    _, conflict = await world.record(world.a, Ref(RecordType.CONFLICT, result.conflict_id or uuid.uuid4())) or (0, {})
    assert (conflict["kind"], conflict["mine"], conflict["theirs"]["body"]) == (
        "stale_base",
        {"body": "phone text"},
        "server text",
    )


async def test_save_then_submit_in_one_batch_sees_the_earlier_mutation(world: World) -> None:
    nid = uuid.uuid4()
    response = await world.push(
        world.a,
        mutation(1, "visit_note.save", note(nid, world.c1, "text")),
        mutation(2, "visit_note.submit", {"id": str(nid)}, 1),
    )
    assert [(r.status, r.version) for r in response.results] == [(Status.APPLIED, 1), (Status.APPLIED, 2)]
    _, data = await world.record(world.a, Ref(RecordType.VISIT_NOTE, nid)) or (0, {})
    assert data["status"] == "submitted"


async def test_submit_against_a_stale_version_is_a_conflict_and_stays_draft(world: World) -> None:
    nid = uuid.uuid4()
    response = await world.push(
        world.a,
        mutation(1, "visit_note.save", note(nid, world.c1, "a")),
        mutation(2, "visit_note.save", note(nid, world.c1, "b"), 1),
        mutation(3, "visit_note.submit", {"id": str(nid)}, 1),
        mutation(4, "visit_note.submit", {"id": str(nid)}),
    )
    assert [r.status for r in response.results] == [Status.APPLIED, Status.APPLIED, Status.CONFLICT, Status.REJECTED]
    _, data = await world.record(world.a, Ref(RecordType.VISIT_NOTE, nid)) or (0, {})
    assert data["status"] == "draft"


async def test_a_submitted_note_is_frozen(world: World) -> None:
    nid = uuid.uuid4()
    response = await world.push(
        world.a,
        mutation(1, "visit_note.save", note(nid, world.c1, "final")),
        mutation(2, "visit_note.submit", {"id": str(nid)}, 1),
        mutation(3, "visit_note.save", note(nid, world.c1, "late edit"), 2),
        mutation(4, "visit_note.submit", {"id": str(nid)}, 2),
    )
    assert [(r.status, r.version) for r in response.results][2:] == [(Status.CONFLICT, 2), (Status.APPLIED, 2)]
    _, data = await world.record(world.a, Ref(RecordType.VISIT_NOTE, nid)) or (0, {})
    assert (data["body"], data["status"]) == ("final", "submitted")
    _, conflict = await world.record(
        world.a, Ref(RecordType.CONFLICT, response.results[2].conflict_id or uuid.uuid4())
    ) or (0, {})
    assert (conflict["kind"], conflict["mine"]) == ("frozen", {"body": "late edit"})


async def test_a_note_saved_under_another_case_is_rejected(world: World) -> None:
    nid = uuid.uuid4()
    response = await world.push(
        world.a,
        mutation(1, "visit_note.save", note(nid, world.c1, "x")),
        mutation(2, "visit_note.save", note(nid, world.c2, "y"), 1),
    )
    assert response.results[1].error is not None and response.results[1].error.code == "case_mismatch"


@pytest.mark.parametrize("kind", ["household", "visit_note"])
async def test_edit_against_delete_restores_the_record_and_records_the_pair(world: World, kind: str) -> None:
    nid = uuid.uuid4()
    if kind == "household":
        ref = Ref(RecordType.HOUSEHOLD, world.h1)
        edit = mutation(2, "household.update", {"id": str(world.h1), "changes": {"phone": "7"}}, 1)
    else:
        ref = Ref(RecordType.VISIT_NOTE, nid)
        edit = mutation(2, "visit_note.save", note(nid, world.c1, "edited"), 1)
    await world.push(world.a, mutation(1, "visit_note.save", note(nid, world.c1, "first")))
    deleted_version = await world.backend.seed.delete(ref)
    assert await world.record(world.a, ref) is None
    response = await world.push(world.a, edit)
    result = response.results[0]
    assert (result.status, result.version) == (Status.CONFLICT, deleted_version + 1)
    assert await world.record(world.a, ref) is not None
    _, conflict = await world.record(world.a, Ref(RecordType.CONFLICT, result.conflict_id or uuid.uuid4())) or (0, {})
    assert (conflict["kind"], conflict["theirs_version"]) == ("edit_vs_delete", deleted_version)


# --- conflicts reach their author ----------------------------------------------------------------


async def test_a_conflict_is_pulled_by_its_author_and_her_supervisor_only(world: World) -> None:
    nid = uuid.uuid4()
    response = await world.push(
        world.a,
        mutation(1, "visit_note.save", note(nid, world.c1, "x")),
        mutation(2, "visit_note.save", note(nid, world.c1, "y"), 7),
    )
    ref = Ref(RecordType.CONFLICT, response.results[1].conflict_id or uuid.uuid4())
    for who, sees in ((world.a, True), (world.b, False), (world.sup, True), (world.office, True)):
        records, _ = await world.pull_all(who)
        assert (ref in records) is sees


# --- clocks --------------------------------------------------------------------------------------


@pytest.mark.parametrize("skew_hours", [-72, 72])
async def test_skewed_device_clocks_change_nothing_but_the_at_field(world: World, skew_hours: int) -> None:
    async def run(w: World, offset: timedelta) -> list[Any]:
        later = datetime(2025, 3, 4, 10, tzinfo=UTC) + offset
        earlier = later - timedelta(hours=1)
        ca, cb = uuid.uuid4(), uuid.uuid4()
        responses = [
            await w.push(w.a, mutation(1, "contact_attempt.create", contact(ca, w.c1, at=later.isoformat()))),
            await w.push(
                w.a,
                mutation(2, "contact_attempt.create", contact(cb, w.c1, at=earlier.isoformat())),
                mutation(3, "household.update", {"id": str(w.h1), "changes": {"phone": "x"}}, 1),
            ),
        ]
        records = await w.backend.seed.snapshot(w.a.user_id)
        return [
            [(r.status, r.version) for response in responses for r in response.results],
            [records[Ref(RecordType.CONTACT_ATTEMPT, c)][0] for c in (ca, cb)],
            records[Ref(RecordType.HOUSEHOLD, w.h1)],
        ]

    other = await World.create(world.backend)
    assert await run(world, timedelta()) == await run(other, timedelta(hours=skew_hours))
