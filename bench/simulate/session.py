"""A phone's login as the app keeps it: a token pair, refreshed through the faulty network, and
a password login again only when the server ended the session.

Each time the session ends (a 401 that a refresh could not mend) is a *logout*: in the field it
is a case manager asked for her password in a living room with no signal. The run counts them
with the fault last injected in a refresh, which is what ends a session when the server treats a
retried refresh as a stolen token.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

import msgspec

from bench.simulate.district import PASSWORD
from bench.simulate.faults import LOGIN, REFRESH, Answer, Faulty, Request, Wire
from sync.client import TransportError

RETRIES = 8
BACKOFF = 0.05
JSON = {"Content-Type": "application/json"}


class Refused(Exception):
    """The server answered something the simulated app has no way to go on from."""


def code_of(answer: Answer) -> str:
    try:
        return str(msgspec.json.decode(answer.body).get("code", ""))
    except (msgspec.DecodeError, AttributeError):
        return ""


@dataclass
class Session:
    username: str
    device_id: uuid.UUID
    wire: Faulty
    clean: Wire
    access: str = ""
    refresh_token: str = ""
    logouts: list[str] = field(default_factory=list)
    """What happened before each logout: the fault last injected in a refresh (or ``none``)."""
    refreshes: int = 0

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}

    async def login(self) -> None:
        """A password login over a clean network (what the case manager types)."""
        device = {"id": str(self.device_id), "name": "simulated phone", "platform": "android", "app_version": "1.0.0"}
        body = msgspec.json.encode({"username": self.username, "password": PASSWORD, "device": device})
        for attempt in range(RETRIES * 4):
            try:
                answer = await self.clean(Request(LOGIN, "POST", "/auth/login", JSON, body))
            except TransportError:
                await asyncio.sleep(BACKOFF * 2 ** min(attempt, 5))
                continue
            if answer.status == 200:
                self._take(answer)
                return
            if answer.status != 429 and answer.status < 500:
                raise Refused(f"login of {self.username}: {answer.status} {answer.body[:200]!r}")
            await asyncio.sleep(BACKOFF * 2 ** min(attempt, 5))
        raise Refused(f"login of {self.username}: no answer")

    def _take(self, answer: Answer) -> None:
        pair = msgspec.json.decode(answer.body)
        self.access, self.refresh_token = pair["access_token"], pair["refresh_token"]

    async def refresh(self) -> None:
        """Rotate the token pair as the app does before its access token runs out. A lost answer
        is retried with the same refresh token (the app has no other). When every try fails the
        app keeps its pair and goes on; a 401 means the session ended: a logout."""
        body = msgspec.json.encode({"refresh_token": self.refresh_token})
        for attempt in range(RETRIES):
            if attempt:
                await asyncio.sleep(BACKOFF * 2 ** (attempt - 1))
            try:
                answer = await self.wire(Request(REFRESH, "POST", "/auth/refresh", JSON, body))
            except TransportError:
                continue
            if answer.status == 200:
                self._take(answer)
                self.refreshes += 1
                return
            if answer.status == 401:
                await self._logged_out()
                return
            if answer.status != 429 and answer.status < 500:
                raise Refused(f"refresh: {answer.status} {answer.body[:200]!r}")

    async def _logged_out(self) -> None:
        self.logouts.append(self.wire.last.get(REFRESH, "none"))
        self.wire.last.pop(REFRESH, None)
        await self.login()

    async def call(self, kind: str, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> Answer:
        """One authenticated request through the faulty network. A 401 is met as the app meets
        it: refresh, and once more; if the refresh could not mend it, the session ended (a
        logout) and the app logs in again before the request goes once more."""
        answer = await self.wire(Request(kind, method, path, headers | self.bearer(), body))
        if answer.status != 401 or code_of(answer) == "device_revoked":
            return answer
        before = len(self.logouts)
        await self.refresh()
        answer = await self.wire(Request(kind, method, path, headers | self.bearer(), body))
        if answer.status == 401 and len(self.logouts) == before:
            await self._logged_out()
            answer = await self.wire(Request(kind, method, path, headers | self.bearer(), body))
        return answer
