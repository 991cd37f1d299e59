"""The device state machine over real HTTP against the app on PostgreSQL.

Each Hypothesis example gets a database of its own (copied from the migrated template), so the
pushes and pulls commit for real, as phones' do. The machine's rules are searched in depth on the
memory store (tests/sync/test_devices.py, 40 examples of 40 steps); over HTTP, where an example
costs about 25 s, ``DOORSTEP_MACHINE_EXAMPLES`` (default 2) examples of 25 steps check that the
transport changes nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy.pool import NullPool

from server.db import create_engine, create_session_factory
from tests.conftest import _TEMPLATE, _admin, make_settings, with_database
from tests.sync.devices import device_machine
from tests.sync.http_backend import device_transport
from tests.sync.pg_backend import pg_backend
from tests.sync.world import Backend

_server: dict[str, str] = {}
_databases: list[str] = []
_names = itertools.count()
SETTINGS = make_settings()


@pytest.fixture(autouse=True, scope="module")
def _postgres(server_url: str, template_url: str) -> Iterator[None]:
    _server["url"] = server_url
    yield

    async def drop() -> None:
        for name in _databases:
            await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    asyncio.run(drop())


async def _new_backend() -> Backend:
    name = f"doorstep_machine_{os.getpid()}_{next(_names)}"
    _databases.append(name)
    await _admin(_server["url"], f'CREATE DATABASE "{name}" TEMPLATE "{_TEMPLATE}"')
    engine = create_engine(with_database(_server["url"], name), poolclass=NullPool)
    return pg_backend(create_session_factory(engine))


pytestmark = pytest.mark.slow

TestDevicesOverHttp = device_machine(
    _new_backend, lambda backend, who: device_transport(backend, who, SETTINGS)
).TestCase
TestDevicesOverHttp.settings = settings(
    max_examples=int(os.environ.get("DOORSTEP_MACHINE_EXAMPLES", "2")),
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
