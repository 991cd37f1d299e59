"""The field app at /app in Chromium, at a phone's size and with touch: a visit made offline
reaches the server once, a reload in the middle of a sync loses nothing, a revoked device wipes
itself, and the outbox says what the server did with the phone's changes."""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.async_api import Browser, BrowserContext, FilePayload, Geolocation, Page, Route, ViewportSize, expect
from sqlalchemy import func, select, update

from server.cases.models import Case, ContactAttempt, FormPhoto, VisitLog, VisitNote
from server.schools.models import School
from server.sync.models import Conflict, SyncMutation
from tests import factories
from tests.browser.conftest import Live
from tests.conftest import PASSWORD

CHUNK = 512 * 1024  # the app's tus chunk (server/app_shell/static/js/tus.js)
COMMENT = "Say who you spoke to."
PHONE: ViewportSize = {"width": 360, "height": 740}
AT_HOME: Geolocation = {"latitude": 41.55, "longitude": -73.04, "accuracy": 10}  # the factories' households
TRUANCY = {
    "as_of": "2026-11-30",
    "school_year": "2026-2027",
    "status": "truant",
    "rules": ["monthly"],
    "unexcused": 5,
    "absences": 7,
    "absence_percent": 9.2,
    "months": [
        {"month": "2026-08", "absences": 0, "unexcused": 0},
        {"month": "2026-09", "absences": 1, "unexcused": 0},
        {"month": "2026-10", "absences": 4, "unexcused": 4},
        {"month": "2026-11", "absences": 2, "unexcused": 1},
    ],
}


SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "app"


async def shot(page: Page, name: str, *, full_page: bool = False) -> None:
    """``docs/app/<name>.png`` at the phone's size, only with DOORSTEP_SCREENSHOTS=1 (as the console's)."""
    if os.environ.get("DOORSTEP_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=full_page, animations="disabled", caret="hide")


async def phone_context(browser: Browser, live: Live, **options: Any) -> BrowserContext:
    context = await browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        base_url=live.url,
        permissions=["geolocation"],  # where the phone is: context.set_geolocation, before checking in
        **options,
    )
    context.set_default_timeout(15_000)
    return context


@pytest.fixture
async def phone(browser: Browser, live: Live) -> AsyncIterator[Page]:
    """A phone's browser on the app: 360 px wide, touch, allowed to say where it is."""
    context = await phone_context(browser, live)
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def log_in(page: Page, username: str = "cm1") -> None:
    await page.goto("/app/")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.locator("#last-sync")).to_contain_text("Last sync")


async def pending(page: Page) -> str:
    return await page.locator("#pending").get_attribute("data-count") or ""


async def evaluated(live: Live, case_id: uuid.UUID) -> None:
    """What the rules evaluation writes on an open case (server.rules.case_truancy)."""
    async with live.factory() as s:
        await s.execute(update(Case).where(Case.id == case_id).values(truancy=TRUANCY, version=Case.version + 1))
        await s.commit()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "#ddeeff").save(out, "PNG")
    return out.getvalue()


