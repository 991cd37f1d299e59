"""The dashboard (``GET /dashboard`` and ``/console/dashboard``): its numbers on a small district
made here, a supervisor's team scope, who may read it, and the unexcused absences in the school
days before and after a closed case opened."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cases import CaseStatus, FollowUpKind
from schemas.dashboard import DashboardScope
from schemas.visits import DecisionIn, ReviewDecision
from server import audit
from server.audit import Actor, AuditEntry
from server.cases.models import Case, FollowUp, VisitLog
from server.dashboard import service
from server.dashboard.service import week_start
from server.rules import service as rules
from server.sync.models import Conflict
from server.visits import approvals
from tests import factories as f
from tests.helpers import bearer, login
from tests.rules_fixtures import absent, add_student, make_district
from tests.test_console import _sign_in
from tests.test_visits import _now, _principal, _visit

ZONE = "America/New_York"
"""The district's time zone (``DOORSTEP_TIME_ZONE``'s default, as the test app's settings have it)."""


async def _log(db: AsyncSession, case: Case, author: uuid.UUID, checked_in_at: datetime) -> VisitLog:
    row = VisitLog(
        id=uuid.uuid4(), case_id=case.id, created_by=author, status="open", checked_in_at=checked_in_at, flags=[]
    )
    db.add(row)
    await db.flush()
    return row


async def _conflict(db: AsyncSession, author: uuid.UUID, status: str = "open") -> None:
    db.add(
        Conflict(
            id=uuid.uuid4(),
            record_type="visit_note",
            record_id=uuid.uuid4(),
            kind="edited_after_approval",
            author_id=author,
            status=status,
            mine={"body": "text"},
        )
    )
    await db.flush()


async def _meeting(db: AsyncSession, case: Case, due_on: date, *, done: bool = False) -> None:
    db.add(
        FollowUp(
            id=uuid.uuid4(),
            student_id=case.student_id,
            case_id=case.id,
            kind=FollowUpKind.PARENT_MEETING,
            title="Parent meeting (rules)",
            due_on=due_on,
            completed_at=datetime.now(UTC) if done else None,
        )
    )
    await db.flush()


@pytest.fixture
async def district(db: AsyncSession) -> dict[str, Any]:
    """Two teams at one school: sup1's cm1 and cm2, sup2's cm5, and one unassigned referral.

    Open cases: cm1 assigned ×2 and active, cm2 contacting, cm5 assigned and monitoring, one
    referred (unassigned); cm1 and cm5 a closed case each. Visit logs this week: cm1 2, cm2 1,
    cm5 1; before Monday: cm1 1. Visits in review, submitted 8 days ago: cm1 2 waiting (one more
    approved, one returned by sup1 now), cm5 1 waiting. Conflicts open: cm1 2 (+1 resolved), cm5 1.
    Overdue parent meetings: cm1's 1 (+1 held, +1 not due), cm5's 2."""
    school = await f.school(db, "Dash")
    u = {name: await f.user_id(db, name) for name in ("cm1", "cm2", "cm5", "sup1", "sup2", "admin")}

    async def case(manager: str | None, status: CaseStatus) -> Case:
        row = await f.case(db, await f.student(db, school), manager=u[manager] if manager else None, status=status)
        if status is CaseStatus.CLOSED:
            row.closed_at = datetime.now(UTC)
            await db.flush()
        return row

    c = {
        "cm1": await case("cm1", CaseStatus.ASSIGNED),
        "cm1b": await case("cm1", CaseStatus.ASSIGNED),
        "cm1c": await case("cm1", CaseStatus.ACTIVE),
        "cm2": await case("cm2", CaseStatus.CONTACTING),
        "cm5": await case("cm5", CaseStatus.ASSIGNED),
        "cm5b": await case("cm5", CaseStatus.MONITORING),
        "referred": await case(None, CaseStatus.REFERRED),
        "cm1_closed": await case("cm1", CaseStatus.CLOSED),
        "cm5_closed": await case("cm5", CaseStatus.CLOSED),
    }
    now = await _now(db)
    monday = week_start(now, ZONE)
    for author, at in (
        ("cm1", monday),
        ("cm1", monday + timedelta(hours=30)),
        ("cm2", monday + timedelta(minutes=1)),
        ("cm5", monday + timedelta(hours=2)),
        ("cm1", monday - timedelta(minutes=1)),  # last week: not this week's
    ):
        await _log(db, c[author], u[author], at)

    eight_days = 24 * 8.0  # checked in before this week's Monday whatever today is
    await _visit(db, c["cm1"], u["cm1"], hours_ago=eight_days)
    await _visit(db, c["cm1b"], u["cm1"], hours_ago=eight_days + 1)
    approved, _ = await _visit(db, c["cm1"], u["cm1"], hours_ago=eight_days + 2)
    returned, _ = await _visit(db, c["cm1c"], u["cm1"], hours_ago=eight_days + 3)
    await _visit(db, c["cm5"], u["cm5"], hours_ago=eight_days)
    sup1 = await _principal(db, "sup1")
    for visit, decision in ((approved, ReviewDecision.APPROVE), (returned, ReviewDecision.RETURN)):
        body = DecisionIn(decision_id=uuid.uuid4(), decision=decision, expected_version=2, comment="Noted.")
        await approvals.decide(db, sup1, Actor.system(), visit.id, body)

    for author, status in (("cm1", "open"), ("cm1", "open"), ("cm1", "resolved"), ("cm5", "open")):
        await _conflict(db, u[author], status)

    today = now.astimezone(ZoneInfo(ZONE)).date()  # the district's date, as the dashboard counts
    await _meeting(db, c["cm1"], today - timedelta(days=3))
    await _meeting(db, c["cm1b"], today - timedelta(days=3), done=True)
    await _meeting(db, c["cm1c"], today + timedelta(days=3))
    await _meeting(db, c["cm5"], today - timedelta(days=1))
    await _meeting(db, c["cm5b"], today - timedelta(days=20))
    await db.commit()
    return {"users": u, "cases": c, "now": now}


