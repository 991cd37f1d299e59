"""The dashboard in headless Chromium, as a supervisor sees it on a laptop: her team's figures, each
count a link to the list behind it, and the closed cases' unexcused absences before and after they
opened. With DOORSTEP_SCREENSHOTS=1 it retakes docs/console/dashboard.png."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from playwright.async_api import Page, expect
from sqlalchemy import insert

from schemas.cases import CaseStatus
from server.attendance.models import AttendanceRecord
from server.dashboard.service import week_start
from server.schools.models import InstructionalDay, School, SchoolYear
from tests import factories as f
from tests.browser.conftest import Live, screenshot, sign_in, watch_for_problems
from tests.conftest import make_settings


def _weekdays(first: date, last: date) -> list[date]:
    return [
        first + timedelta(days=n) for n in range((last - first).days + 1) if (first + timedelta(days=n)).weekday() < 5
    ]


async def _closed_case_with_a_calendar(live: Live) -> None:
    """A school year around today with a weekday calendar at the seed's school, and a case of cm1's,
    opened 40 school days ago and closed, whose student missed 4 school days before it opened and
    1 after."""
    today = datetime.now(UTC).date()
    days = _weekdays(today - timedelta(days=150), today + timedelta(days=60))
    past = [d for d in days if d < today]
    opened = past[-40]
    async with live.factory() as session:
        year = SchoolYear(name=f"{days[0].year}-{days[0].year + 1}", starts_on=days[0], ends_on=days[-1])
        session.add(year)
        await session.flush()
        school = live.seed.school_id
        rows = [{"school_id": school, "day": d, "school_year_id": year.id} for d in days]
        await session.execute(insert(InstructionalDay), rows)
        home = await session.get(School, school)
        kid = await f.student(session, home, first_name="Noah", last_name="Reyes", student_number="RM09001")
        case = await f.case(session, kid, manager=live.seed.users["cm1"], status=CaseStatus.CLOSED)
        case.opened_at = datetime.combine(opened, time(15), tzinfo=UTC)
        case.closed_at = datetime.combine(past[-5], time(15), tzinfo=UTC)
        case.outcome = "improved"
        at = past.index(opened)
        missed = [past[at - 25], past[at - 12], past[at - 6], past[at - 2], past[at + 9]]
        await session.execute(
            insert(AttendanceRecord),
            [
                {"student_id": kid.id, "day": d, "school_id": school, "minutes_present": 0, "minutes_scheduled": 360}
                for d in missed
            ],
        )
        await session.commit()


async def test_the_dashboard_shows_a_supervisors_figures_linked_to_their_lists(live: Live, page: Page) -> None:
    problems = watch_for_problems(page)

    cm1, cm2, cm5 = await live.device("cm1"), await live.device("cm2"), await live.device("cm5")
    maya, _ = await cm1.submit_visit(live.seed.cases["Maya"], "Met Maya's mother at home.")
    await cm1.submit_visit(live.seed.cases["Jonah"], "No one answered.", outcome="no_one_home")
    await cm2.submit_visit(live.seed.cases["Lena"], "Lena and her grandmother were home.")
    await cm5.submit_visit(live.seed.cases["Sam"], "Another team's visit.")
    await _closed_case_with_a_calendar(live)

    await sign_in(page, "sup1")
    await page.goto(f"/console/visits/{maya}")
    await page.get_by_role("button", name="Approve", exact=True).click()
    await expect(page.locator("#visit-status")).to_have_text("approved")

    await page.get_by_role("link", name="Dashboard", exact=True).click()
    await expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()
    checked_in = datetime.now(UTC) - timedelta(hours=1)  # submit_visit's check-in
    monday = week_start(datetime.now(UTC), make_settings().time_zone)
    if abs(checked_in - monday) > timedelta(minutes=5):  # not at the turn of the week
        expected = "3" if checked_in > monday else "0"  # her team's three, not cm5's
        await expect(page.locator("#visits-this-week")).to_have_text(expected)
    await expect(page.locator("#approvals-waiting")).to_have_text("2")
    await expect(page.locator("#status-assigned")).to_have_text("3")  # Maya, Jonah, Lena
    await expect(page.locator("#status-referred")).to_have_text("1")  # Ivy, hers to assign
    await expect(page.get_by_role("row", name="Demo Supervisor One")).to_be_visible()  # the turnaround
    closed = page.get_by_role("row").filter(has=page.get_by_role("link", name="Reyes, Noah"))
    await expect(closed.locator('[data-window="before"]')).to_contain_text("4 of 30 days")
    await expect(closed.locator('[data-window="after"]')).to_contain_text("1 of 30 days")
    await screenshot(page, "dashboard", full_page=True)

    await page.locator("#approvals-waiting").click()
    await expect(page.get_by_role("heading", name="Approvals")).to_be_visible()
    await expect(page.get_by_role("link", name="Open visit of Lena Ortiz")).to_be_visible()
    await page.go_back()
    await page.locator("#status-assigned").click()
    await expect(page.get_by_role("link", name="Open case of Maya Alvarez")).to_be_visible()
    await expect(page.get_by_role("link", name="Open case of Ivy Chen")).to_have_count(0)

    assert problems == []