async def count(live: Live, model: Any, *where: Any) -> int:
    async with live.factory() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_a_visit_made_offline_reaches_the_server_once(phone: Page, live: Live) -> None:
    maya = live.seed.cases["Maya"]
    await evaluated(live, maya)
    await log_in(phone)
    await expect(phone.locator("a[data-case-id]")).to_have_count(2)
    await phone.wait_for_function("navigator.serviceWorker.controller !== null")
    context = phone.context

    await context.set_offline(True)
    await expect(phone.locator("#net")).to_have_text("Offline")
    await phone.locator(f'a[data-case-id="{maya}"]').tap()
    await expect(phone.get_by_role("heading", name="Maya Alvarez")).to_be_visible()
    await expect(phone.get_by_text("Truant (monthly rule)")).to_be_visible()
    await phone.get_by_label("Method").select_option("phone")
    await phone.get_by_label("Outcome").select_option("left_message")
    await phone.get_by_label("Contact note").fill("Left a message with the mother")
    await phone.get_by_role("button", name="Log contact").tap()
    await expect(phone.get_by_text("Left a message with the mother")).to_be_visible()

    await phone.get_by_role("link", name="Start a home visit").tap()
    await context.set_geolocation(AT_HOME)  # at the student's front door
    await phone.get_by_role("button", name="Check in").tap()
    await expect(phone.get_by_text("location within 10 m")).to_be_visible()
    await phone.get_by_label("Visit note").fill("Met the mother at home; talked about the bus.")
    await phone.get_by_role("button", name="Submit").tap()
    await expect(phone.get_by_text("Submitted for review.")).to_be_visible()
    await phone.get_by_label("Form type").select_option("attendance_contract")
    await phone.get_by_label("Photo of the signed form").set_input_files(
        files=[FilePayload(name="contract.png", mimeType="image/png", buffer=png())]
    )
    await phone.get_by_role("button", name="Add photo").tap()
    await expect(phone.get_by_text("Attendance contract · waiting to send")).to_be_visible()
    await shot(phone, "visit", full_page=True)
    await phone.get_by_label("Visit outcome").select_option("family_met")
    await phone.get_by_role("button", name="Check out").tap()
    await expect(phone.get_by_text("Checked out")).to_be_visible()
    # contact, check-in, save, submit, photo registration, check-out; and the photo's file
    await expect(phone.locator("#pending")).to_have_text("7 changes waiting")

    await phone.reload()  # still offline: the service worker serves the app, IndexedDB the rest
    await expect(phone.locator("#pending")).to_have_text("7 changes waiting")
    await phone.get_by_role("link", name="Outbox (7)").tap()
    await expect(phone.get_by_role("heading", name="Waiting to sync (6)")).to_be_visible()
    await shot(phone, "outbox-offline")
    assert await count(live, ContactAttempt, ContactAttempt.case_id == maya) == 0

    await context.set_offline(False)
    await expect(phone.locator("#pending")).to_have_text("No changes waiting")
    assert await count(live, ContactAttempt, ContactAttempt.case_id == maya) == 1
    assert await count(live, VisitLog, VisitLog.case_id == maya, VisitLog.status == "checked_out") == 1
    assert await count(live, VisitLog, VisitLog.case_id == maya) == 1
    assert await count(live, VisitNote, VisitNote.case_id == maya, VisitNote.status == "submitted") == 1
    assert await count(live, VisitNote, VisitNote.case_id == maya) == 1
    assert await count(live, FormPhoto, FormPhoto.case_id == maya, FormPhoto.upload_status == "received") == 1
    assert await count(live, FormPhoto, FormPhoto.case_id == maya) == 1
    async with live.factory() as s:
        visit = (await s.scalars(select(VisitLog).where(VisitLog.case_id == maya))).one()
        assert (visit.latitude, visit.longitude, visit.accuracy_m, visit.flags) == (41.55, -73.04, 10, [])
        mutations = (await s.scalars(select(SyncMutation.status).order_by(SyncMutation.mutation_id))).all()
    assert mutations == ["applied"] * 6


