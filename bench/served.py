"""A real ``doorstep serve`` for a benchmark: a subprocess on 127.0.0.1 over TCP, on a database
the benchmark prepared, its JSON request log captured to a file so that each request's server
time (the log's ``ms``) can be found by its request id."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import httpx

from bench.harness import free_port

READY_SECONDS = 120.0
STOP_SECONDS = 60.0


def request_log(log: Path) -> Iterator[tuple[str, float]]:
    """Each request the JSON request log recorded: its request id and its ``ms``."""
    with log.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if not line.startswith("{") or '"request"' not in line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == "request" and "request_id" in entry:
                yield entry["request_id"], float(entry["ms"])


class Served:
    """``python -m server.cli serve`` on ``database_url`` (so the API workers, the background
    worker and nothing else: no embedded PostgreSQL of its own, no demo since users exist)."""

    def __init__(self, database_url: str, folder: Path, name: str, workers: int | None = None) -> None:
        self.folder = folder / f"serve-{name}"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.log = self.folder / "serve.log"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        keep = {k: v for k, v in os.environ.items() if not k.startswith("DOORSTEP_") and k != "DATABASE_URL"}
        self.env = keep | {
            "DATABASE_URL": database_url,
            "DOORSTEP_DATA_DIR": str(self.folder / "var"),
            "DOORSTEP_HOST": "127.0.0.1",
            "DOORSTEP_PORT": str(self.port),
            "DOORSTEP_LOG_LEVEL": "INFO",
            "DOORSTEP_LOG_FORMAT": "json",
            "DOORSTEP_LOGIN_RATE_PER_MINUTE": "100000",
            "DOORSTEP_ACCESS_TOKEN_SECONDS": str(3 * 3600),
        }
        if workers is not None:
            self.env["DOORSTEP_WORKERS"] = str(workers)
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Served:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server.cli", "serve"], env=self.env, stdout=out, stderr=out
            )
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.base_url}/ready", timeout=2, trust_env=False).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"serve was not ready within {READY_SECONDS:.0f} s:\n{self.log.read_text()[-3000:]}")

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        """SIGTERM, as a service manager would, then SIGKILL if it has not exited in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def workers(self) -> list[int]:
        """The pids of the API worker processes (the serve process itself with one worker)."""
        assert self.proc is not None
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                args = (proc / "cmdline").read_bytes()
            except (OSError, ValueError, IndexError):
                continue
            if ppid == self.proc.pid and b"multiprocessing.spawn" in args:
                found.append(int(proc.name))
        return found or [self.proc.pid]

    def server_seconds(self, request_ids: list[str]) -> dict[str, float]:
        """The request log's ``ms`` of each of ``request_ids``, in seconds (from the first middleware to the
        response's start; uvicorn's parsing and the socket are outside it)."""
        wanted = set(request_ids)
        found = {rid: spent / 1000 for rid, spent in request_log(self.log) if rid in wanted}
        missing = wanted - found.keys()
        if missing:
            raise RuntimeError(f"{len(missing)} requests missing from the log, e.g. {sorted(missing)[:3]}")
        return found