def _statuses(dash: Any) -> dict[str, int]:
    return {row.status.value: row.cases for row in dash.open_cases}


async def test_the_district_numbers_are_right_for_an_admin(db: AsyncSession, district: dict[str, Any]) -> None:
    dash = await service.dashboard(db, await _principal(db, "admin"), district["now"], ZONE)
    assert dash.scope is DashboardScope.DISTRICT and dash.time_zone == ZONE
    assert _statuses(dash) == {"referred": 1, "assigned": 3, "contacting": 1, "active": 1, "monitoring": 1}
    assert dash.open_cases_total == 7
    assert dash.week_starts == week_start(district["now"], ZONE) and dash.week_starts.weekday() == 0
    assert dash.visits_this_week == 4
    assert dash.approvals_waiting == 3
    assert dash.oldest_waiting_since is not None
    assert dash.oldest_waiting_since == district["now"] - timedelta(hours=24 * 8 + 1)
    assert [(t.supervisor_id, t.decisions, t.approved, t.returned) for t in dash.turnaround] == [
        (district["users"]["sup1"], 2, 1, 1)
    ]
    assert dash.turnaround[0].median_seconds == pytest.approx((24 * 8 + 2.5) * 3600, abs=60)
    assert dash.conflicts_open == 3
    assert dash.overdue_parent_meetings == 3


async def test_a_supervisor_sees_her_team_only(db: AsyncSession, district: dict[str, Any]) -> None:
    sup1 = await service.dashboard(db, await _principal(db, "sup1"), district["now"], ZONE)
    assert sup1.scope is DashboardScope.TEAM
    # her team's cases and the unassigned referral she would assign; none of cm5's
    assert _statuses(sup1) == {"referred": 1, "assigned": 2, "contacting": 1, "active": 1, "monitoring": 0}
    assert (sup1.visits_this_week, sup1.approvals_waiting, sup1.conflicts_open) == (3, 2, 2)
    assert sup1.overdue_parent_meetings == 1
    assert [t.supervisor_id for t in sup1.turnaround] == [district["users"]["sup1"]]

    sup2 = await service.dashboard(db, await _principal(db, "sup2"), district["now"], ZONE)
    assert _statuses(sup2) == {"referred": 1, "assigned": 1, "contacting": 0, "active": 0, "monitoring": 1}
    assert (sup2.visits_this_week, sup2.approvals_waiting, sup2.conflicts_open) == (1, 1, 1)
    assert sup2.overdue_parent_meetings == 2
    assert sup2.turnaround == [], "sup1's decisions are on her team's visits"


async def test_case_managers_and_counselors_may_not_read_it(client: httpx.AsyncClient) -> None:
    for username in ("cm1", "counselor1"):
        client.cookies.clear()
        await _sign_in(client, username)
        page = await client.get("/console/dashboard")
        assert page.status_code == 403, username
        assert "Not allowed" in page.text
        assert (await client.get("/console/dashboard/overdue-meetings")).status_code == 403
        assert 'href="/console/dashboard"' not in page.text, "the navigation does not offer it"
        response = await client.get("/dashboard", headers=bearer(await login(client, username)))
        assert (response.status_code, response.json()["code"]) == (403, "forbidden")
    client.cookies.clear()
    await _sign_in(client, "office1")
    assert (await client.get("/console/dashboard")).status_code == 200


async def test_the_service_refuses_a_role_that_does_not_read_it(db: AsyncSession) -> None:
    from server.errors import Forbidden

    with pytest.raises(Forbidden):
        await service.dashboard(db, await _principal(db, "cm1"), datetime.now(UTC), ZONE)


