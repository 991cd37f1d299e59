"""Fixtures for the sync core. ``backend`` is parametrised over the stores: add a backend here
(a ``Backend`` whose ``tx`` yields a store in a transaction that commits on exit) and every test
that takes it, the store suite included, runs against it too."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sync.memory import MemoryStore
from tests.sync.world import Backend, World, memory_backend


@pytest.fixture(params=["memory"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        yield memory_backend(MemoryStore())
    else:  # pragma: no cover
        raise AssertionError(request.param)


@pytest.fixture
async def world(backend: Backend) -> World:
    return await World.create(backend)
