"""What a case carries for the phone (``sync.case_summary``): its student's truancy as of the last
evaluation and its open follow-ups. Either one changing is a change of the case, so it reaches a
device whose cursor is past the case's last change of its own. On both stores."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from schemas.sync import Put, RecordType, Status
from schemas.truancy import TruancySummary
from sync.store import Ref
from tests.sync.world import World, case_data, follow_up_data, mutation


def summary(status: str = "truant", unexcused: int = 4, as_of: str = "2025-03-03") -> dict[str, Any]:
    months = [
        {"month": "2025-02", "absences": 1, "unexcused": 0},
        {"month": "2025-03", "absences": 5, "unexcused": unexcused},
    ]
    return {
        "as_of": as_of,
        "school_year": "2024-2025",
        "status": status,
        "rules": ["monthly"] if status == "truant" else [],
        "unexcused": unexcused,
        "absences": 6,
        "absence_percent": 7.5,
        "months": months,
    }


async def puts(world: World, cursor: str) -> tuple[dict[Ref, tuple[int, dict[str, Any]]], str]:
    """The puts a device's pulls bring from ``cursor`` on, and the cursor after them."""
    found: dict[Ref, tuple[int, dict[str, Any]]] = {}
    while True:
        page = await world.pull(world.a, cursor)
        assert not page.reset
        for change in page.changes:
            if isinstance(change, Put):
                found[Ref(change.type, change.id)] = (change.version, change.data)
        cursor = page.cursor
        if not page.has_more:
            return found, cursor


async def test_a_new_case_carries_no_truancy_and_no_follow_ups(world: World) -> None:
    held, _ = await world.pull_all(world.a)
    _, data = held[Ref(RecordType.CASE, world.c1)]
    assert (data["truancy"], data["follow_ups"]) == (None, [])


async def test_an_evaluation_reaches_a_device_whose_cursor_is_past_the_case(world: World) -> None:
    held, cursor = await world.pull_all(world.a)
    version, _ = held[Ref(RecordType.CASE, world.c1)]
    await world.backend.seed.evaluated(world.s1, summary())
    found, cursor = await puts(world, cursor)
    assert set(found) == {Ref(RecordType.CASE, world.c1)}
    new_version, data = found[Ref(RecordType.CASE, world.c1)]
    assert new_version == version + 1
    assert msgspec.convert(data["truancy"], TruancySummary).status == "truant"
    assert data["truancy"] == summary()
    # the same finding again changes nothing, nor does it a day later (a case is not sent to
    # every phone again each day); a new finding is a change again
    await world.backend.seed.evaluated(world.s1, summary())
    assert (await puts(world, cursor))[0] == {}
    await world.backend.seed.evaluated(world.s1, summary(as_of="2025-03-04"))
    assert (await puts(world, cursor))[0] == {}
    await world.backend.seed.evaluated(world.s1, summary(unexcused=5, as_of="2025-03-05"))
    found, _ = await puts(world, cursor)
    assert found[Ref(RecordType.CASE, world.c1)][0] == version + 2
    assert found[Ref(RecordType.CASE, world.c1)][1]["truancy"]["as_of"] == "2025-03-05"


async def test_a_closed_case_keeps_the_summary_it_closed_with(world: World) -> None:
    await world.backend.seed.evaluated(world.s1, summary())
    closed = case_data(world.s1, world.a.user_id, "closed", closed_at="2025-03-05T12:00:00Z")
    await world.backend.seed.put(Ref(RecordType.CASE, world.c1), closed)
    await world.backend.seed.evaluated(world.s1, summary("none", 0))
    version, data = await world.record(world.a, Ref(RecordType.CASE, world.c1)) or (0, {})
    assert (data["status"], data["truancy"]) == ("closed", summary())


async def test_an_office_edit_of_the_case_keeps_what_the_server_keeps_on_it(world: World) -> None:
    fid = uuid.uuid4()
    await world.backend.seed.put(Ref(RecordType.FOLLOW_UP, fid), follow_up_data(world.c1, world.s1))
    await world.backend.seed.evaluated(world.s1, summary())
    await world.backend.seed.put(Ref(RecordType.CASE, world.c1), case_data(world.s1, world.a.user_id, "active"))
    _, data = await world.record(world.a, Ref(RecordType.CASE, world.c1)) or (0, {})
    assert data["status"] == "active"
    assert data["truancy"] == summary()
    assert [f["id"] for f in data["follow_ups"]] == [str(fid)]


async def test_a_case_lists_its_open_follow_ups_soonest_first(world: World) -> None:
    held, cursor = await world.pull_all(world.a)
    version, _ = held[Ref(RecordType.CASE, world.c1)]
    late, soon, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await world.backend.seed.put(Ref(RecordType.FOLLOW_UP, late), follow_up_data(world.c1, world.s1))
    soon_data = follow_up_data(world.c1, world.s1) | {"title": "Meet the parents", "kind": "parent_meeting"}
    await world.backend.seed.put(Ref(RecordType.FOLLOW_UP, soon), soon_data | {"due_on": "2025-03-01"})
    await world.backend.seed.put(Ref(RecordType.FOLLOW_UP, other), follow_up_data(world.c2, world.s2))
    found, cursor = await puts(world, cursor)
    new_version, data = found[Ref(RecordType.CASE, world.c1)]
    assert new_version == version + 2  # one change per follow-up added
    assert data["follow_ups"] == [
        {"id": str(soon), "kind": "parent_meeting", "title": "Meet the parents", "due_on": "2025-03-01"},
        {"id": str(late), "kind": "follow_up", "title": "Call the school nurse", "due_on": "2025-03-10"},
    ]
    assert [f["id"] for f in found[Ref(RecordType.CASE, world.c2)][1]["follow_ups"]] == [str(other)]
    # completing one from the phone takes it off the case, and the case comes with the follow-up
    response = await world.push(
        world.a, mutation(1, "follow_up.complete", {"id": str(soon), "at": "2025-03-01T09:00:00Z"}, base_version=1)
    )
    assert response.results[0].status == Status.APPLIED
    found, _ = await puts(world, cursor)
    assert set(found) == {Ref(RecordType.FOLLOW_UP, soon), Ref(RecordType.CASE, world.c1)}
    assert [f["id"] for f in found[Ref(RecordType.CASE, world.c1)][1]["follow_ups"]] == [str(late)]
    assert found[Ref(RecordType.CASE, world.c1)][0] == version + 3
    held, _ = await world.pull_all(world.a)
    assert held == await world.backend.seed.snapshot(world.a.user_id)