async def test_the_console_page_shows_the_numbers_each_linked_to_its_list(
    client: httpx.AsyncClient, db: AsyncSession, district: dict[str, Any]
) -> None:
    await _sign_in(client, "sup1")
    page = await client.get("/console/dashboard")
    assert page.status_code == 200
    html = page.text
    assert '<a id="open-cases" href="/console/cases">5</a>' in html
    assert '<td class="num" id="visits-this-week">3</td>' in html
    assert '<a id="approvals-waiting" href="/console/approvals?status=submitted">2</a>' in html
    assert '<a id="conflicts-open" href="/console/conflicts">2</a>' in html
    assert '<a id="overdue-meetings" href="/console/dashboard/overdue-meetings">1</a>' in html
    assert '<a id="status-assigned" href="/console/cases?status=assigned">2</a>' in html
    assert '<tr><th scope="row">Demo Supervisor One</th>' in html, "the turnaround names the reviewer"
    assert html.count("<caption>") == 3, "at a glance, by status, turnaround (no closed case this year)"

    # the list behind a status's count holds exactly those cases
    listed = await client.get("/console/cases", params={"status": "assigned"})
    ids = set(re.findall(r'href="/console/cases/([0-9a-f-]{36})"', listed.text))
    assert ids == {str(district["cases"]["cm1"].id), str(district["cases"]["cm1b"].id)}
    assert (await client.get("/console/cases", params={"status": "nonsense"})).status_code == 400

    overdue = await client.get("/console/dashboard/overdue-meetings")
    assert overdue.status_code == 200
    cases = set(re.findall(r'href="/console/cases/([0-9a-f-]{36})"', overdue.text))
    assert cases == {str(district["cases"]["cm1"].id)}
    student = district["cases"]["cm1"].student_id
    assert "console_dashboard" in [
        (e.detail or {}).get("via") for e in await audit.entries_for(db, "student", student)
    ], "each student the list names is an audited read"


async def test_get_dashboard_answers_the_same_figures_as_json(
    client: httpx.AsyncClient, db: AsyncSession, district: dict[str, Any]
) -> None:
    response = await client.get("/dashboard", headers=bearer(await login(client, "sup2")))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "team" and body["time_zone"] == ZONE
    assert {r["status"]: r["cases"] for r in body["open_cases"]}["monitoring"] == 1
    assert (body["visits_this_week"], body["approvals_waiting"], body["conflicts_open"]) == (1, 1, 1)
    assert body["overdue_parent_meetings"] == 2


# --- closed cases: unexcused absences before and after the opening ---------------------------------


async def _closed_case(
    db: AsyncSession, student: Any, manager: uuid.UUID, opened_on: date, at: time = time(14, 30)
) -> Case:
    """A closed case opened on ``opened_on`` at ``at`` UTC (by default mid-morning in the district)."""
    row = await f.case(db, student, manager=manager, status=CaseStatus.CLOSED)
    row.opened_at = datetime.combine(opened_on, at, tzinfo=UTC)
    row.closed_at = datetime.combine(opened_on + timedelta(days=60), time(15), tzinfo=UTC)
    row.outcome = "improved"
    await db.flush()
    return row


async def test_before_and_after_count_school_days_around_the_opening(db: AsyncSession) -> None:
    """The case opens on Tuesday 2026-01-20, the day after a holiday (Monday the 19th): its 30
    school days before run from 2025-12-08 to Friday the 16th, skipping the holiday; the 30 from
    the opening day on run to 2026-03-02."""
    holiday = date(2026, 1, 19)
    d = await make_district(db, holidays=frozenset({holiday}), students=2)
    opened = date(2026, 1, 20)
    at = d.days.index(opened)
    before, after = d.days[at - 30 : at], d.days[at : at + 30]
    assert (before[0], before[-1], after[-1]) == (date(2025, 12, 8), date(2026, 1, 16), date(2026, 3, 2))
    one, two = d.students
    cm1 = await f.user_id(db, "cm1")
    case_one = await _closed_case(db, one, cm1, opened)
    case_two = await _closed_case(db, two, cm1, opened)

    # one: counted before: the 30th school day before and the Friday before the holiday; not the
    # 31st, not the holiday itself (no school day), not an absence documented in time
    await absent(db, d, one, d.days[at - 31], before[0], before[-1], holiday)
    await absent(db, d, one, before[5], reason_code="illness_verified", documentation_received_on=before[6])
    # counted after: the opening day and the 30th school day from it
    await absent(db, d, one, opened, after[-1])
    # two: one before (not one before the window), one after (not the 31st school day from the opening)
    await absent(db, d, two, d.days[at - 40], before[10], after[5], d.days[at + 30])

    now = datetime(2026, 6, 30, 12, tzinfo=UTC)  # summer: the school year just ended
    dash = await service.dashboard(db, await _principal(db, "admin"), now, ZONE)
    ba = dash.before_after
    assert (ba.school_year, ba.since, ba.window_school_days) == ("2025-2026", date(2025, 9, 2), 30)
    by_case = {c.case_id: c for c in ba.cases}
    assert set(by_case) == {case_one.id, case_two.id}
    first = by_case[case_one.id]
    assert (first.opened_on, first.school_days_before, first.school_days_after) == (opened, 30, 30)
    assert (first.unexcused_before, first.unexcused_after) == (2, 2)
    second = by_case[case_two.id]
    assert (second.unexcused_before, second.unexcused_after) == (1, 1)
    assert (ba.unexcused_before, ba.unexcused_after, ba.mean_before, ba.mean_after) == (3, 3, 1.5, 1.5)
    assert ba.complete_after == 2

    # another team's supervisor sees none of cm1's closed cases
    sup2 = await service.dashboard(db, await _principal(db, "sup2"), now, ZONE)
    assert sup2.before_after.cases == []