async def test_a_reload_in_the_middle_of_a_sync_loses_nothing(browser: Browser, live: Live) -> None:
    """The page reloads twice while a request is on its way: once during the push (the server
    applied the first batch, the phone never heard), once during the pull, between two pages. After
    each reload the app resumes: it sends the batch again (the server answers already_processed)
    and pulls from the cursor it saved with the last page it got."""
    # Requests are intercepted here, so the service worker (which would hide them) is off.
    context = await phone_context(browser, live, service_workers="block")
    loop = asyncio.get_running_loop()
    held = {"push": loop.create_future(), "pull": loop.create_future()}
    reloaded = {"push": asyncio.Event(), "pull": asyncio.Event()}
    try:
        page = await context.new_page()
        await log_in(page)
        synced_at = await page.locator("#last-sync time").get_attribute("datetime")
        maya = live.seed.cases["Maya"]
        await context.set_offline(True)
        ids = await page.evaluate(
            """async (caseId) => {
                const actions = await import("/app/js/actions.js");
                const ids = [];
                for (let n = 0; n < 120; n++) {
                    ids.push(await actions.logContact(caseId, "phone", "no_answer", `call ${n}`));
                }
                return ids;
            }""",
            str(maya),
        )
        assert ids == list(range(1, 121))
        cursors: list[str | None] = []  # of each pull, in order

        async def lose_the_answer(route: Route) -> None:
            """The first push and the second pull reach the server, which does the work, and the page
            reloads before the answer arrives. Pulls ask for pages of 50, so the pull stops between two."""
            kind = route.request.url.rsplit("/", 1)[1]
            body: dict[str, Any] = route.request.post_data_json or {}
            if kind == "pull":
                cursors.append(body.get("cursor"))
                body["limit"] = 50
            sent = json.dumps(body)
            if held[kind].done() or (kind == "pull" and len(cursors) < 2):
                await route.continue_(post_data=sent)
                return
            answer = await route.fetch(post_data=sent)
            held[kind].set_result(answer.status)
            await reloaded[kind].wait()
            await route.abort()  # the request died with the page it came from

        await context.route(re.compile(r"/sync/(push|pull)$"), lose_the_answer)
        await context.set_offline(False)
        await page.get_by_role("button", name="Sync now").click()
        for kind in ("push", "pull"):
            async with asyncio.timeout(15):
                assert await held[kind] == 200
            await page.reload()
            reloaded[kind].set()
        # the app's sync at opening after the second reload finishes the pull
        await expect(page.locator("#last-sync time")).not_to_have_attribute("datetime", synced_at or "")
        await context.unroute_all(behavior="wait")
        await expect(page.locator("#pending")).to_have_text("No changes waiting")
        assert cursors[0] != cursors[1] == cursors[2], "the pull after the reload starts from the saved cursor"

        assert await count(live, ContactAttempt, ContactAttempt.case_id == maya) == 120
        async with live.factory() as s:
            done = (await s.scalars(select(SyncMutation.mutation_id).order_by(SyncMutation.mutation_id))).all()
        assert done == list(range(1, 121))
        kept = await page.evaluate(
            """async (caseId) => {
                const db = await import("/app/js/db.js");
                const s = await db.snapshot();
                return {
                    results: s.queue.map((m) => m.result && [m.result.status, m.result.original]),
                    reflected: s.meta.server_last_mutation_id,
                    calls: s.records.filter((r) => r.type === "contact_attempt" && r.data.case_id === caseId).length,
                };
            }""",
            str(maya),
        )
        # the first batch was sent again after the reload: the server answered with its first outcome
        first, rest = [["already_processed", "applied"]] * 50, [["applied", None]] * 70
        assert kept == {"results": first + rest, "reflected": 120, "calls": 120}
        await page.locator(f'a[data-case-id="{maya}"]').click()
        await expect(page.get_by_text("call 119")).to_be_visible()
    finally:
        for event in reloaded.values():  # no handler outlives the test, even a failed one
            event.set()
        await context.unroute_all(behavior="ignoreErrors")
        await context.close()


async def test_a_change_made_while_a_sync_runs_is_sent_by_the_sync_asked_for_meanwhile(
    browser: Browser, live: Live
) -> None:
    """A sync asked for while one runs (a change queued after its push) is one more sync, not the
    running one: the change goes at once, not at the next tap or the 30-second tick."""
    context = await phone_context(browser, live, service_workers="block")  # its requests are watched
    try:
        page = await context.new_page()
        await log_in(page)
        await expect(page.locator("#pending")).to_have_text("No changes waiting")
        in_pull, release = asyncio.Event(), asyncio.Event()

        async def hold_one_pull(route: Route) -> None:
            if not in_pull.is_set():
                in_pull.set()
                await release.wait()
            await route.continue_()

        await context.route("**/sync/pull", hold_one_pull)
        await page.evaluate("async () => { window.first = (await import('/app/js/sync.js')).sync(); }")
        await asyncio.wait_for(in_pull.wait(), 15)  # that sync has pushed, and waits in its pull
        await page.evaluate(
            """async (caseId) => {
                const actions = await import("/app/js/actions.js");
                await actions.logContact(caseId, "phone", "reached", "Called while the phone was syncing");
                window.second = (await import("/app/js/sync.js")).sync();  // awaited once released
            }""",
            str(live.seed.cases["Maya"]),
        )
        release.set()
        await page.evaluate("async () => { await window.first; await window.second; }")
        queued = await page.evaluate('async () => (await import("/app/js/db.js")).queue()')
        sent = [(m.get("result") or {}).get("status") for m in queued if m["name"] == "contact_attempt.create"]
        assert sent == ["applied"], "the change waited for another sync"
        assert await count(live, ContactAttempt, ContactAttempt.note == "Called while the phone was syncing") == 1
    finally:
        await context.unroute_all(behavior="wait")
        await context.close()


