"""What every benchmark shares: the machine's description, timing, percentiles and ratios, a
throwaway embedded PostgreSQL, and the writer of docs/benchmarks.md's sections."""

from __future__ import annotations

import math
import os
import platform
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from server.db import EmbeddedPostgres

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def machine() -> str:
    """CPU, cores, memory, kernel and Python, in one line."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    system = f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    return f"{cpu}, {os.cpu_count()} cores{mem}, {system}"


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages, as ``uptime`` shows them."""
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0.95 for p95) by the nearest-rank method: the smallest value with at
    least ``q`` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered) - 1e-9) - 1))]


def ms(seconds: float) -> str:
    """Seconds as milliseconds, one decimal."""
    return f"{seconds * 1000:,.1f}"


def ratio(value: float, baseline: float) -> float:
    """``value`` as a fraction of ``baseline`` (0 when there is no baseline)."""
    return value / baseline if baseline else 0.0


@dataclass
class Run:
    """One timed throughput run: wall time, each operation's latency, and the rows written."""

    wall: float
    latencies: list[float]
    rows: int

    @property
    def batches_per_s(self) -> float:
        return len(self.latencies) / self.wall

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.wall


@contextmanager
def temporary_postgres() -> Iterator[tuple[EmbeddedPostgres, Path]]:
    """An embedded PostgreSQL in a temporary folder, deleted with the folder at the end."""
    folder = Path(tempfile.mkdtemp(prefix="doorstep-bench-"))
    try:
        server = EmbeddedPostgres(folder / "pgdata", delete_on_stop=True)
        try:
            yield server, folder
        finally:
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def write_section(name: str, report: str, docs: Path = DOCS) -> None:
    """Rewrite the ``## name…`` section of docs/benchmarks.md, leaving the other sections alone."""
    head = (
        "# Benchmarks\n\nFigures from `scripts/bench`; each section is rewritten by its benchmark. "
        "They are never unit tests.\n\n"
    )
    text_ = docs.read_text() if docs.exists() else head
    sections = re.split(r"(?m)^(?=## )", text_)
    start, rest = sections[0], sections[1:]
    for n, section in enumerate(rest):
        if re.match(rf"## {re.escape(name)}\b", section):
            rest[n] = report
            break
    else:
        rest.append(report)
    docs.write_text(start + "\n".join(r.rstrip("\n") + "\n" for r in rest))
