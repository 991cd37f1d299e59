"""The database failing under a request: a connection killed mid-push and mid-pull
(``pg_terminate_backend``), connections that cannot be opened or hang, a statement past its
timeout, an exhausted pool, and (against a server this test may restart) a PostgreSQL restart.

Each answers 503 with ``Retry-After`` and code ``unavailable``, quickly; the phone's retry then
succeeds with nothing lost or applied twice, and the pool recovers by itself. A bug is still 500,
whatever built-in error it raises (a missing file is not an outage)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from server import db as dbmod
from server.app import create_app
from server.cases.models import ContactAttempt
from server.settings import Settings, SettingsError
from server.sync.models import SyncMutation
from server.sync.pg_store import PgStore
from sync import engine as sync_engine
from tests.conftest import app_for, client_for, make_settings
from tests.helpers import bearer
from tests.server_sync.conftest import Field

SLEEPING = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
    "AND state = 'active' AND query LIKE 'SELECT pg_sleep%'"
)
KILL_OTHERS = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


def _attempt(mid: int, case_id: uuid.UUID) -> dict[str, Any]:
    args = {"id": str(uuid.uuid5(case_id, str(mid))), "case_id": str(case_id), "method": "home_visit"}
    return {
        "id": mid,
        "name": "contact_attempt.create",
        "args": args | {"outcome": "family_met", "at": "2026-01-05T16:30:00Z"},
    }


def _push_body(f: Field, *mids: int) -> dict[str, Any]:
    return {"client_id": str(f.phone), "schema_version": 1, "mutations": [_attempt(m, f.case_id) for m in mids]}


def _pull_body(f: Field) -> dict[str, Any]:
    return {"client_id": str(f.phone), "schema_version": 1}


@pytest.fixture
async def admin(fresh_database: str) -> AsyncIterator[AsyncEngine]:
    """A connection of the test's own to the app's database, to kill the app's from."""
    engine = dbmod.create_engine(fresh_database, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    yield engine
    await engine.dispose()


async def _kill_others(admin: AsyncEngine) -> int:
    async with admin.connect() as conn:
        return len((await conn.execute(text(KILL_OTHERS))).all())


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "unavailable"
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["Retry-After"]) > 0


async def _stored(f: Field) -> tuple[int, int]:
    """(contact attempts, stored mutation results) on the server."""
    async with f.factory() as s:
        attempts = await s.scalar(select(func.count()).select_from(ContactAttempt))
        mutations = await s.scalar(select(func.count()).select_from(SyncMutation))
    return attempts or 0, mutations or 0


Hook = Callable[..., Awaitable[Any]]


def _kill_around(
    monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, admin: AsyncEngine, *, before: bool
) -> list[int]:
    """Wrap ``owner.name`` so that, the first time it is called, every other connection to the
    database is terminated just before (or just after) it runs. Returns the kill counts."""
    original: Hook = getattr(owner, name)
    killed: list[int] = []

    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        if before and not killed:
            killed.append(await _kill_others(admin))
        result = await original(*args, **kwargs)
        if not before and not killed:
            killed.append(await _kill_others(admin))
        return result

    monkeypatch.setattr(owner, name, wrapped)
    return killed


PUSH_KILLS = {
    # Between locking the client's row and reading the batch's records: the read goes through
    # asyncpg itself (PgStore._fetch), which answered 500 with InternalClientError before.
    "between-lock-and-load": (PgStore, "lock_client", False),
    "between-load-and-write": (PgStore, "load", False),
    "before-commit": (sync_engine, "push", False),
    "before-the-push": (PgStore, "lock_client", True),
}