async def test_a_revoked_device_wipes_its_local_data_at_its_next_request(phone: Page, live: Live) -> None:
    maya = live.seed.cases["Maya"]
    await log_in(phone)
    await expect(phone.locator("a[data-case-id]")).to_have_count(2)
    await phone.context.set_offline(True)  # a change waits in the queue when the device is revoked
    await phone.locator(f'a[data-case-id="{maya}"]').tap()
    await phone.get_by_label("Contact note").fill("No answer")
    await phone.get_by_role("button", name="Log contact").tap()
    await expect(phone.locator("#pending")).to_have_text("1 change waiting")
    kept = await stored(phone)
    assert kept["meta"] > 0 and kept["records"] > 0 and kept["queue"] == 1, kept
    device_id = await phone.evaluate('async () => (await import("/app/js/db.js")).meta("device_id")')
    admin = (await live.http.post("/auth/login", json=_login("admin"))).json()
    revoked = await live.http.post(
        f"/devices/{device_id}/revoke", headers={"Authorization": f"Bearer {admin['access_token']}"}
    )
    assert revoked.status_code == 200, revoked.text
    await phone.context.set_offline(False)  # the signal returns: the app pushes the change at once
    await expect(phone.get_by_text("This device was revoked")).to_be_visible()
    await expect(phone.get_by_role("button", name="Log in")).to_be_visible()
    assert await stored(phone) == {"meta": 0, "records": 0, "queue": 0, "photos": 0}
    assert await count(live, ContactAttempt, ContactAttempt.case_id == maya) == 0
    # Signed out with nothing left to send, the status line says only whether it is online.
    await expect(phone.locator("#net")).to_be_visible()
    await expect(phone.locator("#pending")).to_be_hidden()
    await expect(phone.locator("#last-sync")).to_be_hidden()
    await shot(phone, "login")


async def stored(page: Page) -> dict[str, int]:
    """How many entries each of the app's IndexedDB stores holds."""
    return dict(
        await page.evaluate(
            """async () => {
                const s = await (await import("/app/js/db.js")).snapshot();
                return {meta: Object.keys(s.meta).length, records: s.records.length, queue: s.queue.length,
                        photos: s.photos.length};
            }"""
        )
    )


async def test_the_outbox_shows_rejections_flags_returned_notes_and_conflicts(phone: Page, live: Live) -> None:
    maya, jonah = live.seed.cases["Maya"], live.seed.cases["Jonah"]
    device = await live.device("cm1")  # her other phone: a visit whose note the supervisor returns
    visit, _ = await device.submit_visit(jonah, "Nobody answered the door.")
    sup = (await live.http.post("/auth/login", json=_login("sup1"))).json()
    decision = await live.http.post(
        f"/visits/{visit}/decisions",
        json={"decision_id": str(uuid.uuid4()), "decision": "return", "comment": COMMENT, "expected_version": 2},
        headers={"Authorization": f"Bearer {sup['access_token']}"},
    )
    assert decision.status_code in (200, 201), decision.text
    await log_in(phone)
    await phone.context.set_geolocation({"latitude": 41.60, "longitude": -73.04, "accuracy": 10})  # 5.5 km away
    await phone.locator(f'a[data-case-id="{maya}"]').click()
    await phone.get_by_role("link", name="Start a home visit").click()
    await phone.get_by_role("button", name="Check in").click()
    contact = str(uuid.uuid4())
    await phone.evaluate(
        """async ([contact, caseId, nowhere]) => {
            const db = await import("/app/js/db.js");
            const at = new Date().toISOString();
            const call = {method: "phone", outcome: "reached", at};
            await db.enqueue("contact_attempt.create", {...call, id: contact, case_id: caseId});
            await db.enqueue("contact_attempt.create", {...call, id: contact, case_id: caseId, method: "letter"});
            await db.enqueue("contact_attempt.create", {...call, id: crypto.randomUUID(), case_id: nowhere});
        }""",
        [contact, str(maya), str(uuid.uuid4())],
    )
    await phone.get_by_role("button", name="Sync now").click()
    await expect(phone.locator("#pending")).to_have_text("No changes waiting")
    await phone.get_by_role("link", name="Outbox").click()
    await expect(phone.get_by_role("heading", name="Rejected (1)")).to_be_visible()
    await expect(phone.get_by_text("Rejected: unknown_case")).to_be_visible()
    await expect(phone.get_by_text("Location far from the home")).to_be_visible()
    await expect(phone.get_by_text(f"Supervisor's comment: {COMMENT}")).to_be_visible()
    await expect(phone.get_by_role("heading", name="Conflicts (1)")).to_be_visible()
    await expect(phone.get_by_text("contact attempt: sent twice with different content")).to_be_visible()
    assert await count(live, Conflict) == 1
    await shot(phone, "outbox", full_page=True)

    # The office resolves it; the next sync tells her how.
    async with live.factory() as s:
        conflict_id = await s.scalar(select(Conflict.id))
    office = (await live.http.post("/auth/login", json=_login("office1"))).json()
    resolved = await live.http.post(
        f"/conflicts/{conflict_id}/resolve",
        json={"choice": "theirs", "note": "The letter was logged twice", "expected_version": 1},
        headers={"Authorization": f"Bearer {office['access_token']}"},
    )
    assert resolved.status_code == 200, resolved.text
    await phone.get_by_role("button", name="Sync now").click()
    await expect(phone.get_by_text("the office kept the version on the server")).to_be_visible()
    await expect(phone.get_by_text("“The letter was logged twice”", exact=False)).to_be_visible()
    await expect(phone.get_by_text("went to the office for review")).to_have_count(0)


