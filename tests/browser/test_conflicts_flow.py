"""Conflicts in headless Chromium: a case manager's phone and tablet both edit a note offline, so the
phone's edit comes back as a conflict; office staff resolve one such conflict by each choice (keep
theirs, keep mine, and an edit of their own) on the side-by-side page, and the phone's next pull
brings each result. With DOORSTEP_SCREENSHOTS=1 the queue and the side-by-side page are retaken
into docs/console/."""

from __future__ import annotations

import uuid

from playwright.async_api import Locator, Page, expect

from tests.browser.conftest import Device, Live, screenshot, sign_in

SERVER = "Spoke with Maya's mother at the door. She will call the school about the bus."
PHONE = "Spoke with Maya's mother and her aunt at the door. The aunt can walk Maya to the bus stop."
EDIT = (
    "Spoke with Maya's mother and her aunt at the door. She will call the school about the bus; "
    "the aunt can walk Maya to the stop."
)


async def _conflict(phone: Device, tablet: Device, case_id: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    """A note the phone wrote, edited on the tablet, then edited on the phone from the version it
    had: the server keeps the tablet's text and the phone's in a conflict. Answers (note, conflict)."""
    note = uuid.uuid4()
    args = {"id": str(note), "case_id": str(case_id)}
    assert (await phone.push("visit_note.save", args | {"body": "Spoke with Maya's mother."})).status == "applied"
    await tablet.pull()
    assert (await tablet.push("visit_note.save", args | {"body": SERVER}, base_version=1)).status == "applied"
    kept = await phone.push("visit_note.save", args | {"body": PHONE}, base_version=1)
    assert kept.status == "conflict" and kept.conflict_id is not None
    return note, kept.conflict_id


def _form(page: Page, button: str) -> Locator:
    return page.locator("form.resolve-choice").filter(has=page.get_by_role("button", name=button, exact=True))


async def test_office_resolves_by_each_choice_and_the_phone_pulls_the_results(live: Live, page: Page) -> None:
    phone, tablet = await live.device("cm1"), await live.device("cm1")
    made = {choice: await _conflict(phone, tablet, live.seed.cases["Maya"]) for choice in ("theirs", "mine", "custom")}
    await phone.pull()
    for note, _ in made.values():
        assert phone.record("visit_note", note)[1]["body"] == SERVER

    await sign_in(page, "office1")
    await page.get_by_role("link", name="Conflicts", exact=True).click()
    await expect(page.get_by_role("heading", name="Conflicts")).to_be_visible()
    for _, conflict in made.values():
        await expect(page.locator(f'a[href="/console/conflicts/{conflict}"]')).to_be_visible()
    await screenshot(page, "conflicts")

    for choice, button in (
        ("theirs", "Resolve: keep theirs"),
        ("mine", "Resolve: keep mine"),
        ("custom", "Resolve with my edit"),
    ):
        note, conflict = made[choice]
        await page.get_by_role("link", name="Conflicts", exact=True).click()
        await page.locator(f'a[href="/console/conflicts/{conflict}"]').click()
        await expect(page.get_by_role("heading", name="Conflict on a visit note")).to_be_visible()
        await expect(page.locator("tr.differs").get_by_text(PHONE)).to_be_visible()
        await expect(page.locator("tr.differs").get_by_text(SERVER)).to_be_visible()
        await expect(page.locator(".word-diff ins").first).to_be_visible()
        if choice == "custom":
            await screenshot(page, "conflict", full_page=True)
        form = _form(page, button)
        if choice == "custom":
            await form.get_by_label("Note text").fill(EDIT)
        await form.get_by_label("Note: why this choice").fill(f"Checked with cm1 ({choice}).")
        await form.get_by_role("button", name=button, exact=True).click()
        await expect(page.locator("#conflict-status")).to_have_text("resolved")
        await expect(page.get_by_role("button", name=button, exact=True)).to_have_count(0)

    await page.get_by_role("link", name="Conflicts", exact=True).click()
    await expect(page.get_by_text("No conflicts to show.")).to_be_visible()

    await phone.pull()
    for choice, expected in (("theirs", SERVER), ("mine", PHONE), ("custom", EDIT)):
        note, conflict = made[choice]
        version, data = phone.record("visit_note", note)
        assert (version, data["body"]) == ((2, expected) if choice == "theirs" else (3, expected)), choice
        assert phone.record("conflict", conflict)[0] == 2, "the phone hears of the resolution"
    await tablet.pull()
    assert tablet.record("visit_note", made["mine"][0])[1]["body"] == PHONE
