"""``scripts/bench app``: the field app (/app) in this machine's Chromium against a real
``doorstep serve`` on 127.0.0.1.

- The shell's size: every file the service worker caches, raw and gzip-compressed (target: under
  150 KB compressed).
- The first sync of a 25-case caseload: from "Log in" to the caseload drawn and synced.
- Opening offline with 25 cases cached: a reload with the network off, from navigation start to
  the caseload drawn from IndexedDB (the app's ``data-ready`` mark, ``performance.now()``), and the
  same seen from outside (the reload call to 25 case links visible). Target: within 1 s.
"""

from __future__ import annotations

import asyncio
import gzip
import statistics
import time
import uuid
from dataclasses import dataclass, field
from typing import Annotated

import typer
from playwright.async_api import async_playwright
from sqlalchemy import text

from bench.harness import load_average, machine, temporary_postgres, write_section
from bench.phones import BENCH_PASSWORD
from bench.served import Served
from bench.sync import _create_database, _make_user, _scalar
from schemas.auth import Role
from server.app_shell import STATIC, shell_files
from server.db import EmbeddedPostgres, create_engine, create_session_factory, session_scope

CHROMIUM = "/usr/bin/chromium"
BUDGET_KB = 150
TARGET_MS = 1000


@dataclass
class Figures:
    postgres: str = ""
    chromium: str = ""
    files: list[tuple[str, int, int]] = field(default_factory=list)
    first_sync: list[float] = field(default_factory=list)
    offline_mark: list[float] = field(default_factory=list)
    offline_seen: list[float] = field(default_factory=list)


async def _setup(server: EmbeddedPostgres, cases: int) -> tuple[str, str]:
    """A supervisor, her case manager ``cm`` and ``cases`` cases of his, each student with a home."""
    url = await _create_database(server, "bench_app")
    engine = create_engine(url)
    factory = create_session_factory(engine)
    try:
        await _make_user(factory, "sup", Role.SUPERVISOR)
        cm = await _make_user(factory, "cm", Role.CASE_MANAGER, "sup")
        async with session_scope(factory) as s:
            for n in range(cases):
                home, kid, case = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
                await s.execute(
                    text(
                        "INSERT INTO household (id, external_id, phone, language, address, latitude, longitude) "
                        "VALUES (:id, :ext, '555-0100', 'en', :address, 41.55, -73.04)"
                    ),
                    {"id": home, "ext": f"H-B{n:05d}", "address": f"{n + 1} Bench Street"},
                )
                await s.execute(
                    text(
                        "INSERT INTO student (id, student_number, first_name, last_name, grade, household_id) "
                        "VALUES (:id, :number, 'Bench', :last, '7', :home)"
                    ),
                    {"id": kid, "number": f"B{n:06d}", "last": f"Student {n:02d}", "home": home},
                )
                await s.execute(
                    text(
                        "INSERT INTO case_file (id, student_id, status, case_manager_id, opened_at) "
                        "VALUES (:id, :kid, 'active', :cm, now() - interval '3 days')"
                    ),
                    {"id": case, "kid": kid, "cm": cm},
                )
        version = str(await _scalar(factory, "SHOW server_version"))
    finally:
        await engine.dispose()
    return url, version


async def _browse(base_url: str, cases: int, repeats: int, f: Figures) -> None:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        f.chromium = browser.version
        try:
            for _ in range(repeats):
                context = await browser.new_context(
                    viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True, base_url=base_url
                )
                page = await context.new_page()
                await page.goto("/app/")
                await page.get_by_label("Username").fill("cm")
                await page.get_by_label("Password").fill(BENCH_PASSWORD)
                started = time.perf_counter()
                await page.get_by_role("button", name="Log in").click()
                await page.locator("a[data-case-id]").nth(cases - 1).wait_for()
                await page.wait_for_function("document.getElementById('last-sync').textContent.startsWith('Last sync')")
                f.first_sync.append(time.perf_counter() - started)
                await page.wait_for_function("navigator.serviceWorker.controller !== null")
                await context.set_offline(True)
                for _ in range(repeats):
                    started = time.perf_counter()
                    await page.reload()
                    await page.locator("a[data-case-id]").nth(cases - 1).wait_for()
                    f.offline_seen.append(time.perf_counter() - started)
                    f.offline_mark.append(float(await page.evaluate("document.documentElement.dataset.ready")) / 1000)
                await context.close()
        finally:
            await browser.close()


def _ms(seconds: list[float]) -> str:
    return f"{statistics.median(seconds) * 1000:.0f} ms (max {max(seconds) * 1000:.0f})"


def _met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def _report(f: Figures, cases: int, load: tuple[str, str], seconds: float) -> str:
    raw = sum(r for _, r, _ in f.files)
    packed = sum(g for _, _, g in f.files)
    size = f"{packed / 1024:.1f} KB ({raw / 1024:.1f} KB raw)"
    size_met = _met(packed < BUDGET_KB * 1024)
    open_met = _met(max(f.offline_mark) * 1000 < TARGET_MS)
    rows = "\n".join(f"| `{name}` | {r:,} | {g:,} |" for name, r, g in f.files)
    return f"""## app: the field app in Chromium, {cases} cases

Run {time.strftime("%Y-%m-%d")} with `scripts/bench app` on {machine()}; Chromium {f.chromium}; embedded
PostgreSQL {f.postgres}; one `doorstep serve` worker on 127.0.0.1. Load average {load[0]} before,
{load[1]} after; {seconds:.0f} s in all.

| measure | figure | target |
|---|---:|---|
| the app shell, gzip-compressed (every file the service worker caches, and itself) | {size} | under {BUDGET_KB} KB: {size_met} |
| opening offline with {cases} cases cached: navigation start → caseload drawn (the app's mark) | {_ms(f.offline_mark)} | within 1 s: {open_met} |
| the same, seen by the test: `reload()` → {cases} case links visible | {_ms(f.offline_seen)} | |
| first sync: "Log in" → {cases} cases drawn and synced (login, `/users/me`, one pull) | {_ms(f.first_sync)} | |

<details><summary>The shell, file by file (bytes)</summary>

| file | raw | gzip |
|---|---:|---:|
{rows}

</details>

Reading the figures: the app opens from the service worker's cache and draws the caseload from one
IndexedDB read (`db.snapshot()`); nothing waits for the network, so offline and online opening
cost the same. The shell is plain ES modules with no library, fetched once and revalidated by
ETag (`Cache-Control: no-cache`); the service worker's cache name follows their contents.
"""  # noqa: E501


def app(
    cases: Annotated[int, typer.Option(help="cases on the case manager's phone")] = 25,
    repeats: Annotated[int, typer.Option(help="fresh phones, and offline reloads each")] = 5,
    write: Annotated[bool, typer.Option(help="rewrite the app section of docs/benchmarks.md")] = True,
) -> None:
    """The field app: its size, its first sync and how fast it opens offline."""
    load_before = load_average()
    started = time.perf_counter()
    f = Figures()
    for path in [*shell_files(), STATIC / "sw.js"]:
        data = path.read_bytes()
        f.files.append((path.relative_to(STATIC).as_posix(), len(data), len(gzip.compress(data, 9))))
    with temporary_postgres() as (server, folder):
        url, f.postgres = asyncio.run(_setup(server, cases))
        served = Served(url, folder, "app", workers=1)
        served.env["DOORSTEP_WORKER"] = "off"
        with served:
            asyncio.run(_browse(served.base_url, cases, repeats, f))
    report = _report(f, cases, (load_before, load_average()), time.perf_counter() - started)
    print(report)
    if write:
        write_section("app", report)
