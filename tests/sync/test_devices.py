"""The device state machine against the engine and the memory store."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from sync.memory import MemoryStore
from tests.sync.devices import device_machine
from tests.sync.transport import engine_transport
from tests.sync.world import Backend, memory_backend


async def _memory() -> Backend:
    return memory_backend(MemoryStore())


pytestmark = pytest.mark.slow

TestDevicesOnMemory = device_machine(_memory, lambda backend, who: engine_transport(backend, who)).TestCase
TestDevicesOnMemory.settings = settings(
    max_examples=40, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
