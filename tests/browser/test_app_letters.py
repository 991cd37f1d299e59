"""Family letters in the field app at /app, in Chromium at a phone's size with touch: a case manager
with no signal asks the office for a letter in her own words (the form refuses it without its text,
saying so next to the field), the request waits on the phone and shows at once, reaches the server
once as ``requested`` when the signal comes back, and the case lists it as waiting for the office's
batch; when the office mails it, in English for a family whose language has no letters, the next
sync says so. Every field has a label and every control is a finger's height. With
DOORSTEP_SCREENSHOTS=1 it retakes docs/app/letter.png."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select, update

from server.cases.models import Case
from server.letters.models import Letter
from server.students.models import Household, Student
from server.sync.models import SyncMutation
from tests.browser.conftest import Live
from tests.browser.test_app_casework import assert_usable, script_errors
from tests.browser.test_app_field import count, evaluated, log_in, phone_context, shot

BODY = "Dear Ms. Alvarez,\nMaya's new bus stop is on Elm Street, at 7:10. Call me with any question."
NOTE = "Please send it with the bus schedule."


@pytest.fixture
async def phone(browser: Browser, live: Live) -> AsyncIterator[Page]:
    context = await phone_context(browser, live)
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def test_a_letter_asked_for_offline_waits_for_the_offices_batch(phone: Page, live: Live) -> None:
    maya = live.seed.cases["Maya"]
    await evaluated(live, maya)  # truant by the monthly rule
    errors = script_errors(phone)
    await log_in(phone)
    await phone.wait_for_function("navigator.serviceWorker.controller !== null")
    await phone.context.set_offline(True)
    await expect(phone.locator("#net")).to_have_text("Offline")
    await phone.locator(f'a[data-case-id="{maya}"]').tap()
    await expect(phone.get_by_role("heading", name="Letters (0)")).to_be_visible()
    await phone.get_by_role("link", name="Ask for a letter").tap()
    await expect(phone.get_by_role("heading", name="Ask for a letter")).to_be_visible()

    kind = phone.get_by_label("Kind of letter")
    await expect(kind).to_have_value("truancy_notice")  # what the case's evaluation calls for
    words = [w.strip() for w in await kind.locator("option").all_text_contents()]
    assert words == [
        "Early attendance notice",
        "Truancy notice (invites to the parent meeting)",
        "Habitual truancy notice",
        "Chronic absence notice",
        "My own letter",
    ]
    text = phone.get_by_label("The letter's text")
    await expect(text).to_be_hidden()  # only for a letter in her own words
    await assert_usable(phone)

    await kind.select_option("custom")
    await expect(text).to_be_visible()
    await phone.get_by_label("Note to the office (optional)").fill(NOTE)
    await text.fill("   ")
    await phone.get_by_role("button", name="Ask for the letter").tap()
    problem = phone.locator("#letter-body-problem")
    await expect(problem).to_have_text(re.compile("^Write the letter's text"))
    await expect(problem).to_have_class("error")
    await expect(text).to_have_attribute("aria-invalid", "true")
    assert phone.url.endswith(f"#/case/{maya}/letter")  # still on the form
    await expect(phone.locator("#pending")).to_have_text("No changes waiting")  # nothing queued

    await text.fill(BODY)
    await expect(problem).to_have_text("")
    await assert_usable(phone)
    await shot(phone, "letter")
    await phone.get_by_role("button", name="Ask for the letter").tap()
    await expect(phone.get_by_text("Letter asked for: the office prints it with its next batch.")).to_be_visible()
    assert phone.url.endswith(f"#/case/{maya}")
    await expect(phone.get_by_role("heading", name="Letters (1)")).to_be_visible()
    letter = phone.locator("[data-letter-id]")
    await expect(letter).to_contain_text("Own letter")
    await expect(letter).to_contain_text("Waiting for the office's next batch")
    await expect(letter).to_contain_text("waiting to sync")
    await expect(letter).to_contain_text(NOTE)
    await expect(letter).to_contain_text("Maya's new bus stop is on Elm Street")
    await expect(phone.locator("#pending")).to_have_text("1 change waiting")
    await assert_usable(phone)
    letter_id = await letter.get_attribute("data-letter-id")
    assert await count(live, Letter, Letter.case_id == maya) == 0

    await phone.context.set_offline(False)
    await expect(phone.locator("#pending")).to_have_text("No changes waiting")
    await expect(letter).not_to_contain_text("waiting to sync")
    await expect(letter).to_contain_text("Waiting for the office's next batch")
    async with live.factory() as s:
        (stored,) = (await s.scalars(select(Letter).where(Letter.case_id == maya))).all()
        assert (str(stored.id), stored.kind, stored.status, stored.body, stored.note) == (
            letter_id,
            "custom",
            "requested",
            BODY,
            NOTE,
        )
        assert (stored.created_by, stored.language, stored.flags) == (live.seed.users["cm1"], None, [])
        sent = (await s.execute(select(SyncMutation.name, SyncMutation.status))).all()
        assert [tuple(row) for row in sent] == [("letter.request", "applied")]

        # The office's batch writes it in English (the family speaks Vietnamese, which has no
        # letters yet) and mails it; the phone's next sync says so.
        student_id = await s.scalar(select(Case.student_id).where(Case.id == maya))
        household_id = await s.scalar(select(Student.household_id).where(Student.id == student_id))
        await s.execute(
            update(Household).where(Household.id == household_id).values(language="vi", version=Household.version + 1)
        )
        mailed_at = datetime.now(UTC).replace(microsecond=0)
        await s.execute(
            update(Letter)
            .where(Letter.id == stored.id)
            .values(
                status="mailed",
                language="en",
                fallback=True,
                as_of=date.today(),
                mailed_at=mailed_at,
                version=Letter.version + 1,
            )
        )
        await s.commit()
    await phone.get_by_role("button", name="Sync now").tap()
    mailed_day = await phone.evaluate(
        "(iso) => new Date(iso).toLocaleDateString([], { month: 'short', day: 'numeric' })", mailed_at.isoformat()
    )
    await expect(letter).to_contain_text(f"Mailed {mailed_day}")
    await expect(letter).to_contain_text("In English: no letters yet in Vietnamese")
    await expect(letter).not_to_contain_text("Waiting for the office's next batch")
    assert errors == []