async def test_an_after_window_still_running_counts_the_school_days_so_far(db: AsyncSession) -> None:
    """Unexcused as the rules classify it today: an absence whose documentation window (10 school
    days) is still open is not unexcused yet."""
    d = await make_district(db, students=1)
    (student,) = d.students
    opened = d.school_day(date(2026, 5, 1))
    case = await _closed_case(db, student, await f.user_id(db, "cm1"), opened)
    await absent(db, d, student, opened, d.school_day(opened, 3), d.school_day(opened, 12))
    today = d.school_day(opened, 15)
    at = datetime.combine(today, time(14), tzinfo=UTC)
    dash = await service.dashboard(db, await _principal(db, "admin"), at, ZONE)
    (row,) = dash.before_after.cases
    assert row.case_id == case.id
    assert (row.school_days_after, row.unexcused_after) == (15, 2)
    assert dash.before_after.complete_after == 0
    report = await rules.student_truancy(db, student.id, today)
    assert [a.day for a in report.absences if a.classification == "unexcused"] == [opened, d.school_day(opened, 3)]


async def test_the_console_names_the_closed_cases_students_and_audits_it(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    d = await make_district(db, students=0, name="2025-2026")
    student = await add_student(db, d)
    opened = d.school_day(date(2026, 2, 2))
    case = await _closed_case(db, student, await f.user_id(db, "cm1"), opened)
    await absent(db, d, student, d.school_day(opened, -1))
    await db.commit()
    await _sign_in(client, "sup1")
    page = await client.get("/console/dashboard")
    assert page.status_code == 200
    assert f'href="/console/cases/{case.id}"' in page.text
    assert f'data-case="{case.id}" data-window="before">1 <span class="muted">of 30 days</span>' in page.text
    entries = await db.scalars(
        select(AuditEntry).where(AuditEntry.student_id == student.id, AuditEntry.action == "student.listed")
    )
    assert [(e.detail or {}).get("via") for e in entries] == ["console_dashboard"]


async def test_the_week_and_a_cases_opening_day_are_the_districts(db: AsyncSession) -> None:
    """Wednesday 2026-12-02 in New York: its week began Monday 2026-11-30 00:00 EST (05:00 UTC). A
    case opened 2026-01-21 03:00 UTC opened on Tuesday the 20th there."""
    school = await f.school(db, "Zone")
    cm1 = await f.user_id(db, "cm1")
    case = await f.case(db, await f.student(db, school), manager=cm1)
    for at in ("2026-11-30T04:59:00+00:00", "2026-11-30T05:00:00+00:00", "2026-12-01T12:00:00+00:00"):
        await _log(db, case, cm1, datetime.fromisoformat(at))
    now = datetime(2026, 12, 2, 15, tzinfo=UTC)
    admin = await _principal(db, "admin")
    here = await service.dashboard(db, admin, now, ZONE)
    assert here.week_starts.isoformat() == "2026-11-30T00:00:00-05:00"
    assert here.visits_this_week == 2
    assert (await service.dashboard(db, admin, now, "UTC")).visits_this_week == 3

    d = await make_district(db, students=1)
    (student,) = d.students
    late = await _closed_case(db, student, cm1, date(2026, 1, 21), at=time(3))
    await absent(db, d, student, date(2026, 1, 20))
    summer = datetime(2026, 6, 30, 12, tzinfo=UTC)
    (row,) = (await service.dashboard(db, admin, summer, ZONE)).before_after.cases
    assert (row.case_id, row.opened_on, row.unexcused_before, row.unexcused_after) == (late.id, date(2026, 1, 20), 0, 1)
    (row,) = (await service.dashboard(db, admin, summer, "UTC")).before_after.cases
    assert (row.opened_on, row.unexcused_before, row.unexcused_after) == (date(2026, 1, 21), 1, 0)
