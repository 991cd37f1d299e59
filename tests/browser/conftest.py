"""The console in a real browser: headless Chromium (Debian's package, driven by Playwright's async
API) against the real app served over TCP on a database of the test's own.

Fixtures:

- ``live``: the app on ``127.0.0.1:<port>`` (uvicorn, as ``served`` does) on a fresh migrated
  database holding the demo users (shared password ``PASSWORD``) and a small district
  (``live.seed``: one school, cases for cm1, cm2 and cm5, one referred case with no manager).
  ``await live.device("cm1")`` logs a phone in and gives a ``Device`` (sync/client.py over HTTP).
- ``browser``: one Chromium for the session; ``page``: a fresh context and page per test, at a
  laptop viewport (1280x800), with ``base_url`` set to the live server (``page.goto("/console")``).
- ``no_csp_violations`` (autouse): a test fails if, in any context made from ``browser``, a page's
  Content-Security-Policy refused something (Chromium's console error "Refused to …").
- ``sign_in(page, username)``: fills the sign-in form by its labels and waits for the console.
- ``screenshot(page, name)``: ``docs/console/<name>.png``, written only with DOORSTEP_SCREENSHOTS=1.

Without Chromium (``DOORSTEP_CHROMIUM``, default ``/usr/bin/chromium``) these tests skip, saying
what to install; ``scripts/test`` installs it where it can.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, Response, ViewportSize, async_playwright
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cases import CaseStatus
from schemas.sync import MutationResult
from server import demo
from server.db import SessionFactory, create_engine, create_session_factory
from server.students.models import Guardian, Household
from sync.client import SyncClient, http_transport
from tests import factories as f
from tests.conftest import _TEMPLATE, PASSWORD, _admin, app_for, create_database, make_settings, with_database
from tests.helpers import device as device_info

CHROMIUM = Path(os.environ.get("DOORSTEP_CHROMIUM", "/usr/bin/chromium"))
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
HERE = Path(__file__).resolve().parent
_BROWSER_TEMPLATE = f"doorstep_browser_{os.getpid()}"


def missing_chromium() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return (
            f"Chromium not found at {CHROMIUM}; install Debian's chromium package (apt-get install -y chromium) "
            "or point DOORSTEP_CHROMIUM at a Chromium to run the browser tests"
        )
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = missing_chromium()
    if reason is None:
        return
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.skip(reason=reason))


# --- the district ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seed:
    """What the template database holds besides the demo users: ids by username and by student."""

    users: dict[str, uuid.UUID]
    cases: dict[str, uuid.UUID]
    """Case ids by the student's first name: Maya, Jonah (cm1), Lena (cm2), Sam (cm5), Ivy (referred)."""
    school_id: uuid.UUID


_CASES = (  # first, last, case manager, days since the case opened, guardian, street address
    ("Maya", "Alvarez", "cm1", 21, ("Rosa Alvarez", "mother"), "14 Elm Street"),
    ("Jonah", "Brooks", "cm1", 14, ("Marcus Brooks", "father"), "220 River Road, Apt 3"),
    ("Lena", "Ortiz", "cm2", 9, ("Carmen Ortiz", "grandmother"), "7 Hillside Avenue"),
    ("Sam", "Patel", "cm5", 6, ("Priya Patel", "mother"), "61 Mill Lane"),
    ("Ivy", "Chen", None, 2, ("Wei Chen", "father"), "3 Orchard Court"),
)


async def _seed(session: AsyncSession) -> Seed:
    await demo.load(session, PASSWORD, district=False)
    school = await f.school(session, "Riverside Middle")
    users = {u: await f.user_id(session, u) for u in ("admin", "sup1", "sup2", "office1", "counselor1")}
    users |= {f"cm{n}": await f.user_id(session, f"cm{n}") for n in range(1, 9)}
    await f.counselor_at(session, "counselor1", school)
    cases: dict[str, uuid.UUID] = {}
    for n, (first, last, manager, days, guardian, address) in enumerate(_CASES, start=1):
        kid = await f.student(session, school, first_name=first, last_name=last, student_number=f"RM{n:05d}")
        await session.execute(update(Household).where(Household.id == kid.household_id).values(address=address))
        await session.execute(
            update(Guardian)
            .where(Guardian.household_id == kid.household_id)
            .values(name=guardian[0], relationship=guardian[1])
        )
        case = await f.case(
            session,
            kid,
            manager=users[manager] if manager else None,
            status=CaseStatus.ASSIGNED if manager else CaseStatus.REFERRED,
            opened_days_ago=days,
        )
        cases[first] = case.id
    return Seed(users=users, cases=cases, school_id=school.id)


