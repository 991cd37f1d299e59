"""Test fixtures: one PostgreSQL per test session, schema built by the migrations.

Each test runs inside an outer transaction that is rolled back; the app's commits become
savepoints. Tests that need real commits from several connections take ``fresh_database``,
a database of their own copied from the migrated template.

Under pytest-xdist (``scripts/test`` runs ``-n 2``) each worker starts its own embedded
PostgreSQL: the sync store reads changes up to ``pg_snapshot_xmin``, which is the whole cluster's,
so one worker's open test transaction would hide another worker's commits from its pulls. Every
database name carries the process id, so workers never meet even on one ``DATABASE_URL`` server
(but there the pulls can meet: run without ``-n`` against a shared server).

What makes the suite affordable: argon2 at its cheapest (``cheap_argon2``), one app per distinct
Settings in a process (``app_for``), a test cluster that does not fsync and copies templates by
FILE_COPY (``server_url``, ``create_database``), the heap frozen after collection, and the
tests sharing an expensive fixture kept on one worker (``pytest_xdist_make_scheduler``).
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from argon2 import PasswordHasher
from litestar import Litestar
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from server import demo, migrate
from server import logging as logmod
from server.app import create_app
from server.auth import passwords
from server.blobs import Blobs
from server.db import EmbeddedPostgres, SessionFactory, asyncpg_url, create_engine, create_session_factory
from server.settings import Settings

PASSWORD = "correct horse battery staple"
_TEMPLATE = f"doorstep_template_{os.getpid()}"
_MAIN = f"doorstep_test_{os.getpid()}"
_counter = itertools.count()
_FAST = ("fsync = off", "synchronous_commit = off", "full_page_writes = off", "autovacuum = off")
"""A throwaway cluster need not survive a power cut: no fsync, commits return before the WAL is
flushed (CREATE DATABASE and every commit were waiting on the disk), and no autovacuum visiting
the hundreds of short-lived databases."""
_copy_strategy = ""
"""How CREATE DATABASE copies a template (``create_database``): on the embedded cluster
``STRATEGY FILE_COPY``, half the default WAL_LOG's time now that its checkpoints do not fsync;
on a DATABASE_URL server, the server's default."""
_ONE_WORKER = ("tests/browser/", "tests/test_demo_", "tests/test_serve.py", "tests/test_two_nodes.py")
"""Tests sharing a fixture that takes seconds to build (Chromium and the browser district, the
whole demo district, test_serve's prepared data folder, test_two_nodes's two serves and their
bucket): under xdist, the tests under each of
these paths run on one worker, which builds it once (``pytest_xdist_make_scheduler``)."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: takes tens of seconds alone; run first, so the workers do not wait on it at the end"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked ``slow`` first, each group in its collected order. Under xdist the
    scheduler hands out the groups of ``_ONE_WORKER`` first, then single tests in this order: a
    long test handed out last kept one worker busy a quarter of a minute after the other ended."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Move what collection left alive (modules, the app's and SQLAlchemy's imports, the test
    items) out of the garbage collector's sight, as server.app.settle_heap does for the server:
    every full collection walked them all, a twentieth of the suite's time."""
    gc.collect()
    gc.freeze()


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under ``-n`` (``--dist load``): hand out tests one at a time, the biggest units first, where
    a unit is one test, or every test under one of ``_ONE_WORKER``'s paths. (xdist's own
    ``--dist loadgroup`` reads ``xdist_group`` marks through a node id that pytest 9 no longer
    lets it change, so it groups nothing.)"""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class OneWorkerPerSlowFixture(LoadScopeScheduling):  # type: ignore[misc]  # xdist has no type hints
        def _split_scope(self, nodeid: str) -> str:
            return next((path for path in _ONE_WORKER if nodeid.startswith(path)), nodeid)

    return OneWorkerPerSlowFixture(config, log)


def with_database(url: str, name: str) -> str:
    return make_url(asyncpg_url(url)).set(database=name).render_as_string(hide_password=False)


def make_settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "jwt_secret": "test-secret-" + "x" * 40,
        "data_dir": Path(tempfile.gettempdir()) / "doorstep-test-data",
        "log_json": True,
        "log_level": "WARNING",
        "login_rate_per_minute": 1000,
    }
    base.update(overrides)
    return Settings(**base)


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """The PostgreSQL server: DATABASE_URL if set, else an embedded one in a temporary folder."""
    if url := os.environ.get("DATABASE_URL"):
        yield asyncpg_url(url)
        return
    global _copy_strategy
    folder = Path(tempfile.mkdtemp(prefix="doorstep-test-", dir=_ram_disk()))
    server = EmbeddedPostgres(folder / "pgdata", delete_on_stop=True)
    try:
        url = server.url()
        asyncio.run(_admin(url, *(f"ALTER SYSTEM SET {setting}" for setting in _FAST), "SELECT pg_reload_conf()"))
        _copy_strategy = " STRATEGY FILE_COPY"
        yield url
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _ram_disk() -> str | None:
    """/dev/shm when it is a RAM disk with room to spare (not Docker's 64 MB default), for the test
    cluster: copying a template there takes a fifth of the time it takes on a virtual disk."""
    try:
        shm = os.statvfs("/dev/shm")
    except OSError:
        return None
    if shm.f_bavail * shm.f_frsize < 1024**3 or not os.access("/dev/shm", os.W_OK):
        return None
    return "/dev/shm"


def create_database(name: str, template: str) -> str:
    """The statement making database ``name`` a copy of ``template``."""
    return f'CREATE DATABASE "{name}" TEMPLATE "{template}"{_copy_strategy}'


async def _admin(server_url: str, *sql: str) -> None:
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=None)
    try:
        async with engine.connect() as conn:
            for statement in sql:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
async def template_url(server_url: str) -> AsyncIterator[str]:
    """A database migrated once; other databases are copied from it."""
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{_TEMPLATE}"')
    await _admin(server_url, f'CREATE DATABASE "{_TEMPLATE}"')
    url = with_database(server_url, _TEMPLATE)
    await migrate.run(url)
    yield url
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{_TEMPLATE}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def engine(server_url: str, template_url: str) -> AsyncIterator[AsyncEngine]:
    """The shared test database: the template plus the demo users (not the district), committed once."""
    await _admin(server_url, create_database(_MAIN, _TEMPLATE))
    eng = create_engine(with_database(server_url, _MAIN))
    async with create_session_factory(eng)() as session:
        await demo.load(session, PASSWORD, district=False)
        await session.commit()
    yield eng
    await eng.dispose()
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{_MAIN}" WITH (FORCE)')


@dataclass(frozen=True)
class DemoDistrict:
    engine: AsyncEngine
    result: demo.DemoResult


DEMO_TODAY = date(2026, 12, 1)


@pytest.fixture(scope="session")
async def demo_district(server_url: str, template_url: str) -> AsyncIterator[DemoDistrict]:
    """The whole demo district as ``doorstep demo load --today 2026-12-01`` leaves it (without
    photos), in a database of its own, loaded once a session: a load takes seconds. Read it
    through ``demo_db``."""
    async with own_database(server_url) as url:
        eng = create_engine(url)
        try:
            async with create_session_factory(eng)() as session:
                result = await demo.load(session, PASSWORD, today=DEMO_TODAY)
                await session.commit()
            yield DemoDistrict(eng, result)
        finally:
            await eng.dispose()


@pytest.fixture
async def demo_db(demo_district: DemoDistrict) -> AsyncIterator[AsyncSession]:
    """A session on the loaded demo district whose writes are rolled back after the test."""
    async with demo_district.engine.connect() as conn:
        trans = await conn.begin()
        try:
            async with create_session_factory(conn, join_transaction_mode="create_savepoint")() as session:
                yield session
        finally:
            await trans.rollback()


@asynccontextmanager
async def own_database(server_url: str) -> AsyncIterator[str]:
    """A migrated database copied from the template, dropped on exit."""
    name = f"doorstep_t{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    await _admin(server_url, create_database(name, _TEMPLATE))
    try:
        yield with_database(server_url, name)
    finally:
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def fresh_database(server_url: str, template_url: str) -> AsyncIterator[str]:
    """A migrated database of this test's own, for tests that need real commits."""
    async with own_database(server_url) as url:
        yield url


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        trans = await conn.begin()
        try:
            yield conn
        finally:
            await trans.rollback()


@pytest.fixture
def session_factory(connection: AsyncConnection) -> SessionFactory:
    return create_session_factory(connection, join_transaction_mode="create_savepoint")


@pytest.fixture
async def db(session_factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    async with session_factory() as session:
        yield session


@pytest.fixture(scope="session", autouse=True)
def cheap_argon2() -> Iterator[None]:
    """argon2 at its cheapest for the whole session, as tests/test_api_fuzz.py had it: at the
    production cost each hash or verification took a quarter of a second of CPU, and the suite
    logs in thousands of times. The code around the hasher (a pool thread, the dummy hash for an
    unknown user, rehashing) runs as in production; ``doorstep`` run as a subprocess keeps the
    real cost."""
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher", cheap)
        patch.setattr(passwords, "_DUMMY_HASH", cheap.hash("doorstep-timing-equaliser"))
        yield


@pytest.fixture
def settings() -> Settings:
    return make_settings()


_apps: dict[Settings, Litestar] = {}
_ANY_FOLDER = Path("/doorstep-test-data-folder-of-each-test")


def app_for(settings: Settings, session_factory: SessionFactory) -> Litestar:
    """``create_app(settings, session_factory=session_factory)``, built once per distinct
    ``settings`` in this process, their ``data_dir`` aside: building one (its routes and OpenAPI
    document) takes most of a second, and the suite asked for 150. A later test gets the same app
    with what create_app gives each app of its own: ``app.state.settings``, the session factory
    and the blobs of its own (the data folder holds only the blobs when the app is given its
    sessions; what create_app wired with the settings, such as the console's, keeps the first
    test's ``data_dir``, which nothing there reads), and the logging configured again. The app
    keeps nothing else between requests. A test that changes the app itself (registers a route)
    builds its own with create_app."""
    key = replace(settings, data_dir=_ANY_FOLDER)
    app = _apps.get(key)
    if app is None:
        app = _apps[key] = create_app(settings, session_factory=session_factory)
        return app
    logmod.configure(settings.log_level, settings.log_json)
    app.state.settings = settings.with_secret()
    app.state.blobs = Blobs.from_settings(settings)
    app.state.session_factory = session_factory
    return app


@pytest.fixture
def app(settings: Settings, session_factory: SessionFactory) -> Litestar:
    return app_for(settings, session_factory)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client calling the app in this event loop (the app shares the test's connection)."""
    async with client_for(app) as c:
        yield c


def client_for(app: Litestar) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=cast(Any, app)), base_url="http://testserver")
