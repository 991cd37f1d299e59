"""The Store contract (sync/store.py), as one suite every backend must pass.

``StoreSuite`` takes the ``backend`` fixture (tests/sync/conftest.py), so adding a backend there
runs the whole class against it. A behaviour only one store has is a bug in the other.
"""

from __future__ import annotations

import uuid

import msgspec
import pytest

from schemas.sync import MutationResult, Put, RecordType, Status
from sync.policies import RECORD_TYPES
from sync.store import CASE_HOME, VISIT_HOME, Batch, Current, Data, Outcome, Ref, Write
from tests.sync.world import World, case_data, household_data, student_data


class StoreSuite:
    # --- push side --------------------------------------------------------------------------------

    async def test_a_new_client_starts_at_zero_bound_to_its_user(self, world: World) -> None:
        async with world.backend.tx() as store:
            state = await store.lock_client(world.a.client_id, world.a.user_id)
        assert (state.client_id, state.user_id, state.last_mutation_id) == (world.a.client_id, world.a.user_id, 0)

    async def test_commit_batch_stores_writes_outcomes_and_last_mutation_id_together(self, world: World) -> None:
        ref = Ref(RecordType.CONTACT_ATTEMPT, uuid.uuid4())
        data: dict[str, object] = {
            "case_id": str(world.c1),
            "method": "phone",
            "outcome": "reached",
            "at": "2025-01-01T00:00:00Z",
        }
        data |= {"note": None, "created_by": str(world.a.user_id)}
        applied = MutationResult(1, Status.APPLIED, version=1)
        rejected = MutationResult(2, Status.REJECTED, error=None)
        async with world.backend.tx() as store:
            await store.lock_client(world.a.client_id, world.a.user_id)
            batch = Batch(
                world.a.client_id,
                2,
                [Write(ref, 1, data, None)],
                [Outcome(applied, "contact_attempt.create"), Outcome(rejected, "x.y", b'{"id":2,"name":"x.y"}')],
            )
            await store.commit_batch(batch)
        async with world.backend.tx() as store:
            state = await store.lock_client(world.a.client_id, world.b.user_id)
            assert (state.last_mutation_id, state.user_id) == (2, world.a.user_id)
            assert await store.stored_results(world.a.client_id, [1, 2, 3]) == {1: applied, 2: rejected}
            loaded = await store.load(world.a.user_id, [ref])
        assert loaded == {ref: Current(1, data)}
        outcomes = await world.backend.seed.outcomes(world.a.client_id)
        assert (outcomes[2].name, outcomes[2].raw, outcomes[1].raw) == ("x.y", b'{"id":2,"name":"x.y"}', None)

    async def test_load_answers_a_cases_home_through_its_student_in_the_same_read(self, world: World) -> None:
        located = household_data("555-0101") | {"latitude": 40.5, "longitude": -75.25}
        version = await world.backend.seed.put(Ref(RecordType.HOUSEHOLD, world.h1), located)
        lonely = uuid.uuid4()
        await world.backend.seed.put(Ref(RecordType.STUDENT, lonely), student_data(f"L-{lonely.hex[:8]}", None))
        await world.backend.seed.put(Ref(RecordType.CASE, lonely), case_data(lonely, world.b.user_id))
        refs = [Ref(CASE_HOME, c) for c in (world.c1, world.c3, lonely, uuid.uuid4())]
        refs.append(Ref(RecordType.CASE, world.c1))
        async with world.backend.tx() as store:
            loaded = await store.load(world.a.user_id, refs)
        assert loaded[refs[0]] == Current(version, {"latitude": 40.5, "longitude": -75.25})
        assert loaded[refs[1]] == Current(1, {"latitude": None, "longitude": None}, in_scope=False)
        assert loaded[refs[2]] == Current(0, {"latitude": None, "longitude": None}, in_scope=False)
        assert refs[3] not in loaded
        assert loaded[refs[4]].data["opened_at"] == case_data(world.s1, None)["opened_at"]

    async def test_load_answers_a_visits_home_through_its_case_in_the_same_read(self, world: World) -> None:
        located = household_data("555-0101") | {"latitude": 40.5, "longitude": -75.25}
        version = await world.backend.seed.put(Ref(RecordType.HOUSEHOLD, world.h1), located)
        on_c1, on_c3 = uuid.uuid4(), uuid.uuid4()
        for vid, case, who in ((on_c1, world.c1, world.a), (on_c3, world.c3, world.b)):
            data = {"case_id": str(case), "created_by": str(who.user_id), "status": "open"}
            await world.backend.seed.put(Ref(RecordType.VISIT_LOG, vid), _visit_data(data))
        refs = [Ref(VISIT_HOME, v) for v in (on_c1, on_c3, uuid.uuid4())]
        async with world.backend.tx() as store:
            loaded = await store.load(world.a.user_id, refs)
        assert loaded[refs[0]] == Current(version, {"latitude": 40.5, "longitude": -75.25})
        assert loaded[refs[1]] == Current(1, {"latitude": None, "longitude": None}, in_scope=False)
        assert refs[2] not in loaded

    async def test_load_reads_many_types_at_once_with_tombstones_and_scope(self, world: World) -> None:
        await world.backend.seed.delete(Ref(RecordType.HOUSEHOLD, world.h2))
        refs = [
            Ref(RecordType.CASE, world.c1),
            Ref(RecordType.CASE, world.c3),
            Ref(RecordType.HOUSEHOLD, world.h1),
            Ref(RecordType.HOUSEHOLD, world.h2),
            Ref(RecordType.VISIT_NOTE, uuid.uuid4()),
        ]
        async with world.backend.tx() as store:
            loaded = await store.load(world.a.user_id, refs)
        assert set(loaded) == set(refs[:4])
        assert loaded[refs[0]] == Current(1, case_data(world.s1, world.a.user_id), deleted=False, in_scope=True)
        assert loaded[refs[1]].in_scope is False
        assert loaded[refs[2]].in_scope is True
        assert (loaded[refs[3]].deleted, loaded[refs[3]].version, loaded[refs[3]].in_scope) == (True, 2, False)

    async def test_a_write_from_a_stale_load_is_refused(self, world: World) -> None:
        ref = Ref(RecordType.HOUSEHOLD, world.h1)
        async with world.backend.tx() as store:
            await store.lock_client(world.a.client_id, world.a.user_id)
            with pytest.raises(Exception):  # noqa: B017 - each backend has its own error
                await store.commit_batch(Batch(world.a.client_id, 1, [Write(ref, 2, household_data("x"), 7)], []))

    # --- pull side --------------------------------------------------------------------------------

    async def test_first_pull_brings_exactly_the_scope(self, world: World) -> None:
        for who in (world.a, world.b, world.sup, world.office):
            records, _ = await world.pull_all(who)
            assert records == await world.backend.seed.snapshot(who.user_id)
        a, _ = await world.pull_all(world.a)
        assert {r.id for r in a} == {world.c1, world.c2, world.s1, world.s2, world.h1}
        sup, _ = await world.pull_all(world.sup)
        assert {r.id for r in sup} == {world.c1, world.c2, world.c3, world.s1, world.s2, world.s3, world.h1, world.h2}

    async def test_a_counselor_pulls_nothing(self, world: World) -> None:
        counselor = type(world.a)(uuid.uuid4(), uuid.uuid4(), world.a.role.ATTENDANCE_COUNSELOR)
        await world.backend.seed.user(counselor.user_id, counselor.role)
        records, _ = await world.pull_all(counselor)
        assert records == {}

    async def test_pages_are_bounded_by_rows_and_bytes(self, world: World) -> None:
        page = await world.pull(world.a, limit=2)
        assert (len(page.changes), page.has_more) == (2, True)
        async with world.backend.tx() as store:
            tiny = await store.changes(world.a, None, 100, max_bytes=1)
        assert (len(tiny.changes), tiny.has_more) == (1, True)
        held: dict[Ref, tuple[int, dict[str, object]]] = {}
        cursor = None
        while True:  # one change a page still gets there
            async with world.backend.tx() as store:
                p = await store.changes(world.a, cursor, 100, max_bytes=1)
            for c in p.changes:
                assert isinstance(c, Put) and len(msgspec.json.encode(c)) > 1
                held[Ref(c.type, c.id)] = (c.version, c.data)
            cursor = p.cursor
            if not p.has_more:
                break
        assert held == await world.backend.seed.snapshot(world.a.user_id)

    async def test_a_delta_brings_only_what_changed(self, world: World) -> None:
        records, cursor = await world.pull_all(world.a)
        version = await world.backend.seed.put(Ref(RecordType.HOUSEHOLD, world.h1), household_data("555-7777"))
        await world.backend.seed.put(Ref(RecordType.HOUSEHOLD, world.h2), household_data("not mine"))
        page = await world.pull(world.a, cursor)
        assert [(c.type, c.id, c.version) for c in page.changes] == [("household", world.h1, version)]
        assert (page.has_more, page.reset) == (False, False)
        empty = await world.pull(world.a, page.cursor)
        assert empty.changes == []

    async def test_the_same_cursor_can_be_pulled_again(self, world: World) -> None:
        _, cursor = await world.pull_all(world.a)
        await world.backend.seed.put(Ref(RecordType.HOUSEHOLD, world.h1), household_data("1"))
        first = await world.pull(world.a, cursor)
        second = await world.pull(world.a, cursor)
        assert first.changes == second.changes and len(first.changes) == 1

    async def test_a_deleted_record_arrives_as_del(self, world: World) -> None:
        records, cursor = await world.pull_all(world.a)
        version = await world.backend.seed.delete(Ref(RecordType.HOUSEHOLD, world.h1))
        page = await world.pull(world.a, cursor)
        assert [(c.type, c.id, c.version, type(c).__name__) for c in page.changes] == [
            ("household", world.h1, version, "Del")
        ]

    async def test_reassignment_moves_the_whole_case(self, world: World) -> None:
        note = Ref(RecordType.VISIT_NOTE, uuid.uuid4())
        await world.backend.seed.put(
            note, {"case_id": str(world.c2), "author_id": str(world.a.user_id), "body": "x", "status": "draft"}
        )
        a_before, a_cursor = await world.pull_all(world.a)
        b_before, b_cursor = await world.pull_all(world.b)
        await world.backend.seed.put(Ref(RecordType.CASE, world.c2), case_data(world.s2, world.b.user_id))
        a_after, _ = await world.pull_all(world.a, a_cursor, a_before)
        b_after, _ = await world.pull_all(world.b, b_cursor, b_before)
        assert a_after == await world.backend.seed.snapshot(world.a.user_id)
        assert b_after == await world.backend.seed.snapshot(world.b.user_id)
        gone = {r.id for r in a_before} - {r.id for r in a_after}
        assert gone == {world.c2, world.s2, note.id}, "h1 stays: a still reaches it through c1"
        assert {world.c2, world.s2, world.h1, note.id} <= {r.id for r in b_after}

    async def test_an_unknown_cursor_resets(self, world: World) -> None:
        page = await world.pull(world.a, "no-such-cursor")
        assert page.reset is True
        records, _ = await world.pull_all(world.a, "no-such-cursor")
        assert records == await world.backend.seed.snapshot(world.a.user_id)

    async def test_another_clients_cursor_resets(self, world: World) -> None:
        _, cursor = await world.pull_all(world.b)
        assert (await world.pull(world.a, cursor)).reset is True

    async def test_pull_carries_the_clients_last_mutation_id(self, world: World) -> None:
        assert (await world.pull(world.a)).last_mutation_id == 0
        async with world.backend.tx() as store:
            await store.lock_client(world.a.client_id, world.a.user_id)
            await store.commit_batch(
                Batch(world.a.client_id, 3, [], [Outcome(MutationResult(i, Status.REJECTED), "x") for i in (1, 2, 3)])
            )
        assert (await world.pull(world.a)).last_mutation_id == 3

    async def test_a_new_student_and_household_under_a_case_arrive(self, world: World) -> None:
        _, cursor = await world.pull_all(world.a)
        h, s = uuid.uuid4(), uuid.uuid4()
        await world.backend.seed.put(Ref(RecordType.HOUSEHOLD, h), household_data("new"))
        await world.backend.seed.put(Ref(RecordType.STUDENT, s), student_data("9", h))
        await world.backend.seed.put(Ref(RecordType.CASE, world.c1), case_data(s, world.a.user_id))
        page = await world.pull(world.a, cursor)
        assert {(c.type, c.id) for c in page.changes if isinstance(c, Put)} >= {
            ("case", world.c1),
            ("student", s),
            ("household", h),
        }
        assert {(c.type, c.id) for c in page.changes if not isinstance(c, Put)} == {("student", world.s1)}


def _visit_data(given: Data) -> Data:
    """A visit log record's data: ``given`` over an open check-in without a fix."""
    blank = dict.fromkeys(RECORD_TYPES[RecordType.VISIT_LOG].fields)
    return blank | {"checked_in_at": "2025-03-04T10:00:00Z", "flags": []} | given