@pytest.fixture(scope="session")
async def browser_template(server_url: str, template_url: str) -> AsyncIterator[tuple[str, Seed]]:
    """A database copied from the migrated template, with the demo users and the small district;
    each test's database is copied from it (``CREATE DATABASE … TEMPLATE``, a fraction of a second)."""
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{_BROWSER_TEMPLATE}"')
    await _admin(server_url, create_database(_BROWSER_TEMPLATE, _TEMPLATE))
    engine = create_engine(with_database(server_url, _BROWSER_TEMPLATE))
    try:
        async with create_session_factory(engine)() as session:
            seed = await _seed(session)
            await session.commit()
    finally:
        await engine.dispose()
    yield _BROWSER_TEMPLATE, seed
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{_BROWSER_TEMPLATE}" WITH (FORCE)')


# --- the live server and devices ------------------------------------------------------------------


class Device:
    """A case manager's phone: the reference client (sync/client.py, its queue in SQLite) speaking
    HTTP to the live server. ``push`` sends one mutation and answers its result."""

    def __init__(self, live: Live, username: str, tokens: dict[str, Any], client_id: uuid.UUID, path: Path) -> None:
        self.live, self.username, self.tokens = live, username, tokens
        transport = http_transport(live.url, lambda: str(self.tokens["access_token"]), client=live.http)
        self.client = SyncClient(path, client_id, transport, retries=0)

    async def push(self, name: str, args: dict[str, Any], base_version: int | None = None) -> MutationResult:
        mutation_id = self.client.enqueue(name, args, base_version)
        await self.client.push()
        result = self.client.result(mutation_id)
        assert result is not None, f"no result for {name}"
        return result

    async def pull(self) -> None:
        await self.client.pull()

    def record(self, record_type: str, record_id: uuid.UUID) -> tuple[int, dict[str, Any]]:
        """The version and data the device holds for a record (after a pull)."""
        return self.client.records()[(record_type, record_id)]

    async def submit_visit(
        self, case_id: uuid.UUID, body: str, *, metres_from_home: float = 40, outcome: str = "family_met"
    ) -> tuple[uuid.UUID, uuid.UUID]:
        """A home visit as the phone records it: check in ``metres_from_home`` north of the student's
        home (the factories' coordinates) an hour ago, check out half an hour later with ``outcome``,
        write a note on the visit and submit it, so the visit enters its supervisor's queue.
        Answers (visit id, note id); the note is then at version 2."""
        visit, note = uuid.uuid4(), uuid.uuid4()
        start = datetime.now(UTC) - timedelta(hours=1)
        fix = {"latitude": 41.55 + metres_from_home / 111_320, "longitude": -73.04, "accuracy_m": 12}
        steps: list[tuple[str, dict[str, Any], int | None]] = [
            ("visit_log.check_in", {"id": str(visit), "case_id": str(case_id), "at": start.isoformat()} | fix, None),
            (
                "visit_log.check_out",
                {"id": str(visit), "at": (start + timedelta(minutes=30)).isoformat(), "outcome": outcome} | fix,
                None,
            ),
            (
                "visit_note.save",
                {"id": str(note), "case_id": str(case_id), "body": body, "visit_log_id": str(visit)},
                None,
            ),
            ("visit_note.submit", {"id": str(note)}, 1),
        ]
        for name, args, base_version in steps:
            result = await self.push(name, args, base_version)
            assert result.status == "applied", (name, result)
        return visit, note


@dataclass
class Live:
    """The app served over TCP at ``url``, on a database of this test's own (``factory``)."""

    url: str
    factory: SessionFactory
    seed: Seed
    http: httpx.AsyncClient
    folder: Path
    devices: list[Device] = field(default_factory=list)

    async def device(self, username: str) -> Device:
        """Log a new phone in as ``username`` (``POST /auth/login``) and wrap it in the reference client."""
        client_id = uuid.uuid4()
        body = {"username": username, "password": PASSWORD, "device": device_info(client_id)}
        response = await self.http.post("/auth/login", json=body)
        assert response.status_code == 200, response.text
        made = Device(self, username, response.json(), client_id, self.folder / f"device-{client_id}.sqlite")
        self.devices.append(made)
        return made


