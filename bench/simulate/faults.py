"""The simulated phones' network: a plain HTTP wire, and the faults laid on it.

Every request a phone makes goes through ``Faulty``, which may inject one fault in it, drawn with
the run's seeded RNG from the faults asked for (``--fault``). The faults are what a phone meets
in a living room with one bar of signal, and each one leaves the request in a state the server
must be ready for:

- ``drop_request``: the request never arrives (the phone sees a timeout);
- ``drop_response``: it arrives and the server commits, the answer is lost (push, pull,
  refresh, the tus PATCH, ...);
- ``duplicate``: it arrives twice at once (a proxy's retry), the phone sees one answer;
- ``delay``: it is held up; the phone times out and retries, and the original arrives later,
  maybe after the retry, maybe while the phone's next request is being served;
- ``reorder``: before this request, an older one the phone sent (push, pull or a PATCH) arrives
  again: a retry reordered by the network, its answer going nowhere;
- ``cut_upload``: a tus PATCH whose connection dies halfway through its body (the headers
  announce the whole chunk, half of it is sent, the socket closes); the phone resumes from HEAD.

A refresh is never replayed by ``reorder``: a refresh token presented again after the reuse
grace is what theft looks like, and the server is right to end the session then.

To add a phone-side fault: a name in ``FAULTS`` with the kinds of request it applies to, and its
effect in ``Faulty.__call__``. Faults of the server's side (a killed worker, a restarted
PostgreSQL) belong to the run, not to a phone's wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

import httpx

from sync.client import TransportError

PUSH, PULL, REFRESH, LOGIN = "push", "pull", "refresh", "login"
TUS_CREATE, TUS_HEAD, TUS_PATCH = "tus_create", "tus_head", "tus_patch"
ALL_KINDS = frozenset({PUSH, PULL, REFRESH, TUS_CREATE, TUS_HEAD, TUS_PATCH})
"""Logins are left clean: they are not what the field loses, and a lost one costs a second login."""

FAULTS: dict[str, frozenset[str]] = {
    "drop_request": ALL_KINDS,
    "drop_response": ALL_KINDS,
    "duplicate": frozenset({PUSH, PULL, REFRESH, TUS_PATCH}),
    "delay": frozenset({PUSH, PULL, REFRESH, TUS_PATCH}),
    "reorder": frozenset({PUSH, PULL, TUS_PATCH}),
    "cut_upload": frozenset({TUS_PATCH}),
}
"""Each fault and the kinds of request it is injected in."""

REPLAYABLE = frozenset({PUSH, PULL, TUS_PATCH})
HISTORY = 32
"""How many delivered requests a phone remembers for ``reorder``."""
REQUEST_SECONDS = 60.0


@dataclass(frozen=True)
class Request:
    kind: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    cut: bool = False
    """Send half of ``body`` under headers announcing all of it, then close the connection."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


Send = Callable[[Request], Awaitable[Answer]]


class Wire:
    """Plain HTTP to the server, one keep-alive connection pool a phone. A request that gets no
    answer raises ``TransportError``, as ``sync.client.http_transport`` does."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.AsyncClient(timeout=REQUEST_SECONDS, trust_env=False)
        self.answers = 0
        self.server_errors: Counter[str] = Counter()
        """Answers 500 and up by status and kind of request, e.g. ``"500 push"``."""

    async def close(self) -> None:
        await self.http.aclose()

    async def __call__(self, request: Request) -> Answer:
        if request.cut:
            await self._cut(request)
            raise TransportError("the connection died halfway through the body")
        try:
            response = await self.http.request(
                request.method, self.base_url + request.path, headers=request.headers, content=request.body
            )
        except httpx.TransportError as exc:
            raise TransportError(str(exc)) from exc
        self.answers += 1
        if response.status_code >= 500:
            self.server_errors[f"{response.status_code} {request.kind}"] += 1
        return Answer(response.status_code, dict(response.headers), response.content)

    async def _cut(self, request: Request) -> None:
        """Headers announcing the whole body, half of it, then the socket shut: what the server
        sees when a phone loses its signal mid-chunk (httpx cannot be made to do it)."""
        url = urlsplit(self.base_url)
        host, port = url.hostname or "127.0.0.1", url.port or 80
        headers = request.headers | {"Host": f"{host}:{port}", "Content-Length": str(len(request.body))}
        head = f"{request.method} {url.path}{request.path} HTTP/1.1\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "Connection: close\r\n\r\n"
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError as exc:
            raise TransportError(str(exc)) from exc
        try:
            writer.write(head.encode("latin-1") + request.body[: len(request.body) // 2])
            await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


@dataclass
class Faulty:
    """A phone's wire with faults: each request gets one with probability ``rate``, drawn from
    ``faults`` (those that apply to its kind). ``injected`` counts them by fault and kind;
    ``late`` holds the deliveries still on their way (delayed, or a duplicate's copy), which the
    run awaits before its checks."""

    inner: Send
    faults: tuple[str, ...]
    rate: float
    rng: random.Random
    injected: Counter[tuple[str, str]] = field(default_factory=Counter)
    last: dict[str, str] = field(default_factory=dict)
    """The fault last injected in each kind of request (a logout names the refresh's)."""
    delivered: deque[Request] = field(default_factory=lambda: deque(maxlen=HISTORY))
    late: set[asyncio.Task[None]] = field(default_factory=set)
    enabled: bool = True
    force: list[str] = field(default_factory=list)
    """Faults to inject in the next requests whatever ``rate`` says, one each (the unit tests)."""

    def _draw(self, kind: str) -> str | None:
        if self.force:
            return self.force.pop(0)
        if not self.enabled or self.rng.random() >= self.rate:
            return None
        applicable = [f for f in self.faults if kind in FAULTS[f]]
        if kind in REPLAYABLE and "reorder" in applicable and not self.delivered:
            applicable.remove("reorder")
        return self.rng.choice(applicable) if applicable else None

    async def __call__(self, request: Request) -> Answer:
        fault = self._draw(request.kind)
        if fault is not None:
            self.injected[fault, request.kind] += 1
            self.last[request.kind] = fault
        if fault == "drop_request":
            raise TransportError(fault)
        if fault == "reorder" and self.delivered:
            await self._quietly(self.rng.choice(list(self.delivered)))
        if fault == "cut_upload":
            await self._quietly(replace(request, cut=True))
            raise TransportError(fault)
        if fault == "delay":
            self._later(request, self.rng.uniform(0.05, 0.6))
            await asyncio.sleep(self.rng.uniform(0.0, 0.4))  # the phone's timeout, racing the original
            raise TransportError(fault)
        if fault == "duplicate":
            copy = asyncio.ensure_future(self._quietly(request))
            try:
                answer = await self.inner(request)
            finally:
                await copy
        else:
            answer = await self.inner(request)
        if request.kind in REPLAYABLE:
            self.delivered.append(request)
        if fault == "drop_response":
            raise TransportError(fault)
        return answer

    async def _quietly(self, request: Request) -> None:
        """Deliver ``request`` with its answer going nowhere (a copy, a replay, a late original)."""
        with contextlib.suppress(TransportError):
            await self.inner(request)

    def _later(self, request: Request, seconds: float) -> None:
        async def deliver() -> None:
            await asyncio.sleep(seconds)
            await self._quietly(request)

        task = asyncio.create_task(deliver())
        self.late.add(task)
        task.add_done_callback(self.late.discard)

    async def settle(self) -> None:
        """Wait until every late delivery has arrived."""
        while self.late:
            await asyncio.gather(*list(self.late))