@pytest.mark.parametrize("where", list(PUSH_KILLS))
async def test_a_connection_killed_mid_push_is_503_and_the_retry_applies_once(
    field: Field, admin: AsyncEngine, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    owner, name, before = PUSH_KILLS[where]
    assert (
        await field.client.post("/sync/push", json=_push_body(field, 1), headers=bearer(field.tokens))
    ).status_code == 200
    killed = _kill_around(monkeypatch, owner, name, admin, before=before)

    cut = await field.client.post("/sync/push", json=_push_body(field, 2, 3), headers=bearer(field.tokens))
    assert killed and killed[0] >= 1  # the app's connection was among those killed
    _assert_unavailable(cut)
    assert await _stored(field) == (1, 1)  # nothing of the cut push was kept

    retry = await field.client.post("/sync/push", json=_push_body(field, 2, 3), headers=bearer(field.tokens))
    assert retry.status_code == 200, retry.text  # the pool replaced the dead connection itself
    assert [r["status"] for r in retry.json()["results"]] == ["applied", "applied"]
    again = await field.client.post("/sync/push", json=_push_body(field, 2, 3), headers=bearer(field.tokens))
    assert [r["status"] for r in again.json()["results"]] == ["already_processed", "already_processed"]
    assert again.json()["last_mutation_id"] == 3
    assert await _stored(field) == (3, 3)


async def test_a_connection_killed_while_its_statement_runs_is_503(
    field: Field, admin: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kill lands in the middle of a statement of the push (the server answers it with
    57P01, ``terminating connection due to administrator command``)."""
    original = PgStore.load

    async def slow_load(self: PgStore, *args: Any) -> Any:
        async def killer() -> None:
            async with admin.connect() as conn:
                for _ in range(500):  # until the push's statement runs (at most 5 s)
                    if (await conn.execute(text(SLEEPING))).first():
                        break
                    await asyncio.sleep(0.01)
                await conn.execute(text(KILL_OTHERS))

        kill = asyncio.create_task(killer())
        try:
            await self.session.execute(text("SELECT pg_sleep(10)"))
        finally:
            await kill
        return await original(self, *args)

    monkeypatch.setattr(PgStore, "load", slow_load)
    started = time.monotonic()
    cut = await field.client.post("/sync/push", json=_push_body(field, 1), headers=bearer(field.tokens))
    assert time.monotonic() - started < 5
    _assert_unavailable(cut)
    monkeypatch.undo()
    retry = await field.client.post("/sync/push", json=_push_body(field, 1), headers=bearer(field.tokens))
    assert [r["status"] for r in retry.json()["results"]] == ["applied"]
    assert await _stored(field) == (1, 1)


@pytest.mark.parametrize("before", [True, False], ids=["before-the-page", "before-commit"])
async def test_a_connection_killed_mid_pull_is_503_and_the_retry_pulls_everything(
    field: Field, admin: AsyncEngine, monkeypatch: pytest.MonkeyPatch, before: bool
) -> None:
    assert (
        await field.client.post("/sync/push", json=_push_body(field, 1, 2), headers=bearer(field.tokens))
    ).status_code == 200
    killed = _kill_around(monkeypatch, PgStore, "changes", admin, before=before)
    cut = await field.client.post("/sync/pull", json=_pull_body(field), headers=bearer(field.tokens))
    assert killed and killed[0] >= 1
    _assert_unavailable(cut)

    retry = await field.client.post("/sync/pull", json=_pull_body(field), headers=bearer(field.tokens))
    assert retry.status_code == 200, retry.text
    body = retry.json()
    assert body["last_mutation_id"] == 2 and body["has_more"] is False
    kinds = sorted(c["type"] for c in body["changes"])
    assert kinds == ["case", "contact_attempt", "contact_attempt", "household", "student"]


def test_what_is_an_outage_and_what_is_a_bug() -> None:
    """The one classification (``server.db.unavailable``) the app answers by."""
    invalidated = sa_exc.DBAPIError("SELECT 1", None, Exception("gone"), connection_invalidated=True)
    unique = sa_exc.IntegrityError("INSERT", None, asyncpg.UniqueViolationError("duplicate key"))
    wrapped_kill = sa_exc.DBAPIError("SELECT 1", None, asyncpg.AdminShutdownError("terminating connection"))
    outages: list[BaseException] = [
        asyncpg.InternalClientError("cannot switch to state 11; another operation (2) is in progress"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.ConnectionFailureError("connection failure"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.InterfaceError("cannot call Transaction.rollback(): the underlying connection is closed"),
        asyncpg.InterfaceError("connection is closed"),
        invalidated,
        wrapped_kill,
        sa_exc.TimeoutError("QueuePool limit of size 1 overflow 0 reached"),
        dbmod.DatabaseUnavailable("Cannot connect to PostgreSQL"),
        ExceptionGroup("cleanup", [asyncpg.InterfaceError("connection is closed")]),
    ]
    bugs: list[BaseException] = [
        FileNotFoundError(2, "No such file or directory", "templates/letter.typ"),
        ConnectionRefusedError(111, "Connect call failed (not the database)"),
        TimeoutError(),
        PermissionError(13, "Permission denied"),
        KeyError("case_id"),
        unique,
        asyncpg.InterfaceError("cannot call Connection.fetch(): connection has been released back to the pool"),
        asyncpg.exceptions.OutdatedSchemaCacheError("cached statement plan is invalid"),
        sa_exc.DBAPIError("SELECT 1", None, asyncpg.DivisionByZeroError("division by zero")),
    ]
    assert [e for e in outages if not dbmod.unavailable(e)] == []
    assert [e for e in bugs if dbmod.unavailable(e)] == []
    caused = RuntimeError("while pushing")
    caused.__cause__ = asyncpg.AdminShutdownError("terminating connection due to administrator command")
    assert dbmod.unavailable(caused)
    masked = KeyError("a bug raised while handling an outage")
    masked.__context__ = asyncpg.AdminShutdownError("terminating connection")
    assert not dbmod.unavailable(masked)


@pytest.mark.parametrize(
    "error",
    [
        FileNotFoundError(2, "No such file or directory", "/srv/doorstep/letters/kind.typ"),
        ConnectionRefusedError(111, "Connect call failed ('10.0.0.9', 25)"),
        PermissionError(13, "Permission denied", "/srv/doorstep/letters"),
    ],
    ids=["missing-file", "refused-by-not-the-database", "permission"],
)
async def test_a_bug_raising_an_os_error_is_500_not_an_outage(
    field: Field, monkeypatch: pytest.MonkeyPatch, error: OSError
) -> None:
    """It answered 503 ``database_unavailable`` before: every OSError was taken for the database."""

    async def broken(*args: Any) -> Any:
        raise error

    monkeypatch.setattr(sync_engine, "pull", broken)
    response = await field.client.post("/sync/pull", json=_pull_body(field), headers=bearer(field.tokens))
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert "Retry-After" not in response.headers


async def test_a_database_that_refuses_or_hangs_is_a_quick_503(field: Field) -> None:
    """Connections refused (no server on the port), and a server that accepts and never speaks
    (the connect timeout bounds the wait), each answered 503 with Retry-After."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers; returns when the client gives up
        writer.close()
        await writer.wait_closed()

    hang = await asyncio.start_server(silent, "127.0.0.1", 0)
    hang_port = hang.sockets[0].getsockname()[1]
    refuse = await asyncio.start_server(silent, "127.0.0.1", 0)
    refused_port = refuse.sockets[0].getsockname()[1]
    refuse.close()
    await refuse.wait_closed()
    try:
        for port in (refused_port, hang_port):
            dead = dbmod.create_engine(f"postgresql+asyncpg://nobody:x@127.0.0.1:{port}/none", connect_timeout=0.3)
            try:
                app = app_for(make_settings(), dbmod.create_session_factory(dead))
                async with client_for(app) as client:
                    started = time.monotonic()
                    response = await client.post("/sync/pull", json=_pull_body(field), headers=bearer(field.tokens))
                    took = time.monotonic() - started
            finally:
                await dead.dispose()
            _assert_unavailable(response)
            assert took < 2, took
    finally:
        hang.close()
        await hang.wait_closed()


async def test_a_statement_past_the_command_timeout_is_503_and_its_connection_dropped(
    field: Field, fresh_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = dbmod.create_engine(fresh_database, command_timeout=0.3)
    original = sync_engine.pull
    slow = [True]

    async def slow_pull(store: PgStore, *args: Any) -> Any:
        if slow:
            slow.clear()
            await store.session.execute(text("SELECT pg_sleep(10)"))
        return await original(store, *args)

    monkeypatch.setattr(sync_engine, "pull", slow_pull)
    try:
        async with client_for(app_for(make_settings(), dbmod.create_session_factory(engine))) as client:
            started = time.monotonic()
            response = await client.post("/sync/pull", json=_pull_body(field), headers=bearer(field.tokens))
            assert time.monotonic() - started < 2
            _assert_unavailable(response)
            after = await client.post("/sync/pull", json=_pull_body(field), headers=bearer(field.tokens))
            assert after.status_code == 200, after.text
    finally:
        await engine.dispose()


async def test_an_exhausted_pool_is_a_bounded_wait_then_503_never_a_wrong_answer(
    field: Field, fresh_database: str
) -> None:
    """The app as ``serve`` builds it (its lifespan makes the engine from the settings), its pool
    held whole by slow clients: a request waits DOORSTEP_DB_POOL_TIMEOUT_SECONDS, then 503."""
    settings = make_settings(database_url=fresh_database, db_pool_timeout_seconds=0.5)
    app = create_app(settings)
    held: list[Any] = []
    async with app.lifespan(), client_for(app) as client:
        engine: AsyncEngine = app.state.session_factory.kw["bind"]
        started = time.monotonic()
        with pytest.raises(sa_exc.TimeoutError):
            while True:  # take every connection the pool has, until the next waits out its timeout
                held.append(await engine.connect())
                started = time.monotonic()
        assert 0.4 < time.monotonic() - started < 2

        started = time.monotonic()
        push = await client.post("/sync/push", json=_push_body(field, 1), headers=bearer(field.tokens))
        pull = await client.post("/sync/pull", json=_pull_body(field), headers=bearer(field.tokens))
        assert time.monotonic() - started < 3
        _assert_unavailable(push)
        _assert_unavailable(pull)
        assert await _stored(field) == (0, 0)

        for conn in held:
            await conn.close()
        retry = await client.post("/sync/push", json=_push_body(field, 1), headers=bearer(field.tokens))
        assert [r["status"] for r in retry.json()["results"]] == ["applied"]
    assert await _stored(field) == (1, 1)


RESTARTABLE = os.environ.get("DOORSTEP_RESTARTABLE_PG")


@pytest.mark.skipif(
    not (RESTARTABLE and os.environ.get("DATABASE_URL")),
    reason="restarts a PostgreSQL cluster: set DATABASE_URL to it and DOORSTEP_RESTARTABLE_PG=<version>/<cluster>",
)
async def test_a_postgresql_restart_during_pushes_and_pulls_is_503_then_recovers(field: Field) -> None:
    """Against an external server this test may restart (Debian's: ``DOORSTEP_RESTARTABLE_PG=15/main``,
    ``DATABASE_URL=postgresql://doorstep:…@127.0.0.1:5432/postgres``): a phone pushes and pulls
    without pause while ``pg_ctlcluster restart`` runs. Every answer is 200 or a quick 503 with
    Retry-After; the same app (its pool) serves again once the server is back; every mutation is
    applied exactly once."""
    assert RESTARTABLE is not None
    version, cluster = RESTARTABLE.split("/")
    answers: list[tuple[str, int, float]] = []
    warmed, restarted = asyncio.Event(), asyncio.Event()
    total = 0

    async def phone() -> None:
        nonlocal total
        mid = 0
        while not restarted.is_set() or sum(1 for a in answers[-6:] if a[1] == 200) < 6:
            mid += 1
            for path, body in (("/sync/push", _push_body(field, mid)), ("/sync/pull", _pull_body(field))):
                while True:  # the phone retries until it is answered
                    started = time.monotonic()
                    response = await field.client.post(path, json=body, headers=bearer(field.tokens))
                    answers.append((path, response.status_code, time.monotonic() - started))
                    if response.status_code == 200:
                        if len(answers) >= 6:
                            warmed.set()
                        break
                    _assert_unavailable(response)
                    await asyncio.sleep(0.05)
        total = mid

    async def restart() -> None:
        await warmed.wait()
        await asyncio.to_thread(
            subprocess.run, ["pg_ctlcluster", version, cluster, "restart", "-m", "fast"], check=True, timeout=60
        )
        restarted.set()

    await asyncio.wait_for(asyncio.gather(phone(), restart()), timeout=60)
    statuses = [status for _, status, _ in answers]
    failed = [took for _, status, took in answers if status != 200]
    print(
        f"\nrestart: {len(answers)} requests, {statuses.count(200)} answered 200, {len(failed)} 503 "
        f"(slowest 503 {max(failed, default=0):.3f} s), slowest answer {max(t for *_, t in answers):.3f} s"
    )
    assert set(statuses) <= {200, 503}
    assert failed, "the restart was not felt: no request met it"
    assert max(failed) < dbmod.CONNECT_TIMEOUT_SECONDS + 1
    assert await _stored(field) == (total, total)


def test_the_database_bounds_are_read_from_the_environment() -> None:
    env = {
        "DOORSTEP_DB_POOL_TIMEOUT_SECONDS": "0.5",
        "DOORSTEP_DB_CONNECT_TIMEOUT_SECONDS": "2",
        "DOORSTEP_DB_COMMAND_TIMEOUT_SECONDS": "30",
    }
    settings = Settings.from_env(env)
    assert (
        settings.db_pool_timeout_seconds,
        settings.db_connect_timeout_seconds,
        settings.db_command_timeout_seconds,
    ) == (0.5, 2.0, 30.0)
    assert Settings.from_env({}).db_pool_timeout_seconds == 5.0
    for bad in ("0", "-1", "nan", "inf", "soon"):
        with pytest.raises(SettingsError, match="DOORSTEP_DB_POOL_TIMEOUT_SECONDS"):
            Settings.from_env({"DOORSTEP_DB_POOL_TIMEOUT_SECONDS": bad})
