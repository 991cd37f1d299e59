"""The referral flow in headless Chromium: a counselor finds a truant student at her school on the
Truant students page and refers her through the form; the supervisor assigns the case to a case
manager of her team from the unassigned referred cases; the case reaches that case manager's phone
on its next pull. With DOORSTEP_SCREENSHOTS=1 it retakes docs/console/truant-students.png,
referral-form.png and case-referred.png."""

from __future__ import annotations

import re
import uuid
from datetime import date

from playwright.async_api import Page, expect

from server.students.models import Enrollment, Student
from tests import factories as f
from tests.browser.conftest import Live, screenshot, sign_in
from tests.rules_fixtures import District, absent, make_district

AS_OF = "2026-01-15"
OCTOBER = [date(2025, 10, d) for d in (1, 2, 3, 6)]
"""Four unexcused absences in October: truant by the monthly rule on 2025-10-06."""
YEARLY = [date(2025, 9, d) for d in (8, 15, 22)] + [date(2025, 10, d) for d in (14, 21, 28)]
YEARLY += [date(2025, 11, d) for d in (4, 11, 18)] + [date(2025, 12, 2), date(2025, 12, 9)]
"""Eleven, never four in a month: truant by the yearly rule on 2025-12-09."""
REASON = "Nora has missed most Mondays and Fridays since October; her mother asked the school for help."


async def _district(live: Live) -> tuple[District, dict[str, uuid.UUID]]:
    """A school year at a school of counselor1's, with two truant students and one who is not."""
    async with live.factory() as db:
        d = await make_district(db, students=0)
        made = {}
        for n, (first, last, days) in enumerate(
            (("Nora", "Quinn", OCTOBER), ("Theo", "Grant", YEARLY), ("Ada", "Reyes", [date(2025, 11, 5)])), start=1
        ):
            kid = await f.student(db, d.school, first_name=first, last_name=last, student_number=f"RQ{n:05d}")
            db.add(Enrollment(student_id=kid.id, school_id=d.school.id, school_year_id=d.year.id, entered_on=d.days[0]))
            await absent(db, d, kid, *days)
            made[first] = kid.id
        # and a day of Nora's in November excused by a doctor's note in time: a bar of another colour
        note = {"reason_code": "illness_verified", "documentation_received_on": date(2025, 11, 13)}
        await absent(db, d, await db.get_one(Student, made["Nora"]), date(2025, 11, 12), **note)
        await f.counselor_at(db, "counselor1", d.school)
        await db.commit()
    return d, made


async def test_a_counselor_refers_the_supervisor_assigns_and_the_phone_pulls_the_case(live: Live, page: Page) -> None:
    _, students = await _district(live)
    phone = await live.device("cm2")
    await phone.pull()
    cases_before = {i for t, i in phone.client.records() if t == "case"}

    await sign_in(page, "counselor1")
    await page.get_by_role("link", name="Truant students", exact=True).click()
    await expect(page.get_by_role("heading", name="Truant students")).to_be_visible()
    await page.get_by_label("Truant as of").fill(AS_OF)
    await page.get_by_role("button", name="Show").click()
    table = page.get_by_role("table")
    await expect(table.get_by_role("row", name=re.compile("Quinn, Nora"))).to_contain_text(
        "Monthly rule: 4 unexcused absences within one calendar month, reached on 2025-10-06"
    )
    await expect(table.get_by_role("row", name=re.compile("Grant, Theo"))).to_contain_text("Yearly rule")
    await expect(table.get_by_text("Reyes")).to_have_count(0)
    await screenshot(page, "truant-students")

    await page.get_by_role("link", name="Refer Nora Quinn").click()
    await expect(page.get_by_role("heading", name="Refer Nora Quinn")).to_be_visible()
    await expect(page.get_by_label("Truant as of")).to_have_value(AS_OF)
    await page.get_by_label("Why you are referring this student").fill(REASON)
    await screenshot(page, "referral-form")
    await page.get_by_role("button", name="Refer", exact=True).click()
    await expect(page.get_by_role("heading", name="Referral: Nora Quinn")).to_be_visible()
    await expect(page.locator("#referral-status")).to_contain_text("Referred: eligible")
    await expect(page.get_by_text(REASON)).to_be_visible()
    case_link = await page.get_by_role("link", name="Open the case").get_attribute("href")
    assert case_link is not None
    case_id = uuid.UUID(case_link.rsplit("/", 1)[1])

    await page.get_by_role("button", name="Sign out").click()
    await sign_in(page, "sup1")
    await page.get_by_role("link", name="Unassigned referred cases").click()
    await expect(page.get_by_role("heading", name="Unassigned referred cases")).to_be_visible()
    await page.get_by_label("Case manager for Nora Quinn").select_option(label="Demo Case Manager 2")
    await page.get_by_role("button", name="Assign Nora Quinn").click()
    await expect(page.get_by_role("heading", name="Nora Quinn")).to_be_visible()
    assert page.url == f"{live.url}/console/cases/{case_id}"
    await expect(page.locator("#case-manager")).to_have_text("Demo Case Manager 2")
    chart = page.get_by_role("img", name=re.compile("Absences by month"))
    await expect(chart).to_be_visible()
    await expect(page.locator('g.month[data-month="2025-10"]')).to_have_attribute("data-unexcused", "4")
    await expect(page.locator('g.month[data-month="2025-11"]')).to_have_attribute("data-absences", "1")
    await expect(page.locator('g.month[data-month="2025-11"]')).to_have_attribute("data-unexcused", "0")
    await screenshot(page, "case-referred", full_page=True)

    assert case_id not in cases_before
    await phone.pull()
    version, case = phone.record("case", case_id)
    assert case["case_manager_id"] == str(live.seed.users["cm2"]) and case["status"] == "assigned"
    assert case["student_id"] == str(students["Nora"])
