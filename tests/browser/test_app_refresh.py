"""The field app in Chromium when the answer to its refresh never arrives: it asks again with the
same refresh token, the server answers the same pair (its reuse grace), and the case manager stays
logged in (issue 20)."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import Browser, Route, expect
from sqlalchemy import select

from server.audit import AuditEntry
from server.auth.models import Device
from tests.browser.conftest import Live
from tests.browser.test_app_field import log_in, phone_context


@pytest.mark.parametrize("lost", ["connection", "gateway"])
async def test_a_refresh_whose_answer_is_lost_is_asked_again_and_the_phone_stays_logged_in(
    browser: Browser, live: Live, lost: str
) -> None:
    """The server rotates the token and commits; then the answer dies on the way: the connection
    drops (no answer at all), or a proxy gave up waiting and answers 504 in its place."""
    # Requests are intercepted here, so the service worker (which would hide them) is off.
    context = await phone_context(browser, live, service_workers="block")
    sent: list[str] = []
    answered: list[str] = []
    try:
        page = await context.new_page()
        await log_in(page)
        synced_at = await page.locator("#last-sync time").get_attribute("datetime")
        # The access token has run out: the next request is refused with token_invalid.
        await page.evaluate('async () => (await import("/app/js/db.js")).setMeta({access_token: "expired"})')

        async def lose_the_first_answer(route: Route) -> None:
            sent.append(route.request.post_data or "")
            if len(sent) > 1:
                await route.continue_()
                return
            answer = await route.fetch()
            answered.append((await answer.json())["refresh_token"])
            if lost == "connection":
                await route.abort("connectionreset")
            else:
                await route.fulfill(status=504, body="upstream timed out")

        await context.route(re.compile(r"/auth/refresh$"), lose_the_first_answer)
        await page.get_by_role("button", name="Sync now").click()
        await expect(page.locator("#last-sync time")).not_to_have_attribute("datetime", synced_at or "")
        await expect(page.get_by_text("Your session ended")).to_have_count(0)

        assert len(sent) == 2 and sent[0] == sent[1], "asked again with the same refresh token"
        kept = await page.evaluate('async () => (await import("/app/js/db.js")).meta("refresh_token")')
        assert kept == answered[0], "the pair it keeps is the one the lost answer carried"
        device_id = uuid.UUID(await page.evaluate('async () => (await import("/app/js/db.js")).meta("device_id")'))
        async with live.factory() as s:
            assert await s.scalar(select(Device.session_epoch).where(Device.id == device_id)) == 0
            done = await s.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.device_id == device_id, AuditEntry.action.startswith("auth.refresh")
                )
            )
            assert list(done) == ["auth.refresh_replayed"]
    finally:
        await context.unroute_all(behavior="ignoreErrors")
        await context.close()
