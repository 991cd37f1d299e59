"""A case's casework on the console's case page and in ``GET /cases/{id}``: the assessments as a
history, the referrals to services with their status, the parent meetings (each against the legal
deadline of the meeting the rules required), the follow-ups open and done; out of scope is the
404 page; and who may open the Reports page."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cases import CaseStatus, FollowUpKind
from server import audit, clock
from tests import casework_rows as rows
from tests import factories as f
from tests.conftest import make_settings
from tests.helpers import bearer, login
from tests.rules_fixtures import absent, add_student, make_district
from tests.test_console import _labels_cover_inputs, _sign_in


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _text(html: str) -> str:
    """What the reader sees of some HTML: the tags left out."""
    return re.sub(r"<[^>]+>", "", html)


def _section(html: str, heading_id: str) -> str:
    found = re.search(rf'<section aria-labelledby="{heading_id}">(.*?)</section>', html, re.S)
    assert found, f"no section {heading_id}"
    return found.group(1)


@pytest.fixture
async def casework(db: AsyncSession) -> dict[str, Any]:
    """cm1's case of a student at a school with a weekday calendar (2025-2026), with two
    assessments, two referrals, two meetings (the first completed the rules' meeting deadline
    from 2025-11-03 within its 10 school days; the second was due for nothing), and follow-ups:
    a phone call overdue by 3 days after a move, a home visit not yet due, one done. And cm5's
    case, out of cm1's and sup1's scope."""
    d = await make_district(db, students=0)
    cm1, cm5 = await f.user_id(db, "cm1"), await f.user_id(db, "cm5")
    student = await add_student(db, d)
    case = await f.case(db, student, manager=cm1)
    other = await f.case(db, await add_student(db, d), manager=cm5)

    first = await rows.assessment(
        db, case, utc("2025-10-01T15:00"), ["transportation", "caring_for_family"], "caring_for_family"
    )
    latest = await rows.assessment(
        db,
        case,
        utc("2025-11-05T16:30"),
        ["unaware_of_law", "transportation", "bullying"],
        "bullying",
        strengths="Loves the art club; her grandmother walks her when she can.",
        student_voice="The older kids on the bus pick on me, so I stay home.",
        notes="Bus route change asked of the school.",
        flags=["time_in_future"],
    )
    bus = await rows.resource(db, "Bus Pass Program", "transportation")
    update = {"at": "2025-11-20T10:00:00-05:00", "status": "connected", "note": "Pass picked up", "by": str(cm1)}
    connected = await rows.referral(
        db,
        case,
        utc("2025-11-05T17:00"),
        "connected",
        bus,
        "transportation",
        status_at=utc("2025-11-20T15:00"),
        updates=[update],
    )
    closet = await rows.referral(
        db, case, utc("2025-11-06T00:30"), "made", "Grace Church clothing closet", "clothing_or_supplies"
    )

    trigger = date(2025, 11, 3)
    await absent(db, d, student, trigger)
    held = utc("2025-11-14T15:00")  # 10:00 in the district, 9 school days after the trigger
    meeting = await rows.parent_meeting(
        db,
        case,
        held,
        place="school",
        attendees=["Rosa Alvarez (mother)", "Ms. Kim (counselor)"],
        interpreter=True,
        language="es",
        agreements="Rosa will call the school by 8:30 on any day Maya stays home.",
        next_meeting_on=date(2025, 12, 5),
    )
    required = await rows.meeting_deadline(db, student.id, case, trigger, date(2025, 11, 17), completed_at=held)
    unmatched = await rows.parent_meeting(db, case, utc("2025-12-05T15:00"), place="phone", flags=["no_meeting_due"])

    today = clock.today(make_settings())
    moved = [
        {"from": (today - timedelta(days=10)).isoformat(), "to": (today - timedelta(days=3)).isoformat(),
         "reason": "Mother asked for next week", "by": str(cm1)}
    ]  # fmt: skip
    call = await rows.meeting_deadline(
        db, student.id, case, None, today - timedelta(days=3), kind=FollowUpKind.PHONE_CALL,
        title="Call Rosa about the bus", created_by=cm1, rescheduled=moved,
    )  # fmt: skip
    visit = await rows.meeting_deadline(
        db, student.id, case, None, today + timedelta(days=5), kind=FollowUpKind.HOME_VISIT,
        title="Visit after the route change", created_by=cm1,
    )  # fmt: skip
    done = await rows.meeting_deadline(
        db, student.id, case, None, date(2025, 11, 25), kind=FollowUpKind.SCHOOL_MEETING,
        title="Meet the assistant principal", created_by=cm1, completed_at=utc("2025-11-24T18:00"),
    )  # fmt: skip
    await db.commit()
    return {
        "case": case,
        "other": other,
        "bus": bus,
        "first": first,
        "latest": latest,
        "connected": connected,
        "closet": closet,
        "meeting": meeting,
        "unmatched": unmatched,
        "required": required,
        "call": call,
        "visit": visit,
        "done": done,
        "today": today,
    }


async def _scheduled_on_a_closed_case(client: httpx.AsyncClient, db: AsyncSession) -> tuple[uuid.UUID, uuid.UUID]:
    """cm1's phone schedules a home visit on her closed case (``follow_up.schedule``): stored and
    flagged ``case_closed``, never refused. The case's id and the follow-up's."""
    closed = await f.case(db, await f.student(db), manager=await f.user_id(db, "cm1"), status=CaseStatus.CLOSED)
    await db.commit()
    phone, follow_up = uuid.uuid4(), uuid.uuid4()
    tokens = await login(client, "cm1", device_id=phone)
    args = {"id": str(follow_up), "case_id": str(closed.id), "kind": "home_visit", "title": "Visit once more"}
    args["due_on"] = (clock.today(make_settings()) + timedelta(days=7)).isoformat()
    body = {
        "client_id": str(phone),
        "schema_version": 1,
        "mutations": [{"id": 1, "name": "follow_up.schedule", "args": args}],
    }
    pushed = await client.post("/sync/push", json=body, headers=bearer(tokens))
    assert pushed.status_code == 200, pushed.text
    assert [(r["status"], r["flags"]) for r in pushed.json()["results"]] == [("applied", ["case_closed"])]
    return closed.id, follow_up


async def test_the_case_page_shows_the_assessments_as_a_history(
    client: httpx.AsyncClient, casework: dict[str, Any]
) -> None:
    await _sign_in(client, "sup1")
    page = await client.get(f"/console/cases/{casework['case'].id}")
    assert page.status_code == 200
    section = _section(page.text, "assessments")
    latest, first = casework["latest"].id, casework["first"].id
    assert section.index(f'data-assessment="{latest}"') < section.index(f'data-assessment="{first}"'), "newest first"
    assert "Latest assessment, <time" in section and "First assessment, <time" in section
    assert "2025-11-05 11:30 EST" in section, "on the district's clock"
    newest = section[section.index(f'data-assessment="{latest}"') : section.index(f'data-assessment="{first}"')]
    # labels grouped by category, in the categories' order; the primary one marked
    assert re.findall(r"<dt>([^<]+)</dt>", newest)[:3] == [
        "Barriers",
        "Aversion (negative school experiences)",
        "Misconceptions",
    ]
    assert '<li class="label primary" data-factor="bullying">Bullying <strong>(primary)</strong></li>' in newest, (
        "the primary factor is marked"
    )
    assert '<li class="label" data-factor="transportation">No reliable way to get to school</li>' in newest
    assert "Loves the art club" in newest
    assert "The older kids on the bus pick on me" in newest and "<blockquote" in newest
    assert "Bus route change asked of the school." in newest
    assert '<span class="flag">time in future</span>' in newest
    assert "By Demo Case Manager 1" in newest


async def test_the_case_page_shows_referrals_with_their_status(
    client: httpx.AsyncClient, casework: dict[str, Any]
) -> None:
    await _sign_in(client, "cm1")
    html = (await client.get(f"/console/cases/{casework['case'].id}")).text
    section = _section(html, "services")
    bus = re.search(rf'<tr data-referral="{casework["connected"].id}">(.*?)</tr>', section, re.S)
    assert bus
    assert "Bus Pass Program" in bus.group(1) and "not in the directory" not in bus.group(1)
    assert "No reliable way to get to school" in bus.group(1), "the factor it answers"
    assert '<span class="ref-status connected">connected</span>' in bus.group(1)
    assert "2025-11-20: connected, Pass picked up (Demo Case Manager 1)" in _text(bus.group(1)), "its history"
    closet = re.search(rf'<tr data-referral="{casework["closet"].id}">(.*?)</tr>', section, re.S)
    assert closet
    assert 'Grace Church clothing closet <span class="muted">(not in the directory)</span>' in closet.group(1)
    assert '<span class="ref-status made">made</span>' in closet.group(1)
    assert ">2025-11-05</time>" in closet.group(1), "00:30 UTC on the 6th is the 5th in the district"


async def test_the_case_page_shows_each_meeting_against_its_legal_deadline(
    client: httpx.AsyncClient, casework: dict[str, Any]
) -> None:
    await _sign_in(client, "sup1")
    html = (await client.get(f"/console/cases/{casework['case'].id}")).text
    section = _section(html, "meetings")
    held = section[section.index(f'data-meeting="{casework["meeting"].id}"') :]
    assert "2025-11-14 10:00 EST</time>, at school" in held
    assert "Rosa Alvarez (mother), Ms. Kim (counselor)" in held
    assert "<dt>Interpreter</dt><dd>yes (in es)</dd>" in held
    assert "<dt>Attendance policy</dt><dd>discussed</dd>" in held
    assert "Rosa will call the school" in held and "<dt>Next meeting</dt><dd>2025-12-05</dd>" in held
    assert '<span class="status ok">Within the deadline</span>' in held
    assert "required within 10 school days of 2025-11-03, by 2025-11-17; held 9 school days after 2025-11-03" in held
    other = section[
        section.index(f'data-meeting="{casework["unmatched"].id}"') : section.index(
            f'data-meeting="{casework["meeting"].id}"'
        )
    ]
    assert section.index(f'data-meeting="{casework["unmatched"].id}"') < section.index(
        f'data-meeting="{casework["meeting"].id}"'
    ), "newest first"
    assert "by phone" in other and "completed no meeting the rules required" in other
    assert '<span class="flag">no meeting due</span>' in other


async def test_a_meeting_after_the_deadline_says_so(client: httpx.AsyncClient, db: AsyncSession) -> None:
    d = await make_district(db, students=0)
    student = await add_student(db, d)
    case = await f.case(db, student, manager=await f.user_id(db, "cm1"))
    await absent(db, d, student, date(2025, 12, 1))
    held = utc("2025-12-17T15:00")
    await rows.parent_meeting(db, case, held)
    # moved to the 19th at the family's request: still late by the law's 10 school days (12-15)
    moved = [{"from": "2025-12-15", "to": "2025-12-19", "reason": "Family away", "by": None}]
    await rows.meeting_deadline(
        db, student.id, case, date(2025, 12, 1), date(2025, 12, 19), completed_at=held, rescheduled=moved
    )
    await db.commit()
    await _sign_in(client, "cm1")
    html = (await client.get(f"/console/cases/{case.id}")).text
    assert '<span class="status bad">After the deadline</span>' in _section(html, "meetings")
    assert "of 2025-12-01, by 2025-12-15; held 12 school days after 2025-12-01" in html
    done = _section(html, "follow-ups")
    assert "required by law within 10 school days of 2025-12-01: by 2025-12-15" in _text(done)
    assert "moved from 2025-12-15 to 2025-12-19: Family away" in _text(done)


async def test_the_case_page_shows_follow_ups_open_and_done(
    client: httpx.AsyncClient, db: AsyncSession, casework: dict[str, Any]
) -> None:
    closed, scheduled = await _scheduled_on_a_closed_case(client, db)
    await _sign_in(client, "sup1")
    html = (await client.get(f"/console/cases/{casework['case'].id}")).text
    section = _section(html, "follow-ups")
    opened, done = section.split("Done, most recent first")
    call = re.search(rf'<tr data-follow-up="{casework["call"].id}" class="overdue">(.*?)</tr>', opened, re.S)
    assert call, "the overdue one is marked"
    today = casework["today"]
    assert "<td>Phone call</td>" in call.group(1)
    assert '<span class="flag">overdue 3 days</span>' in call.group(1)
    moved = f"moved from {today - timedelta(days=10)} to {today - timedelta(days=3)}: Mother asked for next week"
    assert moved in _text(call.group(1))
    assert "scheduled by" in call.group(1)
    visit = re.search(rf'<tr data-follow-up="{casework["visit"].id}">(.*?)</tr>', opened, re.S)
    assert visit and "<td>Home visit</td>" in visit.group(1) and "overdue" not in visit.group(1)
    assert opened.index(str(casework["call"].id)) < opened.index(str(casework["visit"].id)), "soonest due first"
    assert str(casework["required"].id) not in opened
    assert "<td>School meeting</td>" in done and ">2025-11-24</time>" in done
    required = re.search(rf'<tr data-follow-up="{casework["required"].id}">(.*?)</tr>', done, re.S)
    assert required and "<td>Parent meeting</td>" in required.group(1)
    assert "required by law within 10 school days of 2025-11-03: by 2025-11-17" in _text(required.group(1))
    assert 'class="flag"' not in visit.group(1) + required.group(1), "no flags on what was scheduled on an open case"
    _labels_cover_inputs(html)
    # a follow-up a phone scheduled on a closed case is flagged as the referrals and meetings are
    flagged = _section((await client.get(f"/console/cases/{closed}")).text, "follow-ups")
    visit_again = re.search(rf'<tr data-follow-up="{scheduled}">(.*?)</tr>', flagged, re.S)
    assert visit_again, "open, on the closed case's page"
    assert 'Visit once more <span class="flag">case closed</span>' in visit_again.group(1)


async def test_reading_the_case_page_is_audited_and_another_caseload_is_404(
    client: httpx.AsyncClient, db: AsyncSession, casework: dict[str, Any]
) -> None:
    await _sign_in(client, "sup1")
    assert (await client.get(f"/console/cases/{casework['case'].id}")).status_code == 200
    actions = [e.action for e in await audit.entries_for(db, "case", casework["case"].id)]
    assert "case.read" in actions
    for username in ("sup1", "cm1"):
        client.cookies.clear()
        await _sign_in(client, username)
        refused = await client.get(f"/console/cases/{casework['other'].id}")
        assert refused.status_code == 404, username
        assert "Bullying" not in refused.text
    refusals = [e.action for e in await audit.entries_for(db, "case", casework["other"].id)]
    assert refusals.count("case.read_refused") == 2


async def test_get_case_answers_the_casework_with_the_old_fields_kept(
    client: httpx.AsyncClient, db: AsyncSession, casework: dict[str, Any]
) -> None:
    tokens = await login(client, "cm1")
    response = await client.get(f"/cases/{casework['case'].id}", headers=bearer(tokens))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [a["id"] for a in body["assessments"]] == [str(casework["latest"].id), str(casework["first"].id)]
    latest = body["assessments"][0]
    assert latest["factors"] == ["unaware_of_law", "transportation", "bullying"]
    assert (latest["primary_factor"], latest["flags"], latest["version"]) == ("bullying", ["time_in_future"], 1)
    assert [m["id"] for m in body["parent_meetings"]] == [str(casework["unmatched"].id), str(casework["meeting"].id)]
    meeting = body["parent_meetings"][1]
    assert (meeting["place"], meeting["interpreter"], meeting["language"]) == ("school", True, "es")
    referral = next(r for r in body["service_referrals"] if r["id"] == str(casework["connected"].id))
    assert referral["resource"] == referral["resource_name"] == "Bus Pass Program", "the old field is kept"
    assert referral["referred_on"] == "2025-11-05" and referral["category"] is None
    assert (referral["status"], referral["factor"], referral["resource_id"]) == (
        "connected",
        "transportation",
        str(casework["bus"].id),
    )
    assert referral["status_at"].startswith("2025-11-20T15:00")
    assert referral["at"].startswith("2025-11-05T17:00") and referral["flags"] == []
    assert [(u["status"], u["note"]) for u in referral["updates"]] == [("connected", "Pass picked up")]
    call = next(f for f in body["follow_ups"] if f["id"] == str(casework["call"].id))
    assert (call["kind"], call["status"], call["created_by"]) == (
        "phone_call",
        "open",
        str(casework["case"].case_manager_id),
    )
    assert call["rescheduled"][0]["reason"] == "Mother asked for next week" and "from" in call["rescheduled"][0]
    required = next(f for f in body["follow_ups"] if f["id"] == str(casework["required"].id))
    assert (required["status"], required["trigger_day"], required["created_by"]) == ("done", "2025-11-03", None)
    assert (call["flags"], required["flags"]) == ([], [])

    closed, scheduled = await _scheduled_on_a_closed_case(client, db)
    on_closed = await client.get(f"/cases/{closed}", headers=bearer(tokens))
    assert on_closed.status_code == 200, on_closed.text
    (visit,) = on_closed.json()["follow_ups"]
    assert (visit["id"], visit["kind"], visit["flags"]) == (str(scheduled), "home_visit", ["case_closed"])

    other = await client.get(f"/cases/{casework['other'].id}", headers=bearer(tokens))
    assert other.status_code == 404


@pytest.mark.parametrize(
    ("username", "status"),
    [("sup1", 200), ("office1", 200), ("admin", 200), ("cm1", 403), ("counselor1", 403)],
)
async def test_the_reports_page_is_for_supervisors_office_staff_and_admins(
    client: httpx.AsyncClient, username: str, status: int
) -> None:
    await _sign_in(client, username)
    page = await client.get("/console/reports")
    assert page.status_code == status
    nav = re.findall(r'<nav aria-label="Console sections">.*?</nav>', page.text, re.S)[0]
    assert ('href="/console/reports"' in nav) is (status == 200)
    if status == 200:
        assert "<h1>Reports</h1>" in page.text
        _labels_cover_inputs(page.text)
    else:
        assert "Not allowed" in page.text


async def test_an_unknown_case_is_the_404_page(client: httpx.AsyncClient) -> None:
    await _sign_in(client, "admin")
    page = await client.get(f"/console/cases/{uuid.uuid4()}")
    assert page.status_code == 404 and "Not found" in page.text
