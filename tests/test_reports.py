"""The reports (``GET /reports`` and ``/console/reports``): each report's numbers on a small district
made here, a supervisor's team scope, the period on the district's clock, the legal deadline of a
parent meeting counted in school days from the law (not from a rescheduled due date), and who may
read them."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cases import FollowUpKind
from schemas.reports import MeetingOutcome, Reports
from server.console.reports import CATEGORY_NAMES
from server.errors import Forbidden, InvalidInput
from server.reports import service
from server.rules.models import RuleSet
from server.schools.models import School
from tests import casework_rows as rows
from tests import factories as f
from tests.helpers import bearer, login
from tests.rules_fixtures import absent, add_student, make_district
from tests.test_console import _sign_in
from tests.test_visits import _principal

ZONE = "America/New_York"
NOW = datetime(2026, 3, 2, 15, tzinfo=UTC)
"""Monday 2026-03-02, 10:00 in the district: in school year 2025-2026 (2025-09-02 to 2026-06-12)."""
HOLIDAY = date(2025, 11, 11)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
async def district(db: AsyncSession) -> dict[str, Any]:
    """School A (a weekday calendar, Veterans Day off) and school B (no calendar).

    Cases: a1, a2 (cm1, school A), b1 (cm1, school B), y (cm1, school A), x (cm5, school A).

    Assessments: a1 first names transportation and bullying, then (its latest) transportation and
    anxiety, anxiety primary; a2 transportation (primary) and unaware_of_law; b1 food_insecurity
    and housing_instability; x bullying (primary); y one made at 23:00 in the district on the day
    before the school year began (03:00 UTC on its first day): outside the period.

    Referrals: the food pantry (directory): a1 connected and made, a2 declined, x connected, and
    a2's connected one of last summer (outside the period); the bus pass program: a2 connected;
    named by hand: b1 not connected.

    Parent meetings the rules required (school A's calendar): a1's from Mon 2025-11-03, due by the
    law on 11-18 (10 school days, the holiday skipped), moved to 12-01, held 11-18 at 20:00 in the
    district (01:00 UTC the next day): on time, 10 school days. a2's from 12-01, due 12-15, moved
    to 12-19, held 12-17: late, 12 school days. y's from 2026-02-02, due 02-16, not held: overdue.
    x's from 02-23, due 03-09, not held: not yet due. A student with no case, from 2026-01-05,
    held the next day: on time, 1 school day (the district's, not a team's). Not counted: a meeting
    a case manager scheduled (no trigger day), and one from before the period."""
    d = await make_district(db, holidays=frozenset({HOLIDAY}), students=0)
    school_b = await f.school(db, "Brook")
    cm1, cm5 = await f.user_id(db, "cm1"), await f.user_id(db, "cm5")

    async def case(manager: uuid.UUID, in_b: bool = False) -> Any:
        student = await f.student(db, school_b) if in_b else await add_student(db, d)
        return await f.case(db, student, manager=manager)

    c = {"a1": await case(cm1), "a2": await case(cm1), "b1": await case(cm1, in_b=True)}
    c |= {"y": await case(cm1), "x": await case(cm5)}

    await rows.assessment(db, c["a1"], utc("2025-10-01T15:00"), ["transportation", "bullying"], "transportation")
    await rows.assessment(
        db, c["a1"], utc("2025-11-01T15:00"), ["transportation", "anxiety_or_mental_health"], "anxiety_or_mental_health"
    )
    await rows.assessment(db, c["a2"], utc("2025-10-15T15:00"), ["transportation", "unaware_of_law"], "transportation")
    await rows.assessment(db, c["b1"], utc("2025-10-20T15:00"), ["food_insecurity", "housing_instability"])
    await rows.assessment(db, c["x"], utc("2025-12-01T15:00"), ["bullying"], "bullying")
    await rows.assessment(db, c["y"], utc("2025-09-02T03:00"), ["student_employment"], "student_employment")

    pantry = await rows.resource(db, "Brass City Food Pantry", "food_insecurity")
    bus = await rows.resource(db, "Bus Pass Program", "transportation")
    for case_key, status, to, at in (
        ("a1", "connected", pantry, "2025-11-02T15:00"),
        ("a1", "made", pantry, "2025-11-20T15:00"),
        ("a2", "declined", pantry, "2025-10-16T15:00"),
        ("x", "connected", pantry, "2025-12-02T15:00"),
        ("a2", "connected", pantry, "2025-08-15T15:00"),
        ("a2", "connected", bus, "2025-10-16T16:00"),
        ("b1", "not_connected", "Grace Church clothing closet", "2025-10-21T15:00"),
    ):
        await rows.referral(db, c[case_key], utc(at), status, to)

    async def required(key: str | None, trigger: date, due: date, **fields: Any) -> Any:
        student = c[key].student_id if key else (await add_student(db, d)).id
        await absent(db, d, (await _student(db, student)), trigger)
        return await rows.meeting_deadline(db, student, c[key] if key else None, trigger, due, **fields)

    moved = [{"from": "2025-11-18", "to": "2025-12-01", "reason": "The mother works days", "by": str(cm1)}]
    await required("a1", date(2025, 11, 3), date(2025, 12, 1), completed_at=utc("2025-11-19T01:00"), rescheduled=moved)
    moved = [{"from": "2025-12-15", "to": "2025-12-19", "reason": "Family away", "by": str(cm1)}]
    await required("a2", date(2025, 12, 1), date(2025, 12, 19), completed_at=utc("2025-12-17T15:00"), rescheduled=moved)
    await required("y", date(2026, 2, 2), date(2026, 2, 16))
    await required("x", date(2026, 2, 23), date(2026, 3, 9))
    await required(None, date(2026, 1, 5), date(2026, 1, 20), completed_at=utc("2026-01-06T16:00"))
    await rows.meeting_deadline(
        db, c["a1"].student_id, c["a1"], None, date(2026, 1, 10), kind=FollowUpKind.PARENT_MEETING, created_by=cm1
    )
    await rows.meeting_deadline(db, c["a2"].student_id, c["a2"], date(2025, 6, 2), date(2025, 6, 16))
    await db.commit()
    return {"district": d, "cases": c, "school_a": d.school.id, "school_b": school_b.id, "pantry": pantry, "bus": bus}


async def _student(db: AsyncSession, student_id: uuid.UUID) -> Any:
    from server.students.models import Student

    return await db.get(Student, student_id)


async def _reports(db: AsyncSession, username: str, **period: date) -> Reports:
    return await service.reports(db, await _principal(db, username), NOW, ZONE, period.get("first"), period.get("last"))


def _factors(found: Reports) -> dict[str, tuple[int, int, dict[Any, int]]]:
    """Factor code: (cases, primary, cases by school) for the factors some case names."""
    return {
        r.factor.value: (r.cases, r.primary, {s.school_id: s.cases for s in r.by_school})
        for r in found.factors.factors
        if r.cases
    }


# --- factors ----------------------------------------------------------------------------------------


async def test_factors_count_each_case_by_its_latest_assessment_by_school(
    db: AsyncSession, district: dict[str, Any]
) -> None:
    a, b = district["school_a"], district["school_b"]
    found = await _reports(db, "admin")
    assert (found.period.from_, found.period.to, found.period.school_year) == (
        date(2025, 9, 2),
        date(2026, 6, 12),
        "2025-2026",
    )
    assert found.factors.cases_assessed == 4, "y's assessment was made the evening before the year began"
    assert {s.school_id: s.cases for s in found.factors.by_school} == {a: 3, b: 1}
    assert _factors(found) == {
        "transportation": (2, 1, {a: 2}),  # a1's latest names it, but anxiety is its primary now
        "anxiety_or_mental_health": (1, 1, {a: 1}),
        "bullying": (1, 1, {a: 1}),  # x's; a1's first assessment is history
        "unaware_of_law": (1, 0, {a: 1}),
        "food_insecurity": (1, 0, {b: 1}),
        "housing_instability": (1, 0, {b: 1}),
    }
    assert [r.factor.value for r in found.factors.factors][:2] == ["transportation", "student_illness"]
    assert len(found.factors.factors) == 28, "every factor, zeros included"
    categories = {
        c.category.value: (c.cases, {s.school_id: s.cases for s in c.by_school}) for c in found.factors.categories
    }
    assert categories == {
        "barriers": (3, {a: 2, b: 1}),  # b1 names two barriers: one case
        "aversion": (2, {a: 2}),
        "disengagement": (0, {}),
        "misconceptions": (1, {a: 1}),
        "other": (0, {}),
    }
    assert {s.id for s in found.schools} == {a, b}


async def test_another_teams_supervisor_sees_only_her_teams_cases(db: AsyncSession, district: dict[str, Any]) -> None:
    sup1 = await _reports(db, "sup1")
    assert sup1.scope.value == "team"
    assert sup1.factors.cases_assessed == 3
    assert "bullying" not in _factors(sup1)
    assert {c.category.value: c.cases for c in sup1.factors.categories}["aversion"] == 1

    sup2 = await _reports(db, "sup2")
    assert sup2.factors.cases_assessed == 1
    assert _factors(sup2) == {"bullying": (1, 1, {district["school_a"]: 1})}
    assert [(r.resource_name, r.total) for r in sup2.referrals.resources] == [("Brass City Food Pantry", 1)]
    assert (sup2.parent_meetings.required, sup2.parent_meetings.pending) == (1, 1)
    assert sup2.parent_meetings.on_time_share is None and sup2.parent_meetings.median_school_days is None


# --- referrals --------------------------------------------------------------------------------------


async def test_referrals_count_by_resource_and_status_with_the_share_connected(
    db: AsyncSession, district: dict[str, Any]
) -> None:
    found = (await _reports(db, "admin")).referrals
    by_name = {r.resource_name: r for r in found.resources}
    assert [r.resource_name for r in found.resources] == [
        "Brass City Food Pantry",
        "Bus Pass Program",
        "Grace Church clothing closet",
    ], "most referred first"
    pantry = by_name["Brass City Food Pantry"]
    assert pantry.resource_id == district["pantry"].id
    s = pantry.statuses
    assert (s.made, s.connected, s.not_connected, s.declined, pantry.total) == (1, 2, 0, 1, 4)
    assert pantry.connected_share == 0.5, "last summer's referral is outside the period"
    assert (by_name["Bus Pass Program"].total, by_name["Bus Pass Program"].connected_share) == (1, 1.0)
    by_hand = by_name["Grace Church clothing closet"]
    assert (by_hand.resource_id, by_hand.statuses.not_connected, by_hand.connected_share) == (None, 1, 0.0)
    t = found.statuses
    assert (t.made, t.connected, t.not_connected, t.declined, found.total) == (1, 3, 1, 1, 6)
    assert found.connected_share == 0.5

    team = (await _reports(db, "sup1")).referrals
    pantry = next(r for r in team.resources if r.resource_name == "Brass City Food Pantry")
    assert (pantry.statuses.connected, pantry.total) == (1, 3)
    assert pantry.connected_share == pytest.approx(1 / 3)


async def test_a_resource_renamed_in_the_directory_is_reported_by_its_name_now(
    db: AsyncSession, district: dict[str, Any]
) -> None:
    district["bus"].name = "CT Transit student passes"
    await db.flush()
    names = [r.resource_name for r in (await _reports(db, "admin")).referrals.resources]
    assert "CT Transit student passes" in names and "Bus Pass Program" not in names


# --- parent meetings --------------------------------------------------------------------------------


async def test_parent_meetings_are_counted_against_the_law_not_the_rescheduled_date(
    db: AsyncSession, district: dict[str, Any]
) -> None:
    found = (await _reports(db, "admin")).parent_meetings
    assert found.meeting_due_days == [10]
    assert (found.required, found.on_time, found.late, found.overdue, found.pending) == (5, 2, 1, 1, 1)
    assert found.on_time_share == 0.5, "2 on time of 4 decided (held late and overdue are late; one not yet due)"
    assert found.median_school_days == 10, "held after 10, 12 and 1 school days"
    (school,) = found.by_school
    assert school.school_id == district["school_a"] and school.required == 5

    team = (await _reports(db, "sup1")).parent_meetings
    assert (team.required, team.on_time, team.late, team.overdue, team.pending) == (3, 1, 1, 1, 0)
    assert team.on_time_share == pytest.approx(1 / 3)
    assert team.median_school_days == 11


async def test_each_meetings_deadline_and_school_days_follow_the_school_calendar(
    db: AsyncSession, district: dict[str, Any]
) -> None:
    from server.reports import repository as repo
    from server.scope import Reader, follow_ups

    admin = await _principal(db, "admin")
    found = await repo.meeting_deadlines(
        db, follow_ups(Reader.of(admin)), time_zone=ZONE, default_due_days=10, first=date(2025, 9, 2)
    )
    by_trigger = {m.trigger_day: (m.deadline, m.held_on, m.school_days) for m in found}
    assert by_trigger[date(2025, 11, 3)] == (date(2025, 11, 18), date(2025, 11, 18), 10), "the holiday skipped"
    assert by_trigger[date(2025, 12, 1)] == (date(2025, 12, 15), date(2025, 12, 17), 12)
    assert by_trigger[date(2026, 2, 2)] == (date(2026, 2, 16), None, None)
    today = date(2026, 3, 2)
    assert [service.outcome(m, today) for m in found] == [
        MeetingOutcome.ON_TIME,
        MeetingOutcome.LATE,
        MeetingOutcome.ON_TIME,
        MeetingOutcome.OVERDUE,
        MeetingOutcome.PENDING,
    ]
    assert service.outcome(found[3], date(2026, 2, 16)) is MeetingOutcome.PENDING, "the deadline day is in time"


async def test_the_rule_set_in_force_sets_the_number_of_school_days(db: AsyncSession, district: dict[str, Any]) -> None:
    year = district["district"].year
    db.add(
        RuleSet(
            school_year_id=year.id,
            version=1,
            preset="custom",
            monthly_threshold=4,
            yearly_threshold=11,
            habitual_threshold=20,
            chronic_percent=10.0,
            month_reading="calendar",
            documentation_window_days=10,
            tier_boundary=5,
            meeting_due_days=5,
            wellness_days=0,
        )
    )
    await db.flush()
    found = (await _reports(db, "admin")).parent_meetings
    assert found.meeting_due_days == [5]
    # a1's meeting after 10 school days is late now, a2's too; the next day's one still on time
    assert (found.on_time, found.late, found.overdue, found.pending) == (1, 2, 1, 1)


# --- the period -------------------------------------------------------------------------------------


async def test_a_chosen_period_counts_only_its_days_on_the_districts_clock(
    db: AsyncSession, district: dict[str, Any]
) -> None:
    found = await _reports(db, "admin", first=date(2025, 9, 1), last=date(2025, 10, 31))
    assert found.period.school_year is None
    # y's assessment (the evening of 09-01 in the district) is in; a1's latest of the period is its first
    assert found.factors.cases_assessed == 4
    assert _factors(found)["bullying"] == (1, 0, {district["school_a"]: 1})
    assert "student_employment" in _factors(found) and "anxiety_or_mental_health" not in _factors(found)
    assert found.referrals.total == 3
    assert found.parent_meetings.required == 0

    only_from = await _reports(db, "admin", first=date(2026, 1, 1))
    assert (only_from.period.from_, only_from.period.to) == (date(2026, 1, 1), date(2026, 6, 12))
    assert only_from.parent_meetings.required == 3


async def test_a_period_that_ends_before_it_begins_is_refused(db: AsyncSession) -> None:
    with pytest.raises(InvalidInput):
        await _reports(db, "admin", first=date(2026, 2, 1), last=date(2026, 1, 1))
    with pytest.raises(InvalidInput):
        await _reports(db, "admin", first=date(2020, 1, 1), last=date(2026, 1, 1))


async def test_with_no_school_year_the_period_is_since_july(db: AsyncSession) -> None:
    found = await service.reports(db, await _principal(db, "office1"), NOW, ZONE)
    assert (found.period.from_, found.period.to, found.period.school_year) == (date(2025, 7, 1), date(2026, 3, 2), None)
    assert (found.factors.cases_assessed, found.referrals.total, found.parent_meetings.required) == (0, 0, 0)


# --- who may read them ------------------------------------------------------------------------------


async def test_case_managers_and_counselors_are_refused(client: httpx.AsyncClient, db: AsyncSession) -> None:
    for username in ("cm1", "counselor1"):
        with pytest.raises(Forbidden):
            await service.reports(db, await _principal(db, username), NOW, ZONE)
        response = await client.get("/reports", headers=bearer(await login(client, username)))
        assert (response.status_code, response.json()["code"]) == (403, "forbidden"), username


async def test_get_reports_answers_the_same_numbers_as_json(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    response = await client.get(
        "/reports", params={"from": "2025-09-02", "to": "2026-06-12"}, headers=bearer(await login(client, "sup1"))
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "team" and body["time_zone"] == ZONE
    assert body["period"] == {"from": "2025-09-02", "to": "2026-06-12", "school_year": None}
    assert body["factors"]["cases_assessed"] == 3
    assert body["referrals"]["statuses"] == {"made": 1, "connected": 2, "not_connected": 1, "declined": 1}
    meetings = body["parent_meetings"]
    assert (meetings["required"], meetings["on_time"], meetings["late"], meetings["overdue"]) == (3, 1, 1, 1)
    assert meetings["median_school_days"] == 11

    bad = await client.get(
        "/reports", params={"from": "2026-02-01", "to": "2026-01-01"}, headers=bearer(await login(client, "sup1"))
    )
    assert (bad.status_code, bad.json()["code"]) == (400, "malformed")
    bad = await client.get("/reports", params={"from": "yesterday"}, headers=bearer(await login(client, "sup1")))
    assert bad.status_code == 400


async def test_the_console_page_shows_each_report_as_a_chart_and_a_table(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    await _sign_in(client, "sup1")
    page = await client.get("/console/reports", params={"from": "2025-09-02", "to": "2026-06-12"})
    assert page.status_code == 200
    html = page.text
    assert html.count('<svg role="img"') == 5, "categories, categories by school, factors, referrals, meetings"
    assert '<strong id="cases-assessed">3</strong>' in html
    assert re.search(
        r'<tr data-factor="transportation"><th scope="row">No reliable way to get to school</th>'
        r'(<td class="num">\d+</td>)+',
        html,
    )
    assert '<td class="num" id="connected-share">40%</td>' in html, "2 connected of 5 referrals"
    assert '<strong id="on-time-share">33%</strong>' in html
    assert '<strong id="median-school-days">11</strong>' in html
    assert "Your team's cases" in html

    chosen = await client.get("/console/reports", params={"from": "2026-02-01", "to": "2026-01-01"})
    assert chosen.status_code == 400 and "after it ends" in chosen.text
    wrong = await client.get("/console/reports", params={"from": "yesterday"})
    assert wrong.status_code == 400 and "That is not a date" in wrong.text

    client.cookies.clear()
    await _sign_in(client, "office1")
    office = await client.get("/console/reports")
    assert office.status_code == 200 and "The district's cases" in office.text
    assert '<input id="from" name="from" type="date" value="2025-09-02">' in office.text, "the default period"


LABELS = {c.value: name for c, name in CATEGORY_NAMES.items()}


def _school_chart(html: str) -> dict[str, tuple[int, dict[str, int]]]:
    """The factors-by-school chart: school: (the number after its bar, category: the part's count
    as its <title> says, the part's class checked against it)."""
    figure = re.search(r'<svg role="img" aria-labelledby="school-chart-title".*?</svg>', html, re.S)
    assert figure, "no chart of the factors by school"
    chart = {}
    for label, total, body in re.findall(
        r'<g class="row" data-label="([^"]+)" data-total="(\d+)">(.*?)</g>', figure[0], re.S
    ):
        parts = {}
        for key, title, value in re.findall(r'<rect class="cat-(\w+)"[^>]*><title>([^<]+) (\d+)</title></rect>', body):
            assert title == f"{label}: {LABELS[key]}"
            parts[key] = int(value)
        chart[label] = (int(total), parts)
    return chart


def _category_table(html: str) -> dict[str, dict[str, int]]:
    """The table of categories by school: school: category: cases (the noughts left out)."""
    table = re.search(r'<table class="report" id="category-table">.*?</table>', html, re.S)
    assert table
    schools = re.findall(r'<th scope="col" class="num">([^<]+)</th>', table[0])[:-1]  # the last is All
    by_school: dict[str, dict[str, int]] = {name: {} for name in schools}
    for key, cells in re.findall(r'<tr data-category="(\w+)"><th scope="row">[^<]+</th>(.*?)</tr>', table[0]):
        for name, n in zip(schools, re.findall(r'<td class="num">(\d+)</td>', cells), strict=False):
            if int(n):
                by_school[name][key] = int(n)
    return by_school


async def test_the_console_page_charts_the_factor_categories_by_school(
    client: httpx.AsyncClient, db: AsyncSession, district: dict[str, Any]
) -> None:
    a = (await db.get(School, district["school_a"])).name  # type: ignore[union-attr]
    b = (await db.get(School, district["school_b"])).name  # type: ignore[union-attr]
    period = {"from": "2025-09-02", "to": "2026-06-12"}
    await _sign_in(client, "admin")
    html = (await client.get("/console/reports", params=period)).text
    chart = _school_chart(html)
    assert list(chart) == sorted([a, b]), "a bar per school, by name"
    # a1 names transportation and anxiety, a2 transportation and unaware_of_law, x bullying: 3 cases
    assert chart[a] == (3, {"barriers": 2, "aversion": 2, "misconceptions": 1})
    assert chart[b] == (1, {"barriers": 1}), "b1's two barriers are one case"
    assert {name: parts for name, (_, parts) in chart.items()} == _category_table(html)
    assert '<span class="key cat-disengagement"></span> Disengagement' in html, "the legend names every category"
    assert ' style="' not in html, "no inline style: the page's CSP refuses it"

    client.cookies.clear()
    await _sign_in(client, "sup1")
    html = (await client.get("/console/reports", params=period)).text
    chart = _school_chart(html)
    assert chart == {a: (2, {"barriers": 2, "aversion": 1, "misconceptions": 1}), b: (1, {"barriers": 1})}, "not x"
    assert {name: parts for name, (_, parts) in chart.items()} == _category_table(html)

    client.cookies.clear()
    await _sign_in(client, "sup2")
    chart = _school_chart((await client.get("/console/reports", params=period)).text)
    assert chart == {a: (1, {"aversion": 1})}, "x alone: school B is none of her team's"


async def test_an_empty_period_says_so_instead_of_drawing_nothing(client: httpx.AsyncClient, db: AsyncSession) -> None:
    await _sign_in(client, "admin")
    page = await client.get("/console/reports", params={"from": "2026-01-01", "to": "2026-01-31"})
    assert page.status_code == 200
    assert "No case was assessed in this period." in page.text
    assert "No referral to a service was made in this period." in page.text
    assert "The rules required no parent meeting" in page.text
    assert "<svg" not in page.text


def test_the_period_bounds_are_midnights_in_the_district() -> None:
    from schemas.reports import ReportPeriod

    start, end = service._bounds(ReportPeriod(from_=date(2026, 3, 7), to=date(2026, 3, 8)), ZONE)
    assert start.astimezone(UTC) == datetime(2026, 3, 7, 5, tzinfo=UTC)
    assert end.astimezone(UTC) == datetime(2026, 3, 9, 4, tzinfo=UTC), "clocks went forward on 03-08"
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=47)
