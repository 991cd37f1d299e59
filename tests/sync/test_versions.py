"""Every version of every record is kept, with who wrote it: a conflict's base is the version the
device started from, on both stores (``Seeder.versions``, ``sync.store.Version``)."""

from __future__ import annotations

import uuid

from schemas.sync import RecordType, Status
from sync.store import PUSH, Principal, Ref
from tests.sync.world import World, household_data, mutation

AT = "2025-03-04T10:00:00Z"


def note(nid: uuid.UUID, case: uuid.UUID, body: str) -> dict[str, object]:
    return {"id": str(nid), "case_id": str(case), "body": body}


async def test_a_stale_save_makes_a_conflict_whose_base_is_the_version_the_device_started_from(world: World) -> None:
    phone, tablet = world.a, Principal(uuid.uuid4(), world.a.user_id, world.a.role)  # one case manager, two devices
    nid = uuid.uuid4()
    ref = Ref(RecordType.VISIT_NOTE, nid)
    await world.push(phone, mutation(1, "visit_note.save", note(nid, world.c1, "The mother says the bus is late.")))
    seen = await world.record(phone, ref)  # what both devices pulled: version 1
    await world.push(tablet, mutation(1, "visit_note.save", note(nid, world.c1, "Bus is late; she works nights."), 1))
    stale = await world.push(phone, mutation(2, "visit_note.save", note(nid, world.c1, "Bus late, mum asleep."), 1))

    (result,) = stale.results
    assert result.status is Status.CONFLICT
    _, conflict = await world.record(phone, Ref(RecordType.CONFLICT, result.conflict_id or uuid.uuid4())) or (0, {})
    assert conflict["base_version"] == 1
    history = {v.version: v for v in await world.backend.seed.versions(ref)}
    assert sorted(history) == [1, 2]  # the conflict wrote nothing to the note
    base = history[conflict["base_version"]]
    assert (base.version, base.data) == seen
    assert base.data["body"] == "The mother says the bus is late."
    assert history[2].data["body"] == conflict["theirs"]["body"] == "Bus is late; she works nights."
    assert conflict["mine"] == {"body": "Bus late, mum asleep."}


async def test_a_version_names_its_user_device_and_mutation(world: World) -> None:
    phone, tablet = world.a, Principal(uuid.uuid4(), world.a.user_id, world.a.role)
    nid = uuid.uuid4()
    await world.push(
        phone,
        mutation(
            1,
            "contact_attempt.create",
            {"id": str(uuid.uuid4()), "case_id": str(world.c1), "at": AT} | {"method": "phone", "outcome": "reached"},
        ),
        mutation(2, "visit_note.save", note(nid, world.c1, "first")),
    )
    await world.push(tablet, mutation(1, "visit_note.save", note(nid, world.c1, "second"), 1))
    history = await world.backend.seed.versions(Ref(RecordType.VISIT_NOTE, nid))
    assert [(v.version, v.written_by, v.client_id, v.mutation_id, v.via) for v in history] == [
        (1, world.a.user_id, phone.client_id, 2, PUSH),
        (2, world.a.user_id, tablet.client_id, 1, PUSH),
    ]
    assert [v.deleted for v in history] == [False, False]
    assert history[0].written_at <= history[1].written_at


async def test_several_changes_in_one_push_keep_one_version_named_by_the_last_mutation(world: World) -> None:
    nid = uuid.uuid4()
    response = await world.push(
        world.a,
        mutation(1, "visit_note.save", note(nid, world.c1, "draft")),
        mutation(2, "visit_note.save", note(nid, world.c1, "draft, fixed"), 1),
    )
    assert [r.version for r in response.results] == [1, 2]
    history = await world.backend.seed.versions(Ref(RecordType.VISIT_NOTE, nid))
    assert [(v.version, v.mutation_id, v.data["body"]) for v in history] == [(2, 2, "draft, fixed")]


async def test_every_record_in_scope_has_its_current_version_kept(world: World) -> None:
    """Whatever wrote it (the seeder, a push, a push's side effect on a case), every record's
    newest kept version is the record as a pull sends it."""
    hid = world.h1
    await world.push(
        world.a,
        mutation(1, "household.update", {"id": str(hid), "changes": {"phone": "555-0199"}}, 1),
        mutation(2, "visit_note.save", note(uuid.uuid4(), world.c1, "text")),
        mutation(
            3,
            "assessment.save",
            {"id": str(uuid.uuid4()), "case_id": str(world.c2), "at": AT} | {"factors": ["bullying"]},
        ),
    )
    await world.backend.seed.put(Ref(RecordType.HOUSEHOLD, world.h2), household_data("555-0300"))
    snapshot = await world.backend.seed.snapshot(world.office.user_id)
    assert {ref.type for ref in snapshot} >= {"household", "student", "case", "visit_note", "assessment"}
    for ref, (version, data) in snapshot.items():
        newest = (await world.backend.seed.versions(ref))[-1]
        assert (newest.version, newest.data, newest.deleted) == (version, data, False), ref


async def test_a_delete_keeps_the_tombstone_as_a_version_and_every_version_before(world: World) -> None:
    ref = Ref(RecordType.HOUSEHOLD, world.h2)
    await world.backend.seed.put(ref, household_data("555-0300"))
    await world.backend.seed.delete(ref)
    history = await world.backend.seed.versions(ref)
    assert [(v.version, v.deleted, v.data["phone"]) for v in history] == [
        (1, False, "555-0202"),
        (2, False, "555-0300"),
        (3, True, "555-0300"),
    ]
    assert {(v.written_by, v.client_id, v.mutation_id, v.via) for v in history} == {(None, None, None, None)}
