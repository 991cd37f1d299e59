"""Approvals in headless Chromium: a supervisor approves one visit and returns another with a comment;
the case manager's phone sees both on its next pull, edits the returned note and submits it again,
and the supervisor approves it. A forged post without the CSRF token is 403 and changes nothing, and
the decision buttons work from the keyboard."""

from __future__ import annotations

import re
import uuid

from playwright.async_api import Page, expect

from tests.browser.conftest import Live, sign_in

COMMENT = "Who else was at home? Say whether the aunt still lives there."


async def _open_visit(page: Page, student: str) -> None:
    """From anywhere in the console: Approvals, then the student's visit."""
    await page.get_by_role("link", name="Approvals", exact=True).click()
    await expect(page.get_by_role("heading", name="Approvals")).to_be_visible()
    await page.get_by_role("link", name=f"Open visit of {student}").click()
    await expect(page.get_by_role("heading", name=f"Visit: {student}")).to_be_visible()


async def test_approve_one_return_another_the_phone_resubmits_and_it_is_approved(live: Live, page: Page) -> None:
    phone = await live.device("cm1")
    first, first_note = await phone.submit_visit(live.seed.cases["Maya"], "Met Maya's mother at home.")
    second, second_note = await phone.submit_visit(live.seed.cases["Jonah"], "Spoke with Jonah's father.")

    await sign_in(page, "sup1")
    await _open_visit(page, "Maya Alvarez")
    assert page.url == f"{live.url}/console/visits/{first}"
    await expect(page.locator("#visit-status")).to_have_text("submitted")
    await page.get_by_role("button", name="Approve", exact=True).click()
    await expect(page.locator("#visit-status")).to_have_text("approved")
    await expect(page.get_by_role("button", name="Approve", exact=True)).to_have_count(0)

    await _open_visit(page, "Jonah Brooks")
    assert page.url == f"{live.url}/console/visits/{second}"
    await page.get_by_label("What should the case manager change?").fill(COMMENT)
    await page.get_by_role("button", name="Return", exact=True).click()
    await expect(page.locator("#visit-status")).to_have_text("returned")
    await expect(page.get_by_text(f"return by Demo Supervisor One: {COMMENT}", exact=False)).to_be_visible()

    await phone.pull()
    version, note = phone.record("visit_note", first_note)
    assert (version, note["status"], note["review_status"], note["review_comment"]) == (3, "approved", "approved", None)
    assert note["reviewed_by"] == str(live.seed.users["sup1"])
    version, note = phone.record("visit_note", second_note)
    assert (version, note["status"], note["review_status"], note["review_comment"]) == (
        3,
        "returned",
        "returned",
        COMMENT,
    )

    edit = {
        "id": str(second_note),
        "case_id": str(live.seed.cases["Jonah"]),
        "body": "Spoke with Jonah's father; his aunt lives with them since October.",
        "visit_log_id": str(second),
    }
    edited = await phone.push("visit_note.save", edit, base_version=3)
    assert (edited.status, edited.version) == ("applied", 4)
    resubmitted = await phone.push("visit_note.submit", {"id": str(second_note)}, base_version=4)
    assert (resubmitted.status, resubmitted.version) == ("applied", 5)

    await _open_visit(page, "Jonah Brooks")
    await expect(page.locator("#visit-status")).to_have_text("submitted")
    # the note as it is now comes first; its earlier versions follow in the page's History
    await expect(page.get_by_text("his aunt lives with them since October").first).to_be_visible()
    await page.get_by_role("button", name="Approve", exact=True).click()
    await expect(page.locator("#visit-status")).to_have_text("approved")

    await phone.pull()
    version, note = phone.record("visit_note", second_note)
    assert (version, note["status"], note["review_status"]) == (6, "approved", "approved")
    assert note["body"] == edit["body"]
    await page.get_by_role("link", name="Approvals", exact=True).click()
    await expect(page.get_by_text("No visits to show.")).to_be_visible()


async def test_a_forged_post_without_the_csrf_token_is_403_and_changes_nothing(live: Live, page: Page) -> None:
    phone = await live.device("cm1")
    visit, note_id = await phone.submit_visit(live.seed.cases["Maya"], "Met Maya's mother at home.")
    await sign_in(page, "sup1")
    await page.goto(f"/console/visits/{visit}")
    form: dict[str, str | float | bool] = {
        "decision": "approve",
        "decision_id": str(uuid.uuid4()),
        "expected_version": 2,
    }

    forged = await page.request.post(f"/console/visits/{visit}/decisions", form=form, max_redirects=0)
    assert forged.status == 403
    wrong = await page.request.post(
        f"/console/visits/{visit}/decisions", form=form | {"_csrf_token": "forged"}, max_redirects=0
    )
    assert wrong.status == 403
    await page.reload()
    await expect(page.locator("#visit-status")).to_have_text("submitted")
    await phone.pull()
    assert phone.record("visit_note", note_id)[1]["status"] == "submitted"

    token = await page.locator('form.decide input[name="_csrf_token"]').first.get_attribute("value")
    assert token
    honest = await page.request.post(
        f"/console/visits/{visit}/decisions", form=form | {"_csrf_token": token}, max_redirects=0
    )
    assert honest.status == 303, "the same post with the page's token is taken: the 403 was the token's"


async def test_the_decision_buttons_work_from_the_keyboard(live: Live, page: Page) -> None:
    phone = await live.device("cm1")
    approved, approved_note = await phone.submit_visit(live.seed.cases["Maya"], "Met Maya's mother at home.")
    returned, returned_note = await phone.submit_visit(live.seed.cases["Jonah"], "Spoke with Jonah's father.")
    await sign_in(page, "sup1")

    await page.goto(f"/console/visits/{approved}")
    await _tab_to(page, "button", "Approve")
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid", "the focused button shows where the keyboard is"
    await page.keyboard.press("Enter")
    await expect(page.locator("#visit-status")).to_have_text("approved")

    await page.goto(f"/console/visits/{returned}")
    await _tab_to(page, "textarea", "")
    await page.keyboard.type(COMMENT)
    await page.keyboard.press("Tab")
    assert await _focused(page) == ("button", "Return")
    await page.keyboard.press("Enter")
    await expect(page.locator("#visit-status")).to_have_text("returned")

    await phone.pull()
    assert phone.record("visit_note", approved_note)[1]["review_status"] == "approved"
    assert phone.record("visit_note", returned_note)[1]["review_comment"] == COMMENT


async def _focused(page: Page) -> tuple[str, str]:
    """The focused element's tag and its text (stripped)."""
    tag, text = await page.evaluate(
        "[document.activeElement.tagName.toLowerCase(), (document.activeElement.textContent || '').trim()]"
    )
    return str(tag), re.sub(r"\s+", " ", str(text))


async def _tab_to(page: Page, tag: str, text: str, limit: int = 60) -> None:
    """Press Tab from the top of the page until the element is focused (at most ``limit`` times)."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await _focused(page) == (tag, text):
            return
    raise AssertionError(f"Tab never reached the {tag} {text!r}")
