"""The Letters page in headless Chromium, as office staff use it: what is due now by kind and
language, a batch made (after a tired person's empty date), followed while it runs (the page
refreshes itself), downloaded, marked mailed, one letter back with a note, and its household's
address checked. With DOORSTEP_SCREENSHOTS=1 it retakes docs/console/letters.png and
docs/console/letter-batch.png."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path

from playwright.async_api import Page, expect
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from server import clock
from server.attendance.models import AttendanceRecord
from server.blobs import Blobs
from server.letters import service
from server.schools.models import InstructionalDay, School, SchoolYear
from server.students.models import Enrollment, Guardian, Household, Student
from tests.browser.conftest import Live, screenshot, sign_in, watch_for_problems
from tests.conftest import make_settings

PUPILS = (  # first, last, the household's language as the roster spells it, unexcused days last month
    ("Sofia", "Ramos", "Spanish", 5),
    ("Thiago", "Costa", "Português", 3),
    ("Mei", "Lin", "Mandarin", 5),
    ("Noah", "Carter", "en", 3),
    ("Ella", "Hughes", "en", 1),
    ("Omar", "Haddad", "en", 0),
)


def _weekdays(start: date, end: date) -> list[date]:
    return [start + timedelta(n) for n in range((end - start).days + 1) if (start + timedelta(n)).weekday() < 5]


async def _district(s: AsyncSession, today: date) -> None:
    """Hillside Middle's 7th grade in a school year around today, absent on last month's weekdays."""
    year = SchoolYear(
        id=uuid.uuid4(), name="Letters year", starts_on=today - timedelta(100), ends_on=today + timedelta(150)
    )
    school = School(id=uuid.uuid4(), code="HMS", name="Hillside Middle")
    s.add_all([year, school])
    await s.flush()
    days = _weekdays(year.starts_on, year.ends_on)
    await s.execute(
        insert(InstructionalDay), [{"school_id": school.id, "day": d, "school_year_id": year.id} for d in days]
    )
    before = today.replace(day=1) - timedelta(1)
    last_month = [d for d in days if (d.year, d.month) == (before.year, before.month)]
    for n, (first, last, language, absent) in enumerate(PUPILS):
        home = Household(
            id=uuid.uuid4(), external_id=f"HMS-{n}", language=language, address=f"{10 + n} Hillside Road, Riverside"
        )
        s.add(home)
        await s.flush()
        s.add(Guardian(id=uuid.uuid4(), household_id=home.id, name=f"Parent of {first}", relationship="parent"))
        kid = Student(
            id=uuid.uuid4(),
            student_number=f"HMS{n:04d}",
            first_name=first,
            last_name=last,
            grade="7",
            school_id=school.id,
            household_id=home.id,
        )
        s.add(kid)
        await s.flush()
        s.add(
            Enrollment(
                student_id=kid.id, school_id=school.id, school_year_id=year.id, grade="7", entered_on=year.starts_on
            )
        )
        rows = [
            {"student_id": kid.id, "day": d, "school_id": school.id, "minutes_present": 0, "minutes_scheduled": 360}
            | {"tardy": False}
            for d in last_month[2 : 2 + absent]
        ]
        if rows:
            await s.execute(insert(AttendanceRecord), rows)
    await s.commit()


async def test_office_staff_make_a_batch_follow_it_mail_it_and_take_a_letter_back(
    live: Live, page: Page, tmp_path: Path
) -> None:
    settings = make_settings(data_dir=tmp_path)  # the live app's settings: its blobs are under tmp_path
    today = clock.today(settings)
    async with live.factory() as s:
        await _district(s, today)
    problems = watch_for_problems(page)
    await sign_in(page, "office1")
    await page.get_by_role("link", name="Letters", exact=True).click()
    await expect(page.get_by_role("heading", name="Letters", exact=True)).to_be_visible()
    due = page.locator("table.due")
    await expect(due.locator("tbody tr")).to_have_count(4)
    await expect(due.locator("tr[data-kind='truancy_notice'][data-language='es'] td.num")).to_have_text("1")
    await expect(due.locator("tr[data-kind='truancy_notice'][data-language='en'] td.num")).to_have_text("1")
    await expect(due.locator("tr[data-kind='attendance_notice'][data-language='pt'] td.num")).to_have_text("1")
    await expect(due.locator("tr[data-kind='attendance_notice'][data-language='en'] td.num")).to_have_text("1")
    await expect(page.locator("#due-total")).to_have_text("4")
    await page.set_viewport_size({"width": 1280, "height": 1000})
    await screenshot(page, "letters")

    await page.get_by_label("Letters dated").fill("")
    await page.get_by_role("button", name="Make the batch").click()
    await expect(page.locator("#as_of-error")).to_have_text("give the letters' date")
    await expect(page.get_by_label("Truancy notice", exact=True)).to_be_checked()
    await page.get_by_label("Letters dated").fill(today.isoformat())
    await page.get_by_role("button", name="Make the batch").click()
    await expect(page.get_by_role("heading", name=f"Letters dated {today.isoformat()}")).to_be_visible()
    await expect(page.locator("#batch-status")).to_have_text("queued")

    batch_id = uuid.UUID(page.url.rsplit("/", 1)[1])
    await service.run_batch(live.factory, settings, Blobs.from_settings(settings), batch_id)
    await expect(page.locator("#batch-status")).to_have_text("done", timeout=10_000)  # the page refreshed itself
    await expect(page.locator("#progress-text")).to_contain_text("4 of 4 letters")
    mei = page.locator("tr", has_text="Mei Lin")
    await expect(mei.locator("td.language")).to_have_text(
        "English — no catalog for Mandarin: add an interpreter's note"
    )
    async with page.expect_download() as download:
        await page.get_by_role("link", name="Download PDF").click()
    assert (await download.value).suggested_filename == f"letters-{today.isoformat()}.pdf"

    await page.get_by_role("button", name="Mark all mailed").click()
    await expect(page.locator("#mailed-note")).to_contain_text("Mailed")
    sofia = page.locator("tr", has_text="Sofia Ramos")
    await sofia.get_by_label("Note on the letter to Sofia Ramos (optional)").fill("Moved, no forwarding address")
    await sofia.get_by_role("button", name="Returned: the letter to Sofia Ramos").click()
    await expect(page.get_by_role("status")).to_contain_text("Marked returned: the letter to Sofia Ramos's family.")
    await page.evaluate("window.scrollTo(0, 0)")  # the form's answer scrolled to the letters
    await screenshot(page, "letter-batch")

    await page.get_by_role("link", name="Addresses to check").click()
    flagged = page.locator("table.flagged tbody tr")
    await expect(flagged).to_have_count(1)
    await expect(flagged).to_contain_text("10 Hillside Road, Riverside")
    await expect(flagged).to_contain_text("Moved, no forwarding address")
    await flagged.get_by_role("button", name="Address checked").click()
    await expect(page.locator("#checked")).to_have_text(
        "Address checked: 10 Hillside Road, Riverside is no longer flagged."
    )
    await expect(page.locator("#no-addresses")).to_be_visible()

    refused = f"{live.url}/console/letters/batches"  # the empty date was answered 400 on purpose
    assert [p for p in problems if not (p.endswith((refused, f"({refused})")) and "400" in p)] == []
