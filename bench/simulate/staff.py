"""The office while the phones work: a supervisor approves and returns submitted visits, office
staff resolve conflicts, both through the API (a clean network: they sit at a desk).

The supervisor decides on most of the queue each pass: approve most, return some with a comment
(the phone then edits the note and submits it again). Office staff resolve every open conflict:
a note's text by keeping theirs or mine, anything else by keeping theirs (the server's record
stands, so what the phones appended to referrals and follow-ups stays countable). The server
refuses some of the "mine" (a note submitted or approved since is frozen): counted, not an error.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import msgspec

from bench.simulate.district import PASSWORD
from bench.simulate.faults import LOGIN, Answer, Request, Wire
from bench.simulate.session import JSON, Refused
from sync.client import TransportError

PASS_SECONDS = 0.4
RETRIES = 6


@dataclass
class Desk:
    """A staff member's API client: a login, and a request that logs in again on a 401."""

    username: str
    wire: Wire
    token: str = ""
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    async def login(self) -> None:
        device = {"id": str(uuid.uuid4()), "name": "office laptop", "platform": "web"}
        body = msgspec.json.encode({"username": self.username, "password": PASSWORD, "device": device})
        for attempt in range(RETRIES):
            try:
                answer = await self.wire(Request(LOGIN, "POST", "/auth/login", JSON, body))
            except TransportError:
                await asyncio.sleep(0.1 * attempt)
                continue
            if answer.status != 503:
                break
        else:
            raise Refused(f"login of {self.username}: no answer")
        if answer.status != 200:
            raise Refused(f"login of {self.username}: {answer.status} {answer.body[:200]!r}")
        self.token = msgspec.json.decode(answer.body)["access_token"]

    async def call(self, method: str, path: str, body: Any = None) -> Answer:
        """One request, sent again when no answer came (a keep-alive connection the server closed
        as the request went) or the server was busy (503): every one here can be repeated, a
        decision by its ``decision_id``, a resolution by its ``expected_version``."""
        content = b"" if body is None else msgspec.json.encode(body)
        for attempt in range(RETRIES):
            if attempt:
                await asyncio.sleep(0.1 * attempt)
            headers = JSON | {"Authorization": f"Bearer {self.token}"}
            try:
                answer = await self.wire(Request("staff", method, path, headers, content))
            except TransportError:
                continue
            if answer.status == 401:
                await self.login()
            elif answer.status != 503:
                return answer
        raise Refused(f"{method} {path}: no answer after {RETRIES} tries")


async def create_resources(office: Desk) -> None:
    """A small directory of community resources, made as office staff make it."""
    for name, factors in (
        ("Bus Pass Program", ["transportation"]),
        ("Family Food Pantry", ["food_insecurity"]),
        ("Teen Counseling Center", ["anxiety_or_mental_health", "bullying"]),
    ):
        answer = await office.call("POST", "/resources", {"name": name, "factors": factors, "languages": ["en", "es"]})
        if answer.status not in (200, 201):
            raise Refused(f"POST /resources: {answer.status} {answer.body[:200]!r}")


async def supervise(desk: Desk, rng: random.Random, stop: asyncio.Event) -> None:
    """Pass over the submitted visits until ``stop``, then once more."""
    while True:
        last = stop.is_set()
        answer = await desk.call("GET", "/visits?status=submitted&limit=200")
        if answer.status == 200:
            for item in msgspec.json.decode(answer.body)["items"]:
                if rng.random() < 0.8:
                    await _decide(desk, rng, item)
        if last:
            return
        await asyncio.sleep(PASS_SECONDS)


async def _decide(desk: Desk, rng: random.Random, item: dict[str, Any]) -> None:
    approve = rng.random() < 0.7
    body: dict[str, Any] = {"decision_id": str(uuid.uuid4()), "expected_version": item["version"]}
    body |= {"decision": "approve"} if approve else {"decision": "return", "comment": "Say what was agreed."}
    answer = await desk.call("POST", f"/visits/{item['id']}/decisions", body)
    if answer.status == 200:
        desk.counts["approved" if approve else "returned"] += 1
    elif answer.status == 409:
        desk.counts["decisions refused as stale"] += 1  # the phone changed the note meanwhile
    else:
        desk.counts[f"decisions answered {answer.status}"] += 1


async def resolve(desk: Desk, rng: random.Random, stop: asyncio.Event) -> None:
    """Pass over the open conflicts until ``stop``, then once more."""
    while True:
        last = stop.is_set()
        answer = await desk.call("GET", "/conflicts?status=open&limit=200")
        if answer.status == 200:
            for item in msgspec.json.decode(answer.body)["items"]:
                text = item["record_type"] == "visit_note" and "body" in (item["mine"] or {})
                choice = rng.choice(["theirs", "mine"]) if text else "theirs"
                body = {"choice": choice, "note": "Resolved by the simulation", "expected_version": item["version"]}
                done = await desk.call("POST", f"/conflicts/{item['id']}/resolve", body)
                key = f"resolved ({choice})" if done.status == 200 else f"resolutions answered {done.status}"
                desk.counts[key] += 1
        if last:
            return
        await asyncio.sleep(PASS_SECONDS)
