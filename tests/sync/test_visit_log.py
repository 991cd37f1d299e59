"""Visit logs: check-in and check-out, and the flags reconciliation puts on them (both stores)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.sync import RecordType, Status
from sync import flags
from sync.store import Ref
from tests.sync.world import OPENED_AT, World, case_data, household_data, mutation

HOME = (40.0, -75.0)
METRES_PER_DEGREE = 2 * 3.141592653589793 * flags.EARTH_RADIUS_M / 360


def north(metres: float) -> tuple[float, float]:
    return HOME[0] + metres / METRES_PER_DEGREE, HOME[1]


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def recent() -> str:
    return iso(datetime.now(UTC) - timedelta(hours=1))


def check_in(
    vid: uuid.UUID,
    case: uuid.UUID,
    at: str | None = None,
    at_m: float | None = 0.0,
    accuracy: float = 10.0,
    **extra: Any,
) -> dict[str, Any]:
    args: dict[str, Any] = {"id": str(vid), "case_id": str(case), "at": at or recent()}
    if at_m is not None:
        lat, lon = north(at_m)
        args |= {"latitude": lat, "longitude": lon, "accuracy_m": accuracy}
    return args | extra


async def geocode(world: World) -> None:
    lat, lon = HOME
    await world.backend.seed.put(
        Ref(RecordType.HOUSEHOLD, world.h1), household_data("555-0101") | {"latitude": lat, "longitude": lon}
    )


async def flags_of(world: World, args: dict[str, Any], who: Any = None) -> list[str]:
    response = await world.push(who or world.a, mutation(1, "visit_log.check_in", args))
    (result,) = response.results
    assert result.status is Status.APPLIED, result
    return result.flags


def test_haversine_is_about_111_km_a_degree_of_latitude() -> None:
    assert flags.haversine_m(0, 0, 1, 0) == pytest.approx(111_195, abs=1)
    assert flags.haversine_m(*HOME, *north(150)) == pytest.approx(150, abs=0.01)


async def test_a_check_in_now_at_home_on_an_open_case_of_ones_own_has_no_flags(world: World) -> None:
    await geocode(world)
    vid = uuid.uuid4()
    assert await flags_of(world, check_in(vid, world.c1, at_m=3)) == []
    version, data = await world.record(world.a, Ref(RecordType.VISIT_LOG, vid)) or (0, {})
    assert version == 1
    assert (data["status"], data["flags"], data["created_by"]) == ("open", [], str(world.a.user_id))
    assert data["distance_m"] == pytest.approx(3, abs=0.1)


@pytest.mark.parametrize(
    ("metres", "accuracy", "expected"),
    [
        (140, 0, []),
        (160, 0, ["location_mismatch"]),
        (200, 10, ["location_mismatch"]),  # 190 m beyond what the fix can be off by
        (200, 60, []),  # the same spot, a fix 60 m off: it cannot prove the visit was elsewhere
        (240, 100, []),
        (240, 101, ["location_low_accuracy"]),  # 139 m: no mismatch either, but a poor fix
        (1000, 101, ["location_mismatch", "location_low_accuracy"]),
    ],
)
async def test_location_flags_on_both_sides_of_their_thresholds(
    world: World, metres: float, accuracy: float, expected: list[str]
) -> None:
    await geocode(world)
    assert await flags_of(world, check_in(uuid.uuid4(), world.c1, at_m=metres, accuracy=accuracy)) == expected


async def test_no_fix_is_location_missing_and_no_home_is_home_not_geocoded(world: World) -> None:
    await geocode(world)
    assert await flags_of(world, check_in(uuid.uuid4(), world.c1, at_m=None)) == ["location_missing"]
    # h2 (case c3, b's) has no coordinates
    vid = uuid.uuid4()
    assert await flags_of(world, check_in(vid, world.c3, at_m=0), world.b) == ["home_not_geocoded"]
    _, data = await world.record(world.b, Ref(RecordType.VISIT_LOG, vid)) or (0, {})
    assert data["distance_m"] is None
    no_fix = check_in(uuid.uuid4(), world.c3, at_m=None)
    response = await world.push(world.b, mutation(2, "visit_log.check_in", no_fix))
    assert response.results[0].flags == ["location_missing", "home_not_geocoded"]


@pytest.mark.parametrize(("ahead", "expected"), [(timedelta(hours=23), []), (timedelta(hours=25), ["time_in_future"])])
async def test_a_device_time_more_than_a_day_ahead_is_flagged_and_stored_as_sent(
    world: World, ahead: timedelta, expected: list[str]
) -> None:
    await geocode(world)
    at = iso(datetime.now(UTC) + ahead)
    vid = uuid.uuid4()
    assert await flags_of(world, check_in(vid, world.c1, at=at)) == expected
    _, data = await world.record(world.a, Ref(RecordType.VISIT_LOG, vid)) or (0, {})
    assert data["checked_in_at"] == at


@pytest.mark.parametrize(("delta", "expected"), [(timedelta(minutes=-1), ["outside_case_period"]), (timedelta(0), [])])
async def test_a_visit_before_the_case_opened_is_outside_its_period(
    world: World, delta: timedelta, expected: list[str]
) -> None:
    await geocode(world)
    at = iso(datetime.fromisoformat(OPENED_AT) + delta)
    assert await flags_of(world, check_in(uuid.uuid4(), world.c1, at=at)) == expected


async def test_a_closed_case_flags_visits_after_its_closing_only(world: World) -> None:
    await geocode(world)
    closed = datetime.now(UTC) - timedelta(days=2)
    await world.backend.seed.put(
        Ref(RecordType.CASE, world.c1), case_data(world.s1, world.a.user_id, "closed", iso(closed))
    )
    before = check_in(uuid.uuid4(), world.c1, at=iso(closed - timedelta(hours=1)))
    after = check_in(uuid.uuid4(), world.c1, at=iso(closed + timedelta(hours=1)))
    response = await world.push(
        world.a, mutation(1, "visit_log.check_in", before), mutation(2, "visit_log.check_in", after)
    )
    assert [r.flags for r in response.results] == [[], ["case_closed", "outside_case_period"]]


@pytest.mark.parametrize(("owner", "expected"), [("a", []), ("b", ["case_reassigned"]), (None, ["case_reassigned"])])
async def test_a_visit_on_a_case_that_is_not_the_senders_now_is_case_reassigned(
    world: World, owner: str | None, expected: list[str]
) -> None:
    await geocode(world)
    manager = getattr(world, owner).user_id if owner else None
    await world.backend.seed.put(Ref(RecordType.CASE, world.c1), case_data(world.s1, manager))
    assert await flags_of(world, check_in(uuid.uuid4(), world.c1)) == expected


@pytest.mark.parametrize(("status", "expected"), [("active", []), ("closed", ["case_closed"])])
async def test_a_case_closed_with_no_closing_time_flags_every_visit(
    world: World, status: str, expected: list[str]
) -> None:
    await geocode(world)
    await world.backend.seed.put(Ref(RecordType.CASE, world.c1), case_data(world.s1, world.a.user_id, status))
    assert await flags_of(world, check_in(uuid.uuid4(), world.c1)) == expected


@pytest.mark.parametrize(("ahead", "expected"), [(timedelta(hours=23), []), (timedelta(hours=25), ["time_in_future"])])
async def test_a_check_out_more_than_a_day_ahead_is_flagged_for_its_own_time(
    world: World, ahead: timedelta, expected: list[str]
) -> None:
    await geocode(world)
    vid = uuid.uuid4()
    out = {"id": str(vid), "at": iso(datetime.now(UTC) + ahead), "outcome": "family_met"}
    response = await world.push(
        world.a, mutation(1, "visit_log.check_in", check_in(vid, world.c1)), mutation(2, "visit_log.check_out", out)
    )
    assert [r.flags for r in response.results] == [[], expected]
    _, data = await world.record(world.a, Ref(RecordType.VISIT_LOG, vid)) or (0, {})
    assert (data["flags"], data["checked_out_at"]) == (expected, out["at"])


async def test_flags_are_repeated_on_replay_and_a_second_check_in_is_a_no_op(world: World) -> None:
    vid = uuid.uuid4()
    m = mutation(1, "visit_log.check_in", check_in(vid, world.c1, at_m=None))
    first = await world.push(world.a, m)
    again = await world.push(world.a, m)
    other_batch = await world.push(world.a, mutation(2, "visit_log.check_in", check_in(vid, world.c1, at_m=None)))
    expected = ["location_missing", "home_not_geocoded"]
    assert (first.results[0].status, first.results[0].version, first.results[0].flags) == (Status.APPLIED, 1, expected)
    assert (again.results[0].status, again.results[0].original, again.results[0].flags) == (
        Status.ALREADY_PROCESSED,
        Status.APPLIED,
        expected,
    )
    assert (other_batch.results[0].status, other_batch.results[0].version) == (Status.APPLIED, 1)
    assert other_batch.results[0].flags == expected


async def test_check_out_once_keeps_the_outcome(world: World) -> None:
    await geocode(world)
    vid = uuid.uuid4()
    out = {"id": str(vid), "at": recent(), "outcome": "no_one_home"}
    response = await world.push(
        world.a,
        mutation(1, "visit_log.check_in", check_in(vid, world.c1, at=iso(datetime.now(UTC) - timedelta(hours=2)))),
        mutation(2, "visit_log.check_out", out),
    )
    assert [(r.status, r.version) for r in response.results] == [(Status.APPLIED, 1), (Status.APPLIED, 2)]
    replay = await world.push(world.a, mutation(3, "visit_log.check_out", out))
    assert (replay.results[0].status, replay.results[0].version) == (Status.APPLIED, 2)
    _, data = await world.record(world.a, Ref(RecordType.VISIT_LOG, vid)) or (0, {})
    assert (data["status"], data["outcome"], data["checked_out_at"]) == ("checked_out", "no_one_home", out["at"])
    unknown = await world.push(world.a, mutation(4, "visit_log.check_out", out | {"id": str(uuid.uuid4())}))
    assert unknown.results[0].error is not None and unknown.results[0].error.code == "unknown_record"
    stranger = await world.push(world.b, mutation(1, "visit_log.check_out", out))
    assert stranger.results[0].error is not None and stranger.results[0].error.code == "not_in_scope"


@pytest.mark.parametrize(
    ("metres", "accuracy", "expected"),
    [
        (None, 0, []),  # no fix: the check-out adds nothing
        (140, 0, []),
        (160, 0, ["location_mismatch"]),
        (200, 10, ["location_mismatch"]),
        (200, 60, []),  # the accuracy counts in the device's favour, as at check-in
        (240, 100, []),
        (240, 101, ["location_low_accuracy"]),
        (1000, 101, ["location_mismatch", "location_low_accuracy"]),
    ],
)
async def test_a_check_out_fix_is_checked_against_home_like_the_check_in(
    world: World, metres: float | None, accuracy: float, expected: list[str]
) -> None:
    await geocode(world)
    vid = uuid.uuid4()
    out: dict[str, Any] = {"id": str(vid), "at": recent(), "outcome": "family_met"}
    if metres is not None:
        lat, lon = north(metres)
        out |= {"latitude": lat, "longitude": lon, "accuracy_m": accuracy}
    start = iso(datetime.now(UTC) - timedelta(hours=2))
    response = await world.push(
        world.a,
        mutation(1, "visit_log.check_in", check_in(vid, world.c1, at=start, at_m=2)),
        mutation(2, "visit_log.check_out", out),
    )
    assert [(r.status, r.flags) for r in response.results] == [(Status.APPLIED, []), (Status.APPLIED, expected)]
    _, data = await world.record(world.a, Ref(RecordType.VISIT_LOG, vid)) or (0, {})
    assert (data["flags"], data["out_accuracy_m"]) == (expected, accuracy if metres is not None else None)
    replay = await world.push(world.a, mutation(3, "visit_log.check_out", out))
    assert (replay.results[0].status, replay.results[0].version, replay.results[0].flags) == (
        Status.APPLIED,
        2,
        expected,
    )


async def test_check_out_flags_join_the_check_ins_each_stored_once(world: World) -> None:
    await geocode(world)
    far, poor = uuid.uuid4(), uuid.uuid4()
    lat, lon = north(900)
    response = await world.push(
        world.a,
        mutation(1, "visit_log.check_in", check_in(far, world.c1, at_m=900)),
        mutation(2, "visit_log.check_in", check_in(poor, world.c1, at_m=0, accuracy=300)),
        mutation(3, "visit_log.check_out", {"id": str(far), "at": recent(), "outcome": "moved"} | _fix(lat, lon, 5)),
        mutation(4, "visit_log.check_out", {"id": str(poor), "at": recent(), "outcome": "moved"} | _fix(lat, lon, 5)),
    )
    assert [r.flags for r in response.results] == [
        ["location_mismatch"],
        ["location_low_accuracy"],
        ["location_mismatch"],
        ["location_mismatch", "location_low_accuracy"],
    ]
    # a home without coordinates: the check-in named it; a far check-out cannot mismatch it
    vid = uuid.uuid4()
    lat, lon = north(5000)
    response = await world.push(
        world.b,
        mutation(1, "visit_log.check_in", check_in(vid, world.c3, at_m=0)),
        mutation(2, "visit_log.check_out", {"id": str(vid), "at": recent(), "outcome": "moved"} | _fix(lat, lon, 5)),
    )
    assert [r.flags for r in response.results] == [["home_not_geocoded"], ["home_not_geocoded"]]


def _fix(lat: float, lon: float, accuracy: float) -> dict[str, float]:
    return {"latitude": lat, "longitude": lon, "accuracy_m": accuracy}


@pytest.mark.parametrize(
    ("name", "args", "path"),
    [
        ("visit_log.check_in", {"latitude": 91.0}, "latitude"),
        ("visit_log.check_in", {"longitude": -180.5}, "longitude"),
        ("visit_log.check_in", {"accuracy_m": -1.0}, "accuracy_m"),
        ("visit_log.check_in", {"accuracy_m": None}, "accuracy_m"),
        ("visit_log.check_out", {"outcome": "abducted_by_aliens"}, "outcome"),
    ],
)
async def test_malformed_visit_input_is_rejected_with_its_field(
    world: World, name: str, args: dict[str, Any], path: str
) -> None:
    vid = uuid.uuid4()
    base = check_in(vid, world.c1)
    if name == "visit_log.check_out":
        await world.push(world.a, mutation(1, "visit_log.check_in", base))
        base = {"id": str(vid), "at": recent(), "outcome": "family_met"}
    mid = 2 if name == "visit_log.check_out" else 1
    response = await world.push(world.a, mutation(mid, name, {k: v for k, v in (base | args).items() if v is not None}))
    (result,) = response.results
    assert result.status is Status.REJECTED
    assert result.error is not None and result.error.code == "malformed"
    assert path in result.error.detail


async def test_a_visit_made_offline_on_a_case_reassigned_and_closed_meanwhile_is_kept_and_flagged(
    world: World,
) -> None:
    await geocode(world)
    held, cursor = await world.pull_all(world.a)
    assert Ref(RecordType.CASE, world.c2) in held
    visited = datetime.now(UTC) - timedelta(days=3)
    # While the phone was offline: c2 went to b, then was closed.
    await world.backend.seed.put(Ref(RecordType.CASE, world.c2), case_data(world.s2, world.b.user_id))
    closed = iso(visited + timedelta(days=1))
    await world.backend.seed.put(Ref(RecordType.CASE, world.c2), case_data(world.s2, world.b.user_id, "closed", closed))
    # The phone comes back with a visit made before the closing, and a late one after it.
    v1, v2 = uuid.uuid4(), uuid.uuid4()
    response = await world.push(
        world.a,
        mutation(1, "visit_log.check_in", check_in(v1, world.c2, at=iso(visited))),
        mutation(
            2,
            "visit_log.check_out",
            {"id": str(v1), "at": iso(visited + timedelta(minutes=20)), "outcome": "family_met"},
        ),
        mutation(3, "visit_log.check_in", check_in(v2, world.c2, at=iso(visited + timedelta(days=2)))),
    )
    assert [r.status for r in response.results] == [Status.APPLIED] * 3
    assert [r.flags for r in response.results] == [
        ["case_reassigned"],
        ["case_reassigned"],
        ["case_reassigned", "case_closed", "outside_case_period"],
    ]
    # Stored, seen by the case's new owner and by the old owner's supervisor; gone from a's phone.
    for who in (world.b, world.sup):
        version, data = await world.record(who, Ref(RecordType.VISIT_LOG, v1)) or (0, {})
        assert (version, data["status"], data["outcome"]) == (2, "checked_out", "family_met")
    after, _ = await world.pull_all(world.a, cursor, held)
    assert after == await world.backend.seed.snapshot(world.a.user_id)
    assert {r.id for r in after}.isdisjoint({world.c2, world.s2, v1, v2})
    assert Ref(RecordType.CASE, world.c1) in after


async def test_the_new_owner_pulls_the_visit_logs_of_a_case_she_is_given(world: World) -> None:
    vid = uuid.uuid4()
    await world.push(world.a, mutation(1, "visit_log.check_in", check_in(vid, world.c2)))
    held, cursor = await world.pull_all(world.b)
    assert Ref(RecordType.VISIT_LOG, vid) not in held
    await world.backend.seed.put(Ref(RecordType.CASE, world.c2), case_data(world.s2, world.b.user_id))
    after, _ = await world.pull_all(world.b, cursor, held)
    assert Ref(RecordType.VISIT_LOG, vid) in after
    assert after == await world.backend.seed.snapshot(world.b.user_id)


async def test_only_its_author_checks_out_of_a_visit_even_on_a_case_now_anothers(world: World) -> None:
    vid = uuid.uuid4()
    await world.push(world.a, mutation(1, "visit_log.check_in", check_in(vid, world.c2)))
    await world.backend.seed.put(Ref(RecordType.CASE, world.c2), case_data(world.s2, world.b.user_id))
    out = {"id": str(vid), "at": recent(), "outcome": "refused"}
    by_b = await world.push(world.b, mutation(1, "visit_log.check_out", out))
    assert by_b.results[0].error is not None and by_b.results[0].error.code == "not_in_scope"
    same_id = await world.push(world.b, mutation(2, "visit_log.check_in", check_in(vid, world.c2)))
    assert same_id.results[0].error is not None and same_id.results[0].error.code == "not_in_scope"
    by_a = await world.push(world.a, mutation(2, "visit_log.check_out", out))
    assert (by_a.results[0].status, by_a.results[0].version) == (Status.APPLIED, 2)
    assert by_a.results[0].flags == ["home_not_geocoded"], "the check-in's flags: c2 was hers then"
