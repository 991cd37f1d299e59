"""A real ``doorstep serve`` (``bench.served.Served``) for tests that need its processes: API
workers to kill, or two nodes side by side. Whatever the test does, nothing it started outlives it."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from bench.served import Served


def state(pid: int) -> str | None:
    """The process's state letter in ``/proc/<pid>/stat`` (``R``, ``S``, ``T`` stopped, ``Z`` a
    zombie…), or None when there is no such process."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie, dead but not yet reaped, is not)."""
    return state(pid) not in (None, "Z")


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` now: the API workers, the background worker."""
    parents: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                parents[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent and child not in found]
        found.extend(children)
        frontier.extend(children)
    return found


def kill_all(pids: Iterable[int]) -> None:
    """SIGKILL those of ``pids`` still running (after a stop that did not finish its work)."""
    for pid in pids:
        if running(pid):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@contextmanager
def serving(served: Served) -> Iterator[Served]:
    """Start ``served`` and wait until it is ready; on exit stop it as a service manager would
    (SIGTERM, then SIGKILL past its time), then kill anything it started that still runs."""
    family: list[int] = []
    try:
        with served:
            assert served.proc is not None
            family.append(served.proc.pid)
            try:
                yield served
            finally:
                family.extend(descendants(served.proc.pid))
    finally:
        kill_all(family)
