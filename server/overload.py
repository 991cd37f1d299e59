"""Shedding load: at most ``max_in_flight`` requests at once in each API worker process, and a
bounded wait for a place (``queue_timeout_seconds``); past it, a quick 503 ``unavailable`` with
``Retry-After``.

Why: a worker is one event loop on one core. Let it take every request that comes and, past what
its core and its pool of database connections can serve, each request only waits longer for its
turn, all of them at once: issue 20's first curve, 500 phones on two workers, answered after 13 s
or not at all (the phones' 30 s timeout). A phone does better with a quick "not now": it keeps its
outbox and asks again after ``Retry-After``, while the requests let in are answered in their usual
time. The health and readiness probes are never shed (a load balancer must not take a busy node
for a dead one).
"""

from __future__ import annotations

import asyncio
from typing import Any

from server.errors import Unavailable
from server.settings import Settings

EXEMPT = frozenset({"/health", "/ready"})


class Gate:
    """One worker process's places: a semaphore and the wait allowed for one."""

    def __init__(self, places: int, wait_seconds: float) -> None:
        self.places = places
        self.wait_seconds = wait_seconds
        self._free = asyncio.Semaphore(places)

    async def enter(self) -> None:
        """Take a place, or raise ``Unavailable`` once none came free in time."""
        if not self._free.locked():
            await self._free.acquire()
            return
        try:
            async with asyncio.timeout(self.wait_seconds):
                await self._free.acquire()
        except TimeoutError:
            raise Unavailable(
                f"The server is busy: {self.places} requests in progress and no place free within "
                f"{self.wait_seconds:g} s. Nothing of this request was done; send it again later.",
                reason="overloaded",
            ) from None

    def leave(self) -> None:
        self._free.release()


def middleware(settings: Settings) -> Any:
    """The Litestar middleware: one ``Gate`` for the whole app (Litestar builds a middleware
    stack per route; every route shares this gate). ``max_in_flight`` 0: no limit."""
    if settings.max_in_flight <= 0:
        return lambda app: app
    gate = Gate(settings.max_in_flight, settings.queue_timeout_seconds)

    def wrap(app: Any) -> Any:
        async def limited(scope: Any, receive: Any, send: Any) -> None:
            if scope.get("type") != "http" or scope.get("path") in EXEMPT:
                await app(scope, receive, send)
                return
            await gate.enter()
            try:
                await app(scope, receive, send)
            finally:
                gate.leave()

        return limited

    return wrap
