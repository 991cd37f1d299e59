"""The casework in the console, in headless Chromium, as a supervisor sees it on a laptop: a case a
case manager assessed, referred, met the family on and scheduled follow-ups for from her phone
(the reference client over HTTP), and the Reports page over her team's cases at three schools.
With DOORSTEP_SCREENSHOTS=1 it retakes docs/console/case.png and docs/console/reports.png."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from playwright.async_api import Page, expect
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cases import CaseStatus
from server import clock
from server.attendance.models import AttendanceRecord
from server.cases.models import Case
from server.schools.models import InstructionalDay, School, SchoolYear
from tests import casework_rows as rows
from tests import factories as f
from tests.browser.conftest import Device, Live, screenshot, sign_in, watch_for_problems
from tests.browser.test_console_pages import NOTES
from tests.conftest import make_settings

RESOURCES = {  # key: name, the factors it helps with
    "before": ("Riverside before-school program", ("caring_for_family", "family_work_schedule")),
    "pantry": ("Brass City Food Pantry", ("food_insecurity",)),
    "bus": ("CT Transit student bus pass", ("transportation", "unsafe_route")),
    "frc": ("Family Resource Center", ("housing_instability", "caring_for_family")),
    "clinic": ("Youth counseling at the Wellmore clinic", ("anxiety_or_mental_health", "bullying")),
    "library": ("Homework club at the public library", ("academic_difficulty", "not_connected_to_learning")),
    "mentor": ("Mentoring: Big Brothers Big Sisters", ("no_caring_adult", "peers_out_of_school")),
}


@dataclass(frozen=True)
class More:
    """One more case of the team: its school, case manager, latest assessment, referrals (resource
    key, status), and the meeting the rules required (trigger ``trigger`` school days ago, held
    after ``held`` school days, or not held)."""

    school: str
    manager: str
    factors: tuple[str, ...]
    referrals: tuple[tuple[str, str], ...] = ()
    trigger: int | None = None
    held: int | None = None


RIVER, HILL, WEST = "Riverside Middle", "Hillside Elementary", "Westover High"
MORE = (
    More(RIVER, "cm1", ("transportation", "unsafe_route"), (("bus", "connected"),), 30, 7),
    More(RIVER, "cm2", ("bullying", "anxiety_or_mental_health"), (("clinic", "made"),), 24, 12),
    More(RIVER, "cm3", ("academic_difficulty", "sporadic_absences_dont_matter"), (("library", "connected"),), 40, 9),
    More(HILL, "cm1", ("student_illness", "chronic_health_condition"), (), 35, 4),
    More(
        HILL,
        "cm2",
        ("food_insecurity", "housing_instability"),
        (("pantry", "connected"), ("frc", "not_connected")),
        28,
        10,
    ),
    More(HILL, "cm3", ("caring_for_family", "excused_absences_dont_matter"), (("before", "declined"),), 18),
    More(HILL, "cm4", ("transportation", "family_work_schedule"), (("bus", "made"),), 3),
    More(WEST, "cm2", ("student_employment", "not_connected_to_learning"), (("library", "declined"),), 45, 15),
    More(WEST, "cm3", ("substance_use", "peers_out_of_school"), (("mentor", "made"), ("clinic", "connected")), 22, 6),
    More(WEST, "cm4", ("no_caring_adult", "conflict_with_staff", "school_discipline"), (("mentor", "connected"),), 26),
    More(WEST, "cm4", ("food_insecurity", "unaware_of_law"), (("pantry", "connected"),)),
)
FIRST_NAMES = ("Ava", "Mateo", "Chloe", "Liam", "Sofia", "Ethan", "Isabella", "Lucas", "Mia", "Daniel", "Zoe")


def _weekdays(first: date, last: date) -> list[date]:
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return [d for d in days if d.weekday() < 5]


def _at(day: date, hour: int = 15) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


async def _district(live: Live) -> dict[str, Any]:
    """The school year in progress with a weekday calendar at the seed's school and two more, the
    directory's resources, the rules' meeting deadline for Maya (from 8 school days ago), and the
    team's other cases with their casework (``MORE``); one of another team's too."""
    today = clock.today(make_settings())
    days = _weekdays(today - timedelta(days=120), today + timedelta(days=120))
    past = [d for d in days if d < today]
    async with live.factory() as session:
        year = SchoolYear(name=f"{days[0].year}-{days[0].year + 1}", starts_on=days[0], ends_on=days[-1])
        session.add(year)
        await session.flush()
        riverside = await session.get(School, live.seed.school_id)
        assert riverside is not None
        schools = {RIVER: riverside}
        for name in (HILL, WEST):
            schools[name] = School(id=uuid.uuid4(), code=name[:4].upper(), name=name)
            session.add(schools[name])
        await session.flush()
        for school in schools.values():
            await session.execute(
                insert(InstructionalDay), [{"school_id": school.id, "day": d, "school_year_id": year.id} for d in days]
            )
        riverside.name = RIVER
        resources = {}
        for key, (name, helps) in RESOURCES.items():
            resources[key] = await rows.resource(session, name, *helps)

        maya_case = await session.get(Case, live.seed.cases["Maya"])
        assert maya_case is not None
        trigger = past[-8]  # her 4th unexcused absence in a month (or the year's last absences)
        for missed in (past[-14], past[-12], past[-10], trigger):
            await _absent(session, maya_case.student_id, riverside.id, missed)
        await rows.meeting_deadline(session, maya_case.student_id, maya_case, trigger, days[days.index(trigger) + 10])

        for n, more in enumerate(MORE):
            school = schools[more.school]
            kid = await f.student(
                session, school, first_name=FIRST_NAMES[n], last_name="Example", student_number=f"EX{n:05d}"
            )
            case = await f.case(session, kid, manager=live.seed.users[more.manager], opened_days_ago=50 - n)
            case.status = CaseStatus.ACTIVE
            await rows.assessment(
                session, case, _at(today - timedelta(days=40 - n)), list(more.factors), more.factors[0]
            )
            for k, (name, status) in enumerate(more.referrals):
                await rows.referral(session, case, _at(today - timedelta(days=30 - n - k)), status, resources[name])
            if more.trigger is not None:
                on = past[-more.trigger]
                await _absent(session, kid.id, school.id, on)
                held = _at(days[days.index(on) + more.held], 19) if more.held is not None else None
                await rows.meeting_deadline(session, kid.id, case, on, days[days.index(on) + 10], completed_at=held)
        sam = await session.get(Case, live.seed.cases["Sam"])  # another team's: not in sup1's reports
        assert sam is not None
        await rows.assessment(
            session, sam, _at(today - timedelta(days=5)), ["legal_or_immigration"], "legal_or_immigration"
        )
        await session.commit()
    return {"resources": resources, "today": today}


async def _absent(session: AsyncSession, student_id: uuid.UUID, school_id: uuid.UUID, day: date) -> None:
    await session.execute(
        insert(AttendanceRecord),
        [
            {
                "student_id": student_id,
                "day": day,
                "school_id": school_id,
                "minutes_present": 0,
                "minutes_scheduled": 360,
            }
        ],
    )


async def _casework_from_the_phone(cm1: Device, case_id: uuid.UUID, visit: uuid.UUID, found: dict[str, Any]) -> None:
    """What cm1 recorded in the living room: the first assessment two weeks ago, a reassessment
    during today's visit, two referrals (one connected since), the parent meeting, and follow-ups
    (one moved, one already overdue)."""
    now, today = datetime.now(UTC), found["today"]
    before_school = found["resources"]["before"].id
    referral = uuid.uuid4()
    call = uuid.uuid4()
    steps: list[tuple[str, dict[str, Any]]] = [
        (
            "assessment.save",
            {
                "id": str(uuid.uuid4()),
                "case_id": str(case_id),
                "at": (now - timedelta(days=14)).isoformat(),
                "factors": ["transportation", "caring_for_family"],
                "primary_factor": "transportation",
                "notes": "First call with Rosa: Maya misses the bus on the days she walks her brother.",
            },
        ),
        (
            "assessment.save",
            {
                "id": str(uuid.uuid4()),
                "case_id": str(case_id),
                "at": (now - timedelta(minutes=55)).isoformat(),
                "factors": ["caring_for_family", "family_work_schedule", "unaware_of_absence_count"],
                "primary_factor": "caring_for_family",
                "visit_log_id": str(visit),
                "strengths": "Rosa is keen to help; Maya likes her science teacher and the art club.",
                "student_voice": "I take Leo to his school first, then I am late, so I just stay home.",
                "notes": "Rosa did not know Maya had missed 9 days. The before-school program takes Leo at 7:15.",
            },
        ),
        (
            "service_referral.create",
            {
                "id": str(referral),
                "case_id": str(case_id),
                "at": (now - timedelta(minutes=50)).isoformat(),
                "resource_id": str(before_school),
                "factor": "caring_for_family",
                "note": "Enrollment form left with Rosa.",
            },
        ),
        (
            "service_referral.create",
            {
                "id": str(uuid.uuid4()),
                "case_id": str(case_id),
                "at": (now - timedelta(minutes=48)).isoformat(),
                "resource_name": "Neighbour's carpool (Mrs. Diaz, same street)",
                "factor": "family_work_schedule",
            },
        ),
        (
            "parent_meeting.record",
            {
                "id": str(uuid.uuid4()),
                "case_id": str(case_id),
                "held_at": (now - timedelta(minutes=45)).isoformat(),
                "place": "home",
                "attendees": ["Rosa Alvarez (mother)", "Maya Alvarez"],
                "interpreter": True,
                "language": "es",
                "policy_discussed": True,
                "agreements": "Leo goes to the before-school program from Monday; Rosa calls the school by 8:30 "
                "when Maya stays home.",
                "next_meeting_on": (today + timedelta(days=14)).isoformat(),
            },
        ),
        (
            "follow_up.schedule",
            {
                "id": str(call),
                "case_id": str(case_id),
                "kind": "phone_call",
                "title": "Call Rosa after the first week of the program",
                "due_on": (today + timedelta(days=3)).isoformat(),
            },
        ),
        (
            "follow_up.schedule",
            {
                "id": str(uuid.uuid4()),
                "case_id": str(case_id),
                "kind": "school_meeting",
                "title": "Ask the school counselor about a later bus stop",
                "due_on": (today - timedelta(days=2)).isoformat(),
            },
        ),
        (
            "follow_up.schedule",
            {
                "id": str(uuid.uuid4()),
                "case_id": str(case_id),
                "kind": "home_visit",
                "title": "Visit after two weeks of the program",
                "due_on": (today + timedelta(days=14)).isoformat(),
            },
        ),
        (
            "follow_up.reschedule",
            {"id": str(call), "due_on": (today + timedelta(days=6)).isoformat(), "reason": "Rosa works late that week"},
        ),
        (
            "service_referral.update",
            {"id": str(referral), "at": now.isoformat(), "status": "connected", "note": "Leo is enrolled from Monday."},
        ),
    ]
    for name, args in steps:
        result = await cm1.push(name, args)
        assert result.status == "applied", (name, result)


async def test_a_case_with_its_casework_and_the_reports_for_a_supervisor(live: Live, page: Page) -> None:
    problems = watch_for_problems(page)
    found = await _district(live)
    cm1 = await live.device("cm1")
    maya = live.seed.cases["Maya"]
    visit, _ = await cm1.submit_visit(maya, NOTES["Maya"])
    await _casework_from_the_phone(cm1, maya, visit, found)

    await sign_in(page, "sup1")
    await page.goto(f"/console/cases/{maya}")
    await expect(page.get_by_role("heading", name="Maya Alvarez")).to_be_visible()
    assessments = page.locator("section[aria-labelledby=assessments]")
    await expect(assessments.get_by_role("heading", name="Latest assessment", exact=False)).to_be_visible()
    await expect(assessments.get_by_role("heading", name="First assessment", exact=False)).to_be_visible()
    await expect(assessments.locator("li.primary").first).to_contain_text("Caring for a sibling")
    await expect(page.get_by_text("I take Leo to his school first")).to_be_visible()
    referrals = page.locator("section[aria-labelledby=services]")
    await expect(referrals.get_by_text("Riverside before-school program")).to_be_visible()
    await expect(referrals.locator(".ref-status.connected")).to_have_text("connected")
    meetings = page.locator("section[aria-labelledby=meetings]")
    await expect(meetings.get_by_text("Within the deadline")).to_be_visible()
    held_after = 8 if found["today"].weekday() < 5 else 7  # the trigger was the 8th school day before today
    await expect(meetings.locator("dd.deadline")).to_contain_text(f"held {held_after} school days after")
    follow_ups = page.locator("section[aria-labelledby=follow-ups]")
    await expect(follow_ups.locator("tr.overdue")).to_contain_text("Ask the school counselor")
    await expect(follow_ups.get_by_text("Rosa works late that week", exact=False)).to_be_visible()
    await screenshot(page, "case", full_page=True)

    await page.get_by_role("link", name="Reports", exact=True).click()
    await expect(page.get_by_role("heading", name="Reports", exact=True)).to_be_visible()
    await expect(page.locator("svg[role=img]")).to_have_count(5)
    await expect(page.locator("#cases-assessed")).to_have_text(str(1 + len(MORE)))  # not Sam's: another team's
    await screenshot(page, "reports", full_page=True)

    assert problems == []
