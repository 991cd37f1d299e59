"""Shedding load (issue 20, the concurrency curve): at most ``max_in_flight`` requests at once per
worker, a bounded wait for a place, then a quick 503 with ``Retry-After``; the probes never shed."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import httpx
import pytest
from litestar import Litestar, Request, get

from server.app import create_app
from server.auth.guards import PUBLIC
from server.db import SessionFactory
from server.settings import Settings
from tests.conftest import make_settings

RELEASE = "doorstep.test.release"


@get("/test/slow", opt=PUBLIC, include_in_schema=False)
async def slow(request: Request[Any, Any, Any]) -> dict[str, str]:
    """Holds its place until the test sets the app's event."""
    await request.app.state[RELEASE].wait()
    return {"ok": "yes"}


def slow_app(session_factory: SessionFactory, **settings: Any) -> Litestar:
    app = create_app(make_settings(**settings), session_factory=session_factory)
    app.register(slow)
    app.state[RELEASE] = asyncio.Event()
    return app


def client(app: Litestar) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=cast(Any, app)), base_url="http://testserver")


async def wait_until_in_flight(app: Litestar, tasks: list[asyncio.Task[httpx.Response]]) -> None:
    """Let the tasks reach the slow route (they hold their places there)."""
    for _ in range(50):
        await asyncio.sleep(0.01)
    assert not any(t.done() for t in tasks)


async def test_one_request_past_the_limit_gets_a_quick_503_with_retry_after(session_factory: SessionFactory) -> None:
    app = slow_app(session_factory, max_in_flight=3, queue_timeout_seconds=0.3)
    async with client(app) as c:
        held = [asyncio.create_task(c.get("/test/slow")) for _ in range(3)]
        await wait_until_in_flight(app, held)
        started = time.monotonic()
        extra = await asyncio.wait_for(c.get("/test/slow"), 5)
        waited = time.monotonic() - started
        health = await asyncio.wait_for(c.get("/health"), 5)  # the probes are never shed
        app.state[RELEASE].set()
        answers = await asyncio.wait_for(asyncio.gather(*held), 5)
        after = await asyncio.wait_for(c.get("/test/slow"), 5)  # the places came back

    assert extra.status_code == 503, extra.text
    assert 0.3 <= waited < 2.0
    assert extra.headers["retry-after"] == "5"
    assert extra.headers["content-type"].startswith("application/problem+json")
    body = extra.json()
    assert (body["code"], body["reason"]) == ("unavailable", "overloaded")
    assert health.status_code == 200
    assert [a.status_code for a in answers] == [200] * 3
    assert after.status_code == 200


async def test_a_request_that_finds_a_place_within_the_wait_is_served(session_factory: SessionFactory) -> None:
    app = slow_app(session_factory, max_in_flight=1, queue_timeout_seconds=5)
    async with client(app) as c:
        first = asyncio.create_task(c.get("/test/slow"))
        await wait_until_in_flight(app, [first])
        second = asyncio.create_task(c.get("/test/slow"))
        await asyncio.sleep(0.2)
        assert not second.done()  # waiting for the place, not refused
        app.state[RELEASE].set()
        answers = await asyncio.wait_for(asyncio.gather(first, second), 5)
    assert [a.status_code for a in answers] == [200, 200]


async def test_no_limit_when_max_in_flight_is_zero(session_factory: SessionFactory) -> None:
    app = slow_app(session_factory, max_in_flight=0, queue_timeout_seconds=0.1)
    async with client(app) as c:
        held = [asyncio.create_task(c.get("/test/slow")) for _ in range(20)]
        await wait_until_in_flight(app, held)
        app.state[RELEASE].set()
        answers = await asyncio.wait_for(asyncio.gather(*held), 5)
    assert [a.status_code for a in answers] == [200] * 20


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, (20, 2.0)), ({"DOORSTEP_MAX_IN_FLIGHT": "8", "DOORSTEP_QUEUE_TIMEOUT_SECONDS": "0.5"}, (8, 0.5))],
)
def test_settings_read_the_variables(env: dict[str, str], expected: tuple[int, float]) -> None:
    settings = Settings.from_env(env)
    assert (settings.max_in_flight, settings.queue_timeout_seconds) == expected