def _login(username: str) -> dict[str, Any]:
    return {"username": username, "password": PASSWORD, "device": {"id": str(uuid.uuid4()), "name": "t"}}


async def test_a_photo_upload_cut_off_resumes_where_it_stopped(browser: Browser, live: Live) -> None:
    context = await phone_context(browser, live, service_workers="block")  # its requests are watched
    try:
        page = await context.new_page()
        await log_in(page)
        maya = live.seed.cases["Maya"]
        await page.locator(f'a[data-case-id="{maya}"]').click()
        await page.get_by_role("link", name="Start a home visit").click()
        await context.set_geolocation(AT_HOME)
        await page.get_by_role("button", name="Check in").click()
        picture = noise_png()
        assert len(picture) > 2 * CHUNK
        offsets: list[str] = []

        async def cut_second_chunk(route: Route) -> None:
            if route.request.method == "PATCH":
                offsets.append(route.request.headers["upload-offset"])
                if len(offsets) == 2:
                    await route.abort("connectionreset")
                    return
            await route.continue_()

        await context.route("**/uploads/**", cut_second_chunk)
        await page.get_by_label("Photo of the signed form").set_input_files(
            files=[FilePayload(name="consent.png", mimeType="image/png", buffer=picture)]
        )
        await page.get_by_role("button", name="Add photo").click()
        # A chunk of 512 KB each way, on a loaded machine: more than expect's 5 s once in CI's runs.
        await expect(page.get_by_text(f"sending, {CHUNK // 1024} KB of")).to_be_visible(timeout=20_000)
        await page.get_by_role("button", name="Sync now").click()
        await expect(page.locator("#pending")).to_have_text("No changes waiting", timeout=20_000)
        # the first chunk is sent once: the upload resumed from the server's offset
        assert offsets[:3] == ["0", str(CHUNK), str(CHUNK)]
        assert offsets.count("0") == 1
        async with live.factory() as s:
            photo = (await s.scalars(select(FormPhoto).where(FormPhoto.case_id == maya))).one()
        assert (photo.upload_status, photo.size) == ("received", len(picture))
    finally:
        await context.close()


async def test_with_25_cases_cached_the_app_is_usable_offline_within_a_second(phone: Page, live: Live) -> None:
    async with live.factory() as s:
        cm1 = live.seed.users["cm1"]
        school = await s.get(School, live.seed.school_id)
        for n in range(23):
            kid = await factories.student(s, school, first_name="Kid", last_name=f"Number {n:02d}")
            await factories.case(s, kid, manager=cm1, opened_days_ago=n)
        await s.commit()
    await log_in(phone)
    await expect(phone.locator("a[data-case-id]")).to_have_count(25)
    await phone.wait_for_function("navigator.serviceWorker.controller !== null")
    await phone.context.set_offline(True)
    timings = []
    for _ in range(3):
        await phone.reload()
        await expect(phone.locator("a[data-case-id]")).to_have_count(25)
        timings.append(int(await phone.evaluate("document.documentElement.dataset.ready")))
    assert max(timings) < 1000, timings


def noise_png() -> bytes:
    """A PNG that does not compress: a few chunks' worth of bytes."""
    out = io.BytesIO()
    Image.frombytes("RGB", (700, 700), random.Random(13).randbytes(700 * 700 * 3)).save(out, "PNG")
    return out.getvalue()