@pytest.fixture
async def live(server_url: str, browser_template: tuple[str, Seed], tmp_path: Path) -> AsyncIterator[Live]:
    template, seed = browser_template
    name = f"doorstep_b{os.getpid()}_{uuid.uuid4().hex[:8]}"
    await _admin(server_url, create_database(name, template))
    engine = create_engine(with_database(server_url, name))
    factory = create_session_factory(engine)
    app = app_for(make_settings(data_dir=tmp_path), factory)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:  # uvicorn offers no event to wait on
            assert not task.done(), "the server stopped while starting"
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            found = Live(url, factory, seed, http, tmp_path)
            try:
                yield found
            finally:
                for d in found.devices:
                    d.client.close()
    finally:
        server.should_exit = True
        await task
        await engine.dispose()
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the browser ----------------------------------------------------------------------------------


CSP_VIOLATIONS: list[str] = []
"""What the browser refused under a page's Content-Security-Policy during the current test
(``no_csp_violations`` empties it before each test and fails the test on what it holds after)."""


def _is_csp_violation(text: str) -> bool:
    """Chromium reports each refusal as a console error: "Refused to execute inline script because
    it violates the following Content Security Policy directive: …"."""
    return "Content Security Policy" in text or text.startswith("Refused to")


def watch_csp(context: BrowserContext) -> BrowserContext:
    """Record every console message of ``context``'s pages about its Content-Security-Policy."""

    def on_console(message: ConsoleMessage) -> None:
        if _is_csp_violation(message.text):
            CSP_VIOLATIONS.append(f"{message.text} ({message.location['url']})")

    context.on("console", on_console)
    return context


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium for the whole session. Every context made from it, by the ``page``
    fixture or by a test itself (a phone's), is watched for CSP violations (``watch_csp``)."""
    if reason := missing_chromium():
        pytest.skip(reason)
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True)
        new_context = launched.new_context

        async def watched_context(**options: Any) -> BrowserContext:
            return watch_csp(await new_context(**options))

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(launched, "new_context", watched_context)
            try:
                yield launched
            finally:
                await launched.close()


@pytest.fixture(autouse=True)
def no_csp_violations() -> Iterator[None]:
    """Fail any browser test during which a page's Content-Security-Policy refused something (an
    inline script or style, an image or a script from elsewhere): a violation never passes
    silently. Checked after the test (its contexts closed, every message in), so the test ends as
    an error naming each refusal."""
    CSP_VIOLATIONS.clear()
    yield
    found = list(CSP_VIOLATIONS)
    CSP_VIOLATIONS.clear()
    assert found == [], "the Content-Security-Policy refused:\n" + "\n".join(found)


@pytest.fixture
async def page(browser: Browser, live: Live) -> AsyncIterator[Page]:
    """A fresh browser context (no cookies) and page, at a laptop viewport, for the live server."""
    context = await browser.new_context(viewport=VIEWPORT, base_url=live.url)
    context.set_default_timeout(10_000)
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Sign in through the form, as a person would, and wait until the console shows its sections."""
    await page.goto("/console/sign-in")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("button", name="Sign out").wait_for()


def watch_for_problems(page: Page) -> list[str]:
    """What went wrong on ``page`` from now on: console errors, script errors and answers of 400 or
    more, one line each (a test asserts the list stays empty)."""
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console: {message.text} ({message.location['url']})")

    def on_response(response: Response) -> None:
        if response.status >= 400:
            problems.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"script: {error}"))
    page.on("response", on_response)
    return problems


async def screenshot(page: Page, name: str, *, full_page: bool = False) -> None:
    """``docs/console/<name>.png`` of what the page shows, only when DOORSTEP_SCREENSHOTS=1 (so the
    committed pictures change only when someone means to retake them)."""
    if os.environ.get("DOORSTEP_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=full_page, animations="disabled", caret="hide")


__all__ = ["VIEWPORT", "Device", "Live", "Seed", "screenshot", "sign_in"]
