"""A real ``doorstep serve`` cleans up after itself (issue 10): the embedded PostgreSQL it started
stops when it exits on SIGTERM or Ctrl-C; a command run beside it joins that server and leaves
it running; a handle left by a killed process does not keep the server alive for good."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.serve_processes import descendants, running

DOORSTEP = str(Path(sys.executable).with_name("doorstep"))


def _postgres_on(pgdata: Path) -> list[int]:
    """The pids of PostgreSQL servers (postmasters) running on ``pgdata``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if proc.name.isdigit() and args[0].endswith(b"/postgres") and str(pgdata).encode() in args:
            found.append(int(proc.name))
    return found


def _command_lines(pids: list[int]) -> dict[int, bytes]:
    """Each process's command line (empty for one gone meanwhile)."""
    found = {}
    for pid in pids:
        try:
            found[pid] = (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            found[pid] = b""
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _env(var: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {"DOORSTEP_DATA_DIR": str(var), "DOORSTEP_PORT": str(_free_port())}
    return env | {"DOORSTEP_DEMO_PASSWORD": "pw", "DOORSTEP_LOG_LEVEL": "WARNING"}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data folder as ``doorstep migrate`` and ``doorstep user create`` leave it, made once for
    the module (an initdb and a migration take seconds); each test gets a copy of its own."""
    var = tmp_path_factory.mktemp("serve") / "var"
    env = _env(var)
    # A user already exists, so serve skips the demo district (seconds, not what is tested here).
    for args in (["migrate"], ["user", "create", "someone", "--role", "admin", "--password", "pw"]):
        subprocess.run([DOORSTEP, *args], env=env, check=True, capture_output=True, timeout=120)
    try:
        assert _postgres_on(var / "pgdata") == []  # the set-up commands stopped the one they started
        yield var
    finally:
        for pid in _postgres_on(var / "pgdata"):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def data_dir(prepared: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    # cp -a: the copy keeps its owner (as root, the wheel runs PostgreSQL as its own user).
    subprocess.run(["cp", "-a", str(prepared), str(tmp_path / "var")], check=True, timeout=60)
    yield _env(tmp_path / "var")
    for pid in _postgres_on(tmp_path / "var" / "pgdata"):  # never leak one, whatever happened
        os.kill(pid, signal.SIGKILL)


def _serve(env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = Path(env["DOORSTEP_DATA_DIR"]) / "serve.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([DOORSTEP, "serve"], env=env, stdout=out, stderr=out)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{env['DOORSTEP_PORT']}/ready", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, log.read_text()[-2000:]
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("serve never became ready")


def test_serve_stops_its_postgres_on_sigterm_and_a_command_beside_it_does_not(data_dir: dict[str, str]) -> None:
    pgdata = Path(data_dir["DOORSTEP_DATA_DIR"]) / "pgdata"
    assert _postgres_on(pgdata) == []  # the set-up commands stopped the one they started
    dead = subprocess.Popen(["true"])
    dead.wait()
    (pgdata / ".handle_pids.json").write_text(json.dumps([dead.pid]))  # a handle left by a kill -9
    proc = _serve(data_dir | {"DOORSTEP_WORKERS": "1"})  # two workers: the next tests
    try:
        assert _postgres_on(pgdata)
        listing = subprocess.run(
            [DOORSTEP, "user", "list"], env=data_dir, check=True, capture_output=True, timeout=60
        ).stdout
        assert b"someone" in listing  # it joined serve's server, and left it running:
        ready = httpx.get(f"http://127.0.0.1:{data_dir['DOORSTEP_PORT']}/ready", timeout=5)
        assert ready.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert _postgres_on(pgdata) == []


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_stops_its_postgres_on_ctrl_c(data_dir: dict[str, str], workers: str) -> None:
    pgdata = Path(data_dir["DOORSTEP_DATA_DIR"]) / "pgdata"
    proc = _serve(data_dir | {"DOORSTEP_WORKERS": workers})
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    assert _postgres_on(pgdata) == []


def test_serve_with_two_workers_answers_and_leaves_nothing_running_after_sigterm(data_dir: dict[str, str]) -> None:
    pgdata = Path(data_dir["DOORSTEP_DATA_DIR"]) / "pgdata"
    proc = _serve(data_dir | {"DOORSTEP_WORKERS": "2"})
    try:
        children = _command_lines(descendants(proc.pid))
        api = [pid for pid, args in children.items() if b"multiprocessing.spawn" in args]
        background = [pid for pid, args in children.items() if b"server.cli worker" in args]
        assert len(api) == 2 and len(background) == 1, children  # the queue's worker runs once
        postgres = _postgres_on(pgdata)
        assert len(postgres) == 1  # started once, by serve
        with httpx.Client(base_url=f"http://127.0.0.1:{data_dir['DOORSTEP_PORT']}", timeout=5) as client:
            for _ in range(10):
                assert client.get("/ready").status_code == 200
            login = {
                "username": "someone",
                "password": "pw",
                "device": {"id": str(uuid.uuid4()), "name": "phone", "platform": "android", "app_version": "1"},
            }
            assert client.post("/auth/login", json=login).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(running(pid) for pid in [*children, *postgres]):
        time.sleep(0.1)
    assert [pid for pid in children if running(pid)] == []
    assert _postgres_on(pgdata) == []
