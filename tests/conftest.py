"""Test fixtures: one PostgreSQL per test session, schema built by the migrations.

Each test runs inside an outer transaction that is rolled back; the app's commits become
savepoints. Tests that need real commits from several connections take ``fresh_database``,
a database of their own copied from the migrated template.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from server import demo, migrate
from server.app import create_app
from server.db import EmbeddedPostgres, SessionFactory, asyncpg_url, create_engine, create_session_factory
from server.settings import Settings

PASSWORD = "correct horse battery staple"
_TEMPLATE = f"doorstep_template_{os.getpid()}"
_MAIN = f"doorstep_test_{os.getpid()}"
_counter = itertools.count()


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
    folder = Path(tempfile.mkdtemp(prefix="doorstep-test-"))
    server = EmbeddedPostgres(folder / "pgdata", delete_on_stop=True)
    try:
        yield server.url()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


async def _admin(server_url: str, sql: str) -> None:
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=None)
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
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
    await _admin(server_url, f'CREATE DATABASE "{_MAIN}" TEMPLATE "{_TEMPLATE}"')
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
    await _admin(server_url, f'CREATE DATABASE "{name}" TEMPLATE "{_TEMPLATE}"')
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


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def app(settings: Settings, session_factory: SessionFactory) -> Litestar:
    return create_app(settings, session_factory=session_factory)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client calling the app in this event loop (the app shares the test's connection)."""
    async with client_for(app) as c:
        yield c


def client_for(app: Litestar) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=cast(Any, app)), base_url="http://testserver")
