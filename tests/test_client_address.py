"""Which address a login counts against."""

from __future__ import annotations

import asyncio
import gc
import signal
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.helpers import device


async def attempt(client: httpx.AsyncClient, username: str, forwarded_for: str) -> int:
    response = await client.post(
        "/auth/login",
        json={"username": username, "password": "wrong", "device": device()},
        headers={"X-Forwarded-For": forwarded_for},
    )
    return response.status_code


def test_serve_keeps_uvicorn_from_trusting_forwarded_for(
    fresh_database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """uvicorn believes X-Forwarded-For from 127.0.0.1 by default: a client on the machine, or
    any client behind a local reverse proxy that passes the header through, could pick a new
    address for every attempt. ``serve`` turns that off; the app decides."""
    import uvicorn

    from server.cli import app as cli

    for name, value in {
        "DATABASE_URL": fresh_database,
        "DOORSTEP_DATA_DIR": str(tmp_path),
        "DOORSTEP_JWT_SECRET": "serve-secret-" + "z" * 40,
        "DOORSTEP_WORKER": "off",
        "DOORSTEP_LOG_LEVEL": "WARNING",
        "DOORSTEP_LOGIN_RATE_PER_MINUTE": "2",
    }.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    created = runner.invoke(cli, ["user", "create", "boss", "--role", "admin"], input="pw-12345\npw-12345\n")
    assert created.exit_code == 0, created.output
    captured: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: captured.update(app=app, kwargs=kwargs))
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        served = runner.invoke(cli, ["serve"])  # migrates, then hands the app to (our) uvicorn.run
    finally:
        signal.signal(signal.SIGTERM, sigterm)  # serve installs its own
    assert served.exit_code == 0, served.output

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def scenario() -> list[int]:
        server = uvicorn.Server(uvicorn.Config(captured["app"], **{**captured["kwargs"], "port": port}))
        task = asyncio.create_task(server.serve())
        while not server.started:
            assert not task.done()
            await asyncio.sleep(0.01)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                return [await attempt(client, f"ghost{i}", f"203.0.113.{i}") for i in range(4)]
        finally:
            server.should_exit = True
            await task

    try:
        statuses = asyncio.run(scenario())
    finally:
        gc.unfreeze()  # the app's startup froze the heap
    assert statuses == [401, 401, 429, 429]
