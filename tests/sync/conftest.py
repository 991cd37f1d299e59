"""Fixtures for the sync core. ``backend`` is parametrised over the stores: add a backend here
(a ``Backend`` whose ``tx`` yields a store in a transaction that commits on exit) and every test
that takes it, the store suite included, runs against it too."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from server.db import create_engine, create_session_factory
from sync.memory import MemoryStore
from tests.conftest import own_database
from tests.sync.pg_backend import pg_backend
from tests.sync.world import Backend, World, memory_backend


@pytest.fixture(params=["memory", "postgres"])
async def backend(request: pytest.FixtureRequest, server_url: str, template_url: str) -> AsyncIterator[Backend]:
    if request.param == "memory":
        yield memory_backend(MemoryStore())
        return
    async with own_database(server_url) as url:
        engine = create_engine(url)
        try:
            yield pg_backend(create_session_factory(engine))
        finally:
            await engine.dispose()


@pytest.fixture
async def world(backend: Backend) -> World:
    return await World.create(backend)
