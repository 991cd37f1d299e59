"""A transport that wires ``sync.client.SyncClient`` straight to the engine and a store, as the
HTTP routes will: decode the body, call ``engine.push``/``engine.pull``, answer problem documents.

Revoked devices answer 401 ``device_revoked``. ``Network`` wraps any transport with the faults a
test asks for, so the same tests run over HTTP with another inner transport.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import msgspec

from schemas.sync import PullRequest, PushRequest
from sync import engine
from sync.client import PULL_PATH, PUSH_PATH, Reply, Transport, TransportError
from sync.store import Principal
from tests.sync.world import Backend


def problem(status: int, code: str, detail: str = "") -> Reply:
    return Reply(status, msgspec.json.encode({"status": status, "code": code, "detail": detail}))


def engine_transport(backend: Backend, principal: Principal, revoked: set[uuid.UUID] | None = None) -> Transport:
    revoked = revoked if revoked is not None else set()

    async def send(path: str, body: bytes) -> Reply:
        if principal.client_id in revoked:
            return problem(401, "device_revoked", "This device has been revoked")
        try:
            async with backend.tx() as store:
                if path == PUSH_PATH:
                    response: object = await engine.push(store, principal, msgspec.json.decode(body, type=PushRequest))
                elif path == PULL_PATH:
                    response = await engine.pull(store, principal, msgspec.json.decode(body, type=PullRequest))
                else:
                    return problem(404, "not_found")
        except engine.SyncError as e:
            return problem(e.status, e.code, e.detail)
        except msgspec.ValidationError as e:
            return problem(400, "malformed", str(e))
        return Reply(200, msgspec.json.encode(response))

    return send


class Crash(Exception):
    """The phone's process dies here; the test reopens the client from its SQLite file."""


@dataclass
class Network:
    """Faults on the way, consumed one per request: ``"drop_request"`` (never arrives),
    ``"drop_response"`` (arrives, answer lost), ``"duplicate"`` (arrives twice), ``"crash_before_send"``,
    ``"crash_after_commit"`` (arrives, the phone dies before the answer). Requests that arrived
    are recorded in ``delivered`` so a test can replay old ones later (reordering)."""

    inner: Transport
    faults: list[str] = field(default_factory=list)
    delivered: list[tuple[str, bytes]] = field(default_factory=list)

    async def __call__(self, path: str, body: bytes) -> Reply:
        fault = self.faults.pop(0) if self.faults else None
        if fault == "crash_before_send":
            raise Crash(fault)
        if fault == "drop_request":
            raise TransportError(fault)
        reply = await self.inner(path, body)
        self.delivered.append((path, body))
        if fault == "duplicate":
            reply = await self.inner(path, body)
        if fault == "drop_response":
            raise TransportError(fault)
        if fault == "crash_after_commit":
            raise Crash(fault)
        return reply
