"""The casework mutations (assessment, referrals to resources, the parent meeting, follow-ups a
phone schedules, a letter asked of the office) through the reference client, on the memory store,
on PostgreSQL, and over HTTP against the app on PostgreSQL; with lost answers and duplicated
requests (replays)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from schemas.casework import Factor
from schemas.sync import RecordType, Status
from server.db import create_engine, create_session_factory
from sync.client import SyncClient
from sync.memory import MemoryStore
from sync.store import Principal, Ref
from tests.conftest import make_settings, own_database
from tests.sync.http_backend import device_transport
from tests.sync.pg_backend import pg_backend
from tests.sync.transport import Network, engine_transport
from tests.sync.world import Backend, World, case_data, follow_up_data, memory_backend

AT = "2025-03-04T10:00:00Z"
SETTINGS = make_settings()


def resource_data(name: str, active: bool = True, factors: tuple[str, ...] = ("transportation",)) -> dict[str, Any]:
    return {
        "name": name,
        "factors": list(factors),
        "languages": ["en", "es"],
        "address": "1 Bank St, Waterbury, CT",
        "phone": "203-555-0100",
        "website": None,
        "hours": "Mon-Fri 9-5",
        "latitude": 41.55,
        "longitude": -73.04,
        "active": active,
    }


def meeting_deadline(case: uuid.UUID | None, student: uuid.UUID, trigger_day: str, due_on: str) -> dict[str, Any]:
    """A parent-meeting follow-up as the rules make it (``server.rules.evaluate``)."""
    return follow_up_data(case, student) | {  # type: ignore[arg-type]
        "case_id": str(case) if case else None,
        "kind": "parent_meeting",
        "title": "Parent meeting: 4 unexcused absences in one month",
        "due_on": due_on,
        "trigger_day": trigger_day,
    }


@dataclass
class Phone:
    world: World
    who: Principal
    net: Network
    client: SyncClient

    def enqueue(self, name: str, args: dict[str, Any], base_version: int | None = None) -> int:
        return self.client.enqueue(name, args, base_version)

    async def sync(self, *faults: str) -> None:
        self.net.faults.extend(faults)
        await self.client.sync()

    def result(self, mutation_id: int) -> Any:
        result = self.client.result(mutation_id)
        assert result is not None, f"mutation {mutation_id} has no result"
        return result

    def outcome(self, mutation_id: int) -> Status:
        """How the server first decided it (a replay after a lost answer is ``already_processed``)."""
        result = self.result(mutation_id)
        return Status(result.original or result.status)

    def held(self, record_type: str, record_id: uuid.UUID) -> dict[str, Any]:
        return self.client.records()[(record_type, record_id)][1]


@dataclass
class Env:
    world: World
    http: bool


@pytest.fixture(params=["memory", "postgres", "http"])
async def env(request: pytest.FixtureRequest, server_url: str, template_url: str) -> AsyncIterator[Env]:
    """The sync world on each store, and over HTTP (the phones then talk to the app)."""
    if request.param == "memory":
        yield Env(await World.create(memory_backend(MemoryStore())), http=False)
        return
    async with own_database(server_url) as url:
        engine = create_engine(url)
        try:
            yield Env(await World.create(pg_backend(create_session_factory(engine))), http=request.param == "http")
        finally:
            await engine.dispose()


def _phone(env: Env, who: Principal, folder: Path) -> Phone:
    world = env.world
    backend: Backend = world.backend
    inner = device_transport(backend, who, SETTINGS) if env.http else engine_transport(backend, who)
    net = Network(inner)

    async def no_sleep(_: float) -> None:
        return None

    client = SyncClient(folder / f"{who.client_id}.sqlite", who.client_id, net, sleep=no_sleep, retries=4)
    return Phone(world, who, net, client)


@pytest.fixture
def phone(env: Env, tmp_path: Path) -> Iterator[Phone]:
    device = _phone(env, env.world.a, tmp_path)
    yield device
    device.client.close()


@pytest.fixture
def other_phone(env: Env, tmp_path: Path) -> Iterator[Phone]:
    device = _phone(env, env.world.b, tmp_path)
    yield device
    device.client.close()


async def test_a_whole_visit_of_casework_reaches_the_server_once_through_lost_answers(phone: Phone) -> None:
    world = phone.world
    resource, deadline = uuid.uuid4(), uuid.uuid4()
    await world.backend.seed.put(Ref(RecordType.RESOURCE, resource), resource_data("Bus Pass Program"))
    await world.backend.seed.put(
        Ref(RecordType.FOLLOW_UP, deadline), meeting_deadline(world.c1, world.s1, "2025-02-20", "2025-03-06")
    )
    await phone.sync()
    assert phone.held(RecordType.RESOURCE, resource)["name"] == "Bus Pass Program"
    deadline_version = phone.client.records()[(RecordType.FOLLOW_UP, deadline)][0]

    assessment, referral, meeting, follow_up = (uuid.uuid4() for _ in range(4))
    c1 = str(world.c1)
    ids = [
        phone.enqueue(
            "assessment.save",
            {"id": str(assessment), "case_id": c1, "at": AT, "factors": ["transportation", "bullying"]}
            | {
                "primary_factor": "transportation",
                "strengths": "Grandmother helps",
                "student_voice": "The bus is late",
            },
        ),
        phone.enqueue(
            "service_referral.create",
            {"id": str(referral), "case_id": c1, "at": AT, "resource_id": str(resource), "factor": "transportation"}
            | {"note": "Needs two passes"},
        ),
        phone.enqueue(
            "parent_meeting.record",
            {"id": str(meeting), "case_id": c1, "held_at": AT, "place": "home", "attendees": ["Mother", "Maya"]}
            | {"interpreter": True, "policy_discussed": True, "language": "es", "next_meeting_on": "2025-04-01"},
        ),
        phone.enqueue(
            "follow_up.schedule",
            {"id": str(follow_up), "case_id": c1, "kind": "home_visit", "title": "Visit again", "due_on": "2025-04-01"},
        ),
    ]
    # The answers to the first push and the first pull page are lost; the next push is duplicated.
    await phone.sync("drop_response", "duplicate", "drop_response")
    assert [phone.outcome(i) for i in ids] == [Status.APPLIED] * 4
    ids += [
        phone.enqueue(
            "service_referral.update", {"id": str(referral), "at": AT, "status": "connected", "note": "Got a pass"}
        ),
        phone.enqueue("follow_up.reschedule", {"id": str(follow_up), "due_on": "2025-04-08", "reason": "Family away"}),
    ]
    await phone.sync("drop_response")
    assert [phone.outcome(i) for i in ids[4:]] == [Status.APPLIED] * 2

    server = await world.backend.seed.snapshot(world.a.user_id)
    mine = {Ref(t, i): (v, d) for (t, i), (v, d) in phone.client.records().items()}
    assert mine == server, "the phone converged to the server's records"
    of = {t: [ref for ref in server if ref.type == t] for t in RecordType}
    assert len(of[RecordType.ASSESSMENT]) == len(of[RecordType.SERVICE_REFERRAL]) == 1
    assert len(of[RecordType.PARENT_MEETING]) == 1
    assert server[Ref(RecordType.ASSESSMENT, assessment)][1] | {"at": AT} == {
        "case_id": c1,
        "author_id": str(world.a.user_id),
        "at": AT,
        "factors": ["transportation", "bullying"],
        "primary_factor": "transportation",
        "visit_log_id": None,
        "strengths": "Grandmother helps",
        "student_voice": "The bus is late",
        "notes": None,
        "flags": [],
    }
    sent = server[Ref(RecordType.SERVICE_REFERRAL, referral)]
    assert (sent[0], sent[1]["status"], sent[1]["resource_name"]) == (2, "connected", "Bus Pass Program")
    assert (sent[1]["note"], sent[1]["updates"]) == (
        "Needs two passes",
        [{"at": AT, "status": "connected", "note": "Got a pass", "by": str(world.a.user_id)}],
    ), "the referral's own note stays; each update is kept"
    moved = server[Ref(RecordType.FOLLOW_UP, follow_up)][1]
    assert moved["due_on"] == "2025-04-08"
    assert moved["rescheduled"] == [
        {"from": "2025-04-01", "to": "2025-04-08", "reason": "Family away", "by": str(world.a.user_id)}
    ]
    # The meeting completed the deadline the rules made, so the case no longer lists it as open.
    version, done = server[Ref(RecordType.FOLLOW_UP, deadline)]
    assert (version, done["status"], done["completed_by"]) == (deadline_version + 1, "done", str(world.a.user_id))
    case = server[Ref(RecordType.CASE, world.c1)][1]
    assert [f["id"] for f in case["follow_ups"]] == [str(follow_up)]


async def test_an_assessment_saved_again_is_an_edit_and_from_a_stale_base_a_conflict(phone: Phone) -> None:
    world, aid = phone.world, uuid.uuid4()
    first = {"id": str(aid), "case_id": str(world.c1), "at": AT, "factors": ["student_illness"]}
    m1 = phone.enqueue("assessment.save", first)
    m2 = phone.enqueue("assessment.save", first | {"factors": ["student_illness", "family_illness"]}, base_version=1)
    m3 = phone.enqueue("assessment.save", first | {"notes": "from an old screen"}, base_version=1)
    await phone.sync()
    assert [(phone.result(m).status, phone.result(m).version) for m in (m1, m2, m3)] == [
        (Status.APPLIED, 1),
        (Status.APPLIED, 2),
        (Status.CONFLICT, 2),
    ]
    held = phone.held(RecordType.ASSESSMENT, aid)
    assert (held["factors"], held["notes"]) == (["student_illness", "family_illness"], None)
    conflict = phone.held(RecordType.CONFLICT, phone.result(m3).conflict_id)
    assert (conflict["kind"], conflict["mine"]["notes"]) == ("stale_base", "from an old screen")


async def test_a_new_assessment_of_the_same_case_is_a_reassessment_kept_beside_the_first(phone: Phone) -> None:
    world = phone.world
    first, second = uuid.uuid4(), uuid.uuid4()
    for aid, factors in ((first, ["transportation"]), (second, ["anxiety_or_mental_health"])):
        phone.enqueue("assessment.save", {"id": str(aid), "case_id": str(world.c1), "at": AT, "factors": factors})
    await phone.sync()
    held = {i: d["factors"] for (t, i), (_, d) in phone.client.records().items() if t == RecordType.ASSESSMENT}
    assert held == {first: ["transportation"], second: ["anxiety_or_mental_health"]}


@pytest.mark.parametrize(
    ("name", "args", "detail"),
    [
        ("assessment.save", {"factors": ["not_a_factor"]}, "Invalid enum value 'not_a_factor'"),
        ("assessment.save", {"factors": ["bullying"], "primary_factor": "other"}, "primary_factor must be one of"),
        ("service_referral.create", {}, "resource_id or resource_name"),
        ("parent_meeting.record", {"place": "cafe"}, "Invalid enum value 'cafe'"),
        ("follow_up.schedule", {"kind": "party"}, "Invalid enum value 'party'"),
    ],
)
async def test_malformed_casework_is_refused_with_its_reason_and_the_queue_goes_on(
    phone: Phone, name: str, args: dict[str, Any], detail: str
) -> None:
    world = phone.world
    base: dict[str, dict[str, Any]] = {
        "assessment.save": {"at": AT, "factors": []},
        "service_referral.create": {"at": AT},
        "parent_meeting.record": {"held_at": AT, "place": "home", "attendees": [], "interpreter": False}
        | {"policy_discussed": True},
        "follow_up.schedule": {"kind": "follow_up", "title": "Call", "due_on": "2025-04-01"},
    }
    bad = phone.enqueue(name, {"id": str(uuid.uuid4()), "case_id": str(world.c1)} | base[name] | args)
    good = phone.enqueue(
        "follow_up.schedule",
        {
            "id": str(uuid.uuid4()),
            "case_id": str(world.c1),
            "kind": "phone_call",
            "title": "Call",
            "due_on": "2025-04-01",
        },
    )
    await phone.sync()
    result = phone.result(bad)
    assert (result.status, result.error.code) == (Status.REJECTED, "malformed")
    assert detail in result.error.detail
    assert phone.result(good).status is Status.APPLIED
    outcome = (await world.backend.seed.outcomes(world.a.client_id))[bad]
    assert outcome.name == name and outcome.raw is not None, "the refused mutation is kept as sent"


async def test_business_rules_broken_are_stored_and_flagged(phone: Phone) -> None:
    world = phone.world
    closed, resource = uuid.uuid4(), uuid.uuid4()
    await world.backend.seed.put(Ref(RecordType.RESOURCE, resource), resource_data("Closed Pantry", active=False))
    await world.backend.seed.put(
        Ref(RecordType.CASE, closed), case_data(world.s1, world.a.user_id, "closed", "2025-02-01T00:00:00Z")
    )
    meeting = {"held_at": AT, "place": "school", "attendees": ["Father"], "interpreter": False}
    ids = [
        phone.enqueue(
            "parent_meeting.record",
            {"id": str(uuid.uuid4()), "case_id": str(closed), "policy_discussed": True} | meeting,
        ),
        phone.enqueue(
            "service_referral.create",
            {"id": str(uuid.uuid4()), "case_id": str(world.c1), "at": AT, "resource_id": str(resource)},
        ),
        phone.enqueue(
            "assessment.save",
            {"id": str(uuid.uuid4()), "case_id": str(world.c1), "at": "2099-01-01T00:00:00Z", "factors": ["other"]},
        ),
    ]
    await phone.sync()
    assert [(phone.result(i).status, phone.result(i).flags) for i in ids] == [
        (Status.APPLIED, ["case_closed", "no_meeting_due"]),
        (Status.APPLIED, ["resource_inactive"]),
        (Status.APPLIED, ["time_in_future"]),
    ]


async def test_a_follow_up_scheduled_on_a_closed_case_is_stored_and_flagged(phone: Phone) -> None:
    """Like the other casework made on a closed case: stored, flagged ``case_closed`` in the record
    and in the result (a replay too); moving it later is an update, which adds no flag (as
    ``service_referral.update`` and ``follow_up.complete`` add none)."""
    world = phone.world
    closed, follow_up, on_open = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await world.backend.seed.put(
        Ref(RecordType.CASE, closed), case_data(world.s1, world.a.user_id, "closed", "2025-02-01T00:00:00Z")
    )
    args = {
        "id": str(follow_up),
        "case_id": str(closed),
        "kind": "home_visit",
        "title": "Visit",
        "due_on": "2025-04-01",
    }
    scheduled = phone.enqueue("follow_up.schedule", args)
    fine = phone.enqueue("follow_up.schedule", args | {"id": str(on_open), "case_id": str(world.c1)})
    await phone.sync("drop_response")
    again = phone.enqueue("follow_up.schedule", args)  # re-queued by the phone: the same follow-up
    moved = phone.enqueue("follow_up.reschedule", {"id": str(follow_up), "due_on": "2025-04-08", "reason": "Away"})
    await phone.sync()
    assert [(phone.outcome(i), phone.result(i).version, phone.result(i).flags) for i in (scheduled, fine, again)] == [
        (Status.APPLIED, 1, ["case_closed"]),
        (Status.APPLIED, 1, []),
        (Status.APPLIED, 1, ["case_closed"]),
    ]
    assert (phone.result(moved).status, phone.result(moved).flags) == (Status.APPLIED, [])
    server = await world.backend.seed.snapshot(world.a.user_id)
    version, stored = server[Ref(RecordType.FOLLOW_UP, follow_up)]
    assert (version, stored["due_on"], stored["flags"]) == (2, "2025-04-08", ["case_closed"])
    assert server[Ref(RecordType.FOLLOW_UP, on_open)][1]["flags"] == []
    assert phone.held(RecordType.FOLLOW_UP, follow_up) == stored, "the flag comes down to the phone"


async def test_a_referral_to_a_resource_not_in_the_directory_is_rejected(phone: Phone) -> None:
    args = {"id": str(uuid.uuid4()), "case_id": str(phone.world.c1), "at": AT, "resource_id": str(uuid.uuid4())}
    m = phone.enqueue("service_referral.create", args)
    by_name = phone.enqueue(
        "service_referral.create",
        {"id": str(uuid.uuid4()), "case_id": str(phone.world.c1), "at": AT, "resource_name": "Aunt's carpool"},
    )
    await phone.sync()
    assert phone.result(m).error.code == "unknown_resource"
    assert phone.result(by_name).status is Status.APPLIED


async def test_a_meeting_completes_only_the_deadlines_from_before_it(phone: Phone) -> None:
    world = phone.world
    earlier, later, by_hand = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    seed = world.backend.seed
    await seed.put(Ref(RecordType.FOLLOW_UP, earlier), meeting_deadline(world.c1, world.s1, "2025-02-20", "2025-03-06"))
    await seed.put(Ref(RecordType.FOLLOW_UP, later), meeting_deadline(world.c1, world.s1, "2025-03-10", "2025-03-24"))
    await seed.put(
        Ref(RecordType.FOLLOW_UP, by_hand),
        follow_up_data(world.c1, world.s1) | {"kind": "parent_meeting", "title": "Meet again"},
    )
    await phone.sync()
    phone.enqueue(
        "parent_meeting.record",
        {"id": str(uuid.uuid4()), "case_id": str(world.c1), "held_at": AT, "place": "phone", "attendees": ["Mother"]}
        | {"interpreter": False, "policy_discussed": True},
    )
    await phone.sync()
    status = {fid: phone.held(RecordType.FOLLOW_UP, fid)["status"] for fid in (earlier, later, by_hand)}
    assert status == {earlier: "done", later: "open", by_hand: "open"}


async def test_a_new_case_takes_its_student_s_meeting_deadline_made_before_it(phone: Phone) -> None:
    world = phone.world
    student, case, deadline = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    seed = world.backend.seed
    await seed.put(
        Ref(RecordType.STUDENT, student),
        {"student_number": "9", "first_name": "Ana", "last_name": "Silva", "grade": "7", "household_id": None},
    )
    await seed.put(Ref(RecordType.FOLLOW_UP, deadline), meeting_deadline(None, student, "2025-02-20", "2025-03-06"))
    await seed.put(Ref(RecordType.CASE, case), case_data(student, world.a.user_id))
    await phone.sync()
    assert phone.held(RecordType.FOLLOW_UP, deadline)["case_id"] == str(case)
    assert [f["id"] for f in phone.held(RecordType.CASE, case)["follow_ups"]] == [str(deadline)]


@pytest.fixture(params=["same_team", "other_team"])
def stranger(request: pytest.FixtureRequest, env: Env, tmp_path: Path) -> Iterator[Phone]:
    """A case manager whose caseload does not hold ``c1``: ``b``, of ``a``'s team, or ``outsider``,
    of another team (another supervisor)."""
    who = env.world.b if request.param == "same_team" else env.world.outsider
    device = _phone(env, who, tmp_path)
    yield device
    device.client.close()


CASEWORK = {RecordType.ASSESSMENT, RecordType.SERVICE_REFERRAL, RecordType.PARENT_MEETING, RecordType.FOLLOW_UP}


async def test_another_case_manager_is_refused_every_new_record_kind(phone: Phone, stranger: Phone) -> None:
    world = phone.world
    resource = uuid.uuid4()
    await world.backend.seed.put(Ref(RecordType.RESOURCE, resource), resource_data("Tutoring Center"))
    referral, follow_up, assessment, meeting = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    c1 = str(world.c1)
    phone.enqueue(
        "service_referral.create", {"id": str(referral), "case_id": c1, "at": AT, "resource_id": str(resource)}
    )
    phone.enqueue(
        "follow_up.schedule",
        {"id": str(follow_up), "case_id": c1, "kind": "phone_call", "title": "Call"} | {"due_on": "2025-04-01"},
    )
    phone.enqueue("assessment.save", {"id": str(assessment), "case_id": c1, "at": AT, "factors": ["bullying"]})
    phone.enqueue(
        "parent_meeting.record",
        {"id": str(meeting), "case_id": c1, "held_at": AT, "place": "home", "attendees": ["Mother"]}
        | {"interpreter": False, "policy_discussed": True},
    )
    await phone.sync()
    await stranger.sync()

    def held_of_c1() -> set[tuple[str, uuid.UUID]]:
        records = stranger.client.records()
        assert (RecordType.RESOURCE, resource) in records, "the directory is everyone's"
        return {(t, i) for (t, i), (_, d) in records.items() if t in CASEWORK and d.get("case_id") == c1}

    assert held_of_c1() == set(), "another caseload's casework"
    if stranger.who == world.outsider:
        assert {t for t, _ in stranger.client.records()} == {RecordType.RESOURCE}, "no case of hers here"
    before = await world.backend.seed.snapshot(world.office.user_id)
    tries = [
        stranger.enqueue("assessment.save", {"id": str(uuid.uuid4()), "case_id": c1, "at": AT, "factors": ["other"]}),
        stranger.enqueue("assessment.save", {"id": str(assessment), "case_id": c1, "at": AT, "factors": ["other"]}, 1),
        stranger.enqueue(
            "service_referral.create",
            {"id": str(uuid.uuid4()), "case_id": c1, "at": AT} | {"resource_name": "Anything"},
        ),
        stranger.enqueue(
            "service_referral.create",
            {"id": str(uuid.uuid4()), "case_id": c1, "at": AT} | {"resource_id": str(resource)},
        ),
        stranger.enqueue("service_referral.update", {"id": str(referral), "at": AT, "status": "declined"}),
        stranger.enqueue(
            "parent_meeting.record",
            {"id": str(uuid.uuid4()), "case_id": c1, "held_at": AT, "place": "home", "attendees": []}
            | {"interpreter": False, "policy_discussed": False},
        ),
        stranger.enqueue(
            "follow_up.schedule",
            {"id": str(uuid.uuid4()), "case_id": c1, "kind": "follow_up"} | {"title": "x", "due_on": "2025-04-01"},
        ),
        stranger.enqueue("follow_up.reschedule", {"id": str(follow_up), "due_on": "2025-05-01", "reason": "x"}),
    ]
    await stranger.sync()
    assert [(stranger.result(m).status, stranger.result(m).error.code) for m in tries] == [
        (Status.REJECTED, "not_in_scope")
    ] * len(tries)
    assert await world.backend.seed.snapshot(world.office.user_id) == before, "nothing stored"
    outcomes = await world.backend.seed.outcomes(stranger.who.client_id)
    assert {m: (outcomes[m].result.status, outcomes[m].raw is not None) for m in tries} == dict.fromkeys(
        tries, (Status.REJECTED, True)
    ), "only the refusal is recorded, with the mutation as sent"
    assert held_of_c1() == set(), "nor does a refusal bring her the case's records"
    server = await world.backend.seed.snapshot(world.a.user_id)
    assert server[Ref(RecordType.SERVICE_REFERRAL, referral)][1]["status"] == "made"
    assert server[Ref(RecordType.FOLLOW_UP, follow_up)][1]["due_on"] == "2025-04-01"


async def test_a_reassigned_case_takes_its_casework_to_the_new_case_manager(phone: Phone, other_phone: Phone) -> None:
    world = phone.world
    aid, mid = uuid.uuid4(), uuid.uuid4()
    phone.enqueue("assessment.save", {"id": str(aid), "case_id": str(world.c1), "at": AT, "factors": ["bullying"]})
    phone.enqueue(
        "parent_meeting.record",
        {"id": str(mid), "case_id": str(world.c1), "held_at": AT, "place": "home", "attendees": ["Mother"]}
        | {"interpreter": False, "policy_discussed": True},
    )
    await phone.sync()
    await other_phone.sync()
    assert (RecordType.ASSESSMENT, aid) not in other_phone.client.records()
    await world.backend.seed.put(Ref(RecordType.CASE, world.c1), case_data(world.s1, world.b.user_id))
    await phone.sync()
    await other_phone.sync()
    for record in ((RecordType.ASSESSMENT, aid), (RecordType.PARENT_MEETING, mid)):
        assert record in other_phone.client.records()
        assert record not in phone.client.records()


def test_every_factor_code_of_the_issue_is_a_factor() -> None:
    fixed = [
        "transportation",
        "student_illness",
        "chronic_health_condition",
        "family_illness",
        "caring_for_family",
        "housing_instability",
        "food_insecurity",
        "clothing_or_supplies",
        "family_work_schedule",
        "unsafe_route",
        "legal_or_immigration",
        "bullying",
        "peer_conflict",
        "school_discipline",
        "academic_difficulty",
        "anxiety_or_mental_health",
        "conflict_with_staff",
        "unmet_special_needs",
        "no_caring_adult",
        "not_connected_to_learning",
        "peers_out_of_school",
        "student_employment",
        "substance_use",
        "excused_absences_dont_matter",
        "unaware_of_absence_count",
        "sporadic_absences_dont_matter",
        "unaware_of_law",
        "other",
    ]
    assert [f.value for f in Factor] == fixed


# --- letter.request: a phone asks the office for a letter (docs/letters.md) ------------------------


async def test_a_letter_asked_for_is_stored_once_through_lost_answers(phone: Phone) -> None:
    letter = uuid.uuid4()
    args = {"id": str(letter), "case_id": str(phone.world.c1), "kind": "truancy_notice", "note": "Family moved?"}
    m = phone.enqueue("letter.request", args)
    await phone.sync("drop_response")
    again = phone.enqueue("letter.request", args)  # the user pressed twice: the same request
    await phone.sync()
    assert (phone.outcome(m), phone.result(again).status) == (Status.APPLIED, Status.APPLIED)
    stored = (await phone.world.backend.seed.snapshot(phone.world.office.user_id))[Ref(RecordType.LETTER, letter)]
    assert stored[0] == 1, "made once"
    held = phone.held("letter", letter)
    assert (held["kind"], held["status"], held["language"], held["note"]) == (
        "truancy_notice",
        "requested",
        None,
        "Family moved?",
    )
    assert held["student_id"] == str(phone.world.s1) and held["created_by"] == str(phone.world.a.user_id)


async def test_other_content_under_the_same_id_is_a_duplicate_and_a_closed_case_is_flagged(phone: Phone) -> None:
    world = phone.world
    closed, letter = uuid.uuid4(), uuid.uuid4()
    await world.backend.seed.put(
        Ref(RecordType.CASE, closed), case_data(world.s1, world.a.user_id, "closed", "2025-02-01T00:00:00Z")
    )
    first = phone.enqueue("letter.request", {"id": str(letter), "case_id": str(closed), "kind": "attendance_notice"})
    other = phone.enqueue("letter.request", {"id": str(letter), "case_id": str(closed), "kind": "truancy_notice"})
    custom = phone.enqueue("letter.request", {"id": str(uuid.uuid4()), "case_id": str(world.c1), "kind": "custom"})
    await phone.sync()
    assert (phone.result(first).status, phone.result(first).flags) == (Status.APPLIED, ["case_closed"])
    assert phone.result(other).status is Status.CONFLICT
    result = phone.result(custom)
    assert (result.status, result.error.code) == (Status.REJECTED, "malformed")
    assert "body" in result.error.detail


async def test_another_case_managers_request_is_refused(phone: Phone, other_phone: Phone) -> None:
    m = other_phone.enqueue(
        "letter.request", {"id": str(uuid.uuid4()), "case_id": str(phone.world.c1), "kind": "attendance_notice"}
    )
    await other_phone.sync()
    assert other_phone.result(m).error.code == "not_in_scope"
