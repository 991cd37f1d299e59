"""The reference device client: what a phone app implements, in stdlib + msgspec.

- ``enqueue`` writes a mutation to a durable SQLite queue before returning; ids count up from 1.
- ``push`` sends the pending mutations, oldest first, in batches, and saves each answer in one
  SQLite transaction. A crash anywhere only means the same mutations are sent again: the server
  answers ``already_processed`` with the original outcome.
- ``pull`` fetches pages until ``has_more`` is false, saving each page's changes together with
  its cursor. ``reset: true`` forgets the records (never the queue) and refetches.
- Network failures, 429 and 5xx are retried with exponential backoff. ``device_revoked`` wipes
  every local table and raises ``DeviceRevoked``.

The transport is an injectable async callable ``(path, body) -> Reply``: tests wire it straight
to the engine; ``http_transport`` speaks to a real server (the HTTP tests and the device state
machine over HTTP use it).
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec

from schemas.sync import SCHEMA_VERSION, MutationResult, PullRequest, PullResponse, PushResponse, Put

PUSH_PATH = "/sync/push"
PULL_PATH = "/sync/pull"


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes


Transport = Callable[[str, bytes], Awaitable[Reply]]
Sleep = Callable[[float], Awaitable[None]]


class TransportError(Exception):
    """No answer came back (offline, timeout, connection reset): the request may or may not have
    reached the server."""


class SyncFailed(Exception):
    """The server refused the request (``code`` from its problem document), or retries ran out."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code


class DeviceRevoked(SyncFailed):
    """The device was revoked; its local data is already wiped."""


