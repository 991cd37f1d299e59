"""The Content-Security-Policy (server/security.py) in headless Chromium: the API docs page runs
under its own policy (its inline start script allowed by hash), another site cannot frame a
console page, and an injected inline script does not run and is reported, so the browser tests'
watch (``no_csp_violations`` in conftest.py) would fail the test that met it."""

from __future__ import annotations

from playwright.async_api import Page, Route, expect

from tests.browser.conftest import CSP_VIOLATIONS, Live, watch_for_problems


async def test_the_api_docs_run_under_their_policy(live: Live, page: Page) -> None:
    problems = watch_for_problems(page)
    await page.goto("/schema")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("Doorstep")
    operation = page.locator(".opblock-summary").first
    await operation.click()  # React re-renders the operation: styles set from script are allowed
    await expect(page.locator(".opblock-body").first).to_be_visible()
    assert problems == []


async def test_another_site_cannot_frame_a_console_page(live: Live, page: Page) -> None:
    """Another site's page framing the console's sign-in page gets Chromium's error page in the
    frame; the same page with the two headers taken off (the control) shows in it."""

    async def other_site(route: Route) -> None:
        frame = f'<iframe src="{live.url}/console/sign-in" title="prize"></iframe>'
        await route.fulfill(content_type="text/html", body=f"<!doctype html><title>Win a prize</title>{frame}")

    async def headers_taken_off(route: Route) -> None:
        served = await route.fetch()
        kept = {k: v for k, v in served.headers.items() if k not in ("content-security-policy", "x-frame-options")}
        await route.fulfill(response=served, headers=kept)

    async def framed() -> str:
        await page.goto("http://other.example/prize")
        await page.wait_for_load_state("load")
        frame = page.frames[-1]
        return "" if frame.url.startswith("chrome-error:") else await frame.locator("h1").inner_text()

    await page.route("http://other.example/**", other_site)
    assert await framed() == "", "the console page showed in another site's frame"
    await page.route("**/console/sign-in", headers_taken_off)
    assert await framed() == "Sign in"


async def test_an_injected_inline_script_does_not_run_and_is_reported(live: Live, page: Page) -> None:
    """As if a template stopped escaping: the sign-in page, as served (its headers), with a script
    and a handler added to its body."""

    async def injected(route: Route) -> None:
        served = await route.fetch()
        body = (await served.text()).replace(
            "</main>",
            '<script>document.title = "owned"</script><img src="x" onerror="document.title = \'owned\'"></main>',
        )
        await route.fulfill(response=served, body=body)

    await page.route("**/console/sign-in", injected)
    await page.goto("/console/sign-in")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.wait_for_timeout(300)
    assert await page.title() != "owned"
    refused = [v for v in CSP_VIOLATIONS if "script-src 'self'" in v]
    assert len(refused) >= 2, CSP_VIOLATIONS  # the inline script and the handler
    CSP_VIOLATIONS.clear()  # expected here: the refusal is what this test checks
