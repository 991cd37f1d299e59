"""The console's main pages in headless Chromium, as a supervisor sees them on a laptop: each loads
with its stylesheet, no request fails and no script error shows. With DOORSTEP_SCREENSHOTS=1 this
test retakes the pictures in docs/console/ that the README shows."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import Live, screenshot, sign_in, watch_for_problems

NOTES = {
    "Maya": "Met Maya's mother at home. Maya has been missing first period because she walks her brother "
    "to the elementary school; the mother starts work at 7. We talked about the district's before-school "
    "program and I left the enrollment form.",
    "Jonah": "No one answered at the front door; a neighbour said the family is staying with relatives "
    "across town this week. Left a card asking the father to call.",
    "Lena": "Lena and her grandmother were home. Lena says she feels unsafe on the bus; I will ask the "
    "school about a route change and follow up on Friday.",
}


async def test_the_main_pages_render_whole_for_a_supervisor(live: Live, page: Page) -> None:
    problems = watch_for_problems(page)

    cm1, cm2 = await live.device("cm1"), await live.device("cm2")
    visit, _ = await cm1.submit_visit(live.seed.cases["Maya"], NOTES["Maya"])
    await cm1.submit_visit(live.seed.cases["Jonah"], NOTES["Jonah"], metres_from_home=420)
    await cm2.submit_visit(live.seed.cases["Lena"], NOTES["Lena"])

    await page.goto("/console/sign-in")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    band = await page.locator("header.top").evaluate("e => getComputedStyle(e).backgroundColor")
    assert band == "rgb(11, 61, 92)", "console.css is applied"
    await screenshot(page, "sign-in")

    await sign_in(page, "sup1")
    await expect(page.get_by_role("heading", name="Cases")).to_be_visible()
    for student in ("Maya Alvarez", "Jonah Brooks", "Lena Ortiz"):
        await expect(page.get_by_role("link", name=f"Open case of {student}")).to_be_visible()
    await expect(page.get_by_role("link", name="Open case of Sam Patel")).to_have_count(0)
    await screenshot(page, "cases")

    await page.get_by_role("link", name="Open case of Maya Alvarez").click()
    await expect(page.get_by_role("heading", name="Maya Alvarez")).to_be_visible()
    await expect(page.get_by_text("walks her brother")).to_be_visible()
    # docs/console/case.png is Maya's case with its casework: tests/browser/test_casework_pages.py

    await page.get_by_role("link", name="Approvals", exact=True).click()
    await expect(page.get_by_role("heading", name="Approvals")).to_be_visible()
    await expect(page.get_by_role("link", name="Open visit of Lena Ortiz")).to_be_visible()
    await screenshot(page, "approvals")

    await page.get_by_role("link", name="Open visit of Maya Alvarez").click()
    await expect(page.get_by_role("heading", name="Visit: Maya Alvarez")).to_be_visible()
    assert page.url.endswith(f"/console/visits/{visit}")
    await expect(page.get_by_role("button", name="Approve", exact=True)).to_be_visible()
    await screenshot(page, "visit", full_page=True)

    assert problems == []