class _Problem(msgspec.Struct):
    code: str = "unknown"
    detail: str = ""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, args BLOB NOT NULL, base_version INTEGER, result BLOB
);
CREATE TABLE IF NOT EXISTS record (
    type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (type, id)
);
"""


class SyncClient:
    def __init__(
        self,
        path: str | Path,
        client_id: uuid.UUID,
        transport: Transport,
        *,
        sleep: Sleep = asyncio.sleep,
        retries: int = 6,
        backoff: float = 0.5,
        max_backoff: float = 60.0,
        batch_size: int = 50,
        pull_limit: int | None = None,
    ) -> None:
        self.client_id = client_id
        self._transport, self._sleep = transport, sleep
        self._retries, self._backoff, self._max_backoff = retries, backoff, max_backoff
        self._batch_size, self._pull_limit = batch_size, pull_limit
        self._db = sqlite3.connect(path)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    # --- local state ------------------------------------------------------------------------------

    def enqueue(self, name: str, args: Any, base_version: int | None = None) -> int:
        """Queue a mutation durably; returns its id."""
        with self._db:
            (last,) = self._db.execute("SELECT coalesce(max(id), 0) FROM queue").fetchone()
            self._db.execute(
                "INSERT INTO queue (id, name, args, base_version) VALUES (?, ?, ?, ?)",
                (last + 1, name, msgspec.json.encode(args), base_version),
            )
        return int(last) + 1

    def pending(self) -> list[int]:
        return [row[0] for row in self._db.execute("SELECT id FROM queue WHERE result IS NULL ORDER BY id")]

    def result(self, mutation_id: int) -> MutationResult | None:
        row = self._db.execute("SELECT result FROM queue WHERE id = ?", (mutation_id,)).fetchone()
        return msgspec.json.decode(row[0], type=MutationResult) if row and row[0] else None

    def records(self) -> dict[tuple[str, uuid.UUID], tuple[int, dict[str, Any]]]:
        rows = self._db.execute("SELECT type, id, version, data FROM record")
        return {(t, uuid.UUID(i)): (v, msgspec.json.decode(d)) for t, i, v, d in rows}

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def wipe(self) -> None:
        """Forget everything: records, queue, cursor. A wiped device logs in again with a new id."""
        with self._db:
            for table in ("meta", "queue", "record"):
                self._db.execute(f"DELETE FROM {table}")

    # --- sync -------------------------------------------------------------------------------------

    async def sync(self) -> None:
        await self.push()
        await self.pull()

    async def push(self) -> None:
        """Send every pending mutation; returns when the queue is empty."""
        while rows := self._db.execute(
            "SELECT id, name, args, base_version FROM queue WHERE result IS NULL ORDER BY id LIMIT ?",
            (self._batch_size,),
        ).fetchall():
            mutations = [
                {"id": i, "name": n, "args": msgspec.Raw(a)} | ({"base_version": b} if b is not None else {})
                for i, n, a, b in rows
            ]
            body = {"client_id": self.client_id, "schema_version": SCHEMA_VERSION, "mutations": mutations}
            response = msgspec.json.decode(await self._call(PUSH_PATH, body), type=PushResponse)
            self._save_push(response)
            if response.gap is not None:
                raise SyncFailed("gap", f"the server expects {response.gap.expected}; this queue starts later")

    def _save_push(self, response: PushResponse) -> None:
        with self._db:
            for result in response.results:
                self._db.execute(
                    "UPDATE queue SET result = ? WHERE id = ? AND result IS NULL",
                    (msgspec.json.encode(result), result.id),
                )

    async def pull(self) -> None:
        """Fetch pages until the device holds the server's current records for its scope."""
        while True:
            request = PullRequest(self.client_id, SCHEMA_VERSION, self.meta("cursor"), self._pull_limit)
            page = msgspec.json.decode(await self._call(PULL_PATH, request), type=PullResponse)
            self._save_pull(page)
            if not page.has_more:
                return

    def _save_pull(self, page: PullResponse) -> None:
        with self._db:
            if page.reset:
                self._db.execute("DELETE FROM record")
            for change in page.changes:
                if isinstance(change, Put):
                    self._db.execute(
                        "INSERT OR REPLACE INTO record (type, id, version, data) VALUES (?, ?, ?, ?)",
                        (change.type, str(change.id), change.version, msgspec.json.encode(change.data)),
                    )
                else:
                    self._db.execute("DELETE FROM record WHERE type = ? AND id = ?", (change.type, str(change.id)))
            self._set_meta("cursor", page.cursor)
            self._set_meta("server_last_mutation_id", str(page.last_mutation_id))

    async def _call(self, path: str, body: Any) -> bytes:
        payload = msgspec.json.encode(body)
        for attempt in range(self._retries + 1):
            if attempt:
                await self._sleep(min(self._max_backoff, self._backoff * 2 ** (attempt - 1)))
            try:
                reply = await self._transport(path, payload)
            except TransportError:
                continue
            if reply.status == 200:
                return reply.body
            problem = _problem(reply.body)
            if reply.status == 401 and problem.code == "device_revoked":
                self.wipe()
                raise DeviceRevoked(problem.code, problem.detail)
            if reply.status != 429 and reply.status < 500:
                raise SyncFailed(problem.code, problem.detail)
        raise SyncFailed("unavailable", f"no answer after {self._retries + 1} tries")


def _problem(body: bytes) -> _Problem:
    try:
        return msgspec.json.decode(body, type=_Problem)
    except msgspec.DecodeError:
        return _Problem()


def http_transport(
    base_url: str, access_token: Callable[[], str], *, client: httpx.AsyncClient | None = None
) -> Transport:
    """A transport to a Doorstep server: ``POST base_url + path`` with the device's bearer token.

    ``access_token`` is called for every request, so the app can refresh tokens behind it. A
    request that gets no answer (connection refused, reset, timeout) raises ``TransportError``.
    """
    http = client or httpx.AsyncClient(timeout=30.0)

    async def send(path: str, body: bytes) -> Reply:
        headers = {"Authorization": f"Bearer {access_token()}", "Content-Type": "application/json"}
        try:
            response = await http.post(base_url.rstrip("/") + path, content=body, headers=headers)
        except httpx.TransportError as exc:
            raise TransportError(str(exc)) from exc
        return Reply(response.status_code, response.content)

    return send
