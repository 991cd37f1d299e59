"""uvicorn's supervisor, as ``doorstep serve`` runs it (server/serving.py)."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.supervisors import multiprocess

from server.serving import _ApiWorker
from tests.serve_processes import state

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """The smallest ASGI app: the supervisor's pings never reach it."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})


@pytest.fixture
def listening() -> Iterator[socket.socket]:
    sock = socket.create_server(("127.0.0.1", 0))
    yield sock
    sock.close()


def _started(worker_class: type[multiprocess.Process], sock: socket.socket) -> multiprocess.Process:
    """A started worker whose server is up, asked one ping at a time, each answer awaited (uvicorn's
    own wait gives up on a ping after 1 s and asks again, and the late answers would be read by
    the pings below)."""
    config = Config("tests.test_serving:app", log_level="warning", lifespan="on")
    worker = worker_class(config, [sock])
    worker.start()
    deadline = time.monotonic() + 60
    while True:
        worker.parent_conn.send(b"ping")
        assert worker.parent_conn.poll(60), "the worker never answered"
        if worker.parent_conn.recv():
            return worker
        assert time.monotonic() < deadline, "the worker never started"
        time.sleep(0.1)


def _seconds_to_find_dead(worker: multiprocess.Process, check: float) -> tuple[bool, float]:
    """Freeze the worker so the supervisor's ping waits on it, kill it mid-ping, and time how long
    the supervisor takes to call it dead (``check`` is the health check's timeout)."""
    assert worker.pid is not None
    os.kill(worker.pid, signal.SIGSTOP)
    while state(worker.pid) != "T":  # stopped
        time.sleep(0.01)
    answer: list[bool] = []
    began = time.monotonic()
    pinging = threading.Thread(target=lambda: answer.append(worker.ping(timeout=check)))
    pinging.start()
    time.sleep(0.3)  # the ping is sent and waiting
    os.kill(worker.pid, signal.SIGKILL)
    pinging.join()
    worker.join()
    return answer[0], time.monotonic() - began


def test_a_worker_killed_while_pinged_is_found_dead_at_once(listening: socket.socket) -> None:
    worker = _started(_ApiWorker, listening)
    assert worker.child_conn.closed, "the supervisor keeps no copy of the worker's end"
    alive, seconds = _seconds_to_find_dead(worker, check=20)
    assert not alive
    assert seconds < 5, f"a dead worker's ping waited {seconds:.1f} s"


def test_uvicorns_own_worker_waits_out_the_health_check(listening: socket.socket) -> None:
    """Why _ApiWorker exists: with uvicorn's class the same kill costs the whole check."""
    worker = _started(multiprocess.Process, listening)
    alive, seconds = _seconds_to_find_dead(worker, check=3)
    worker.kill()
    assert not alive
    assert seconds >= 3
