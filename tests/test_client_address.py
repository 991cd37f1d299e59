"""Which address a login counts against: the peer's, unless the peer is a trusted proxy."""

from __future__ import annotations

import asyncio
import gc
import signal
import socket
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from litestar import Litestar
from typer.testing import CliRunner

from server.app import create_app
from server.db import SessionFactory
from server.settings import Settings, SettingsError
from tests.conftest import make_settings
from tests.helpers import device


def client_at(app: Litestar, address: str) -> httpx.AsyncClient:
    """A client whose requests reach the app from ``address`` (the TCP peer)."""
    transport = httpx.ASGITransport(app=cast(Any, app), client=(address, 50123))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


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


async def test_forwarded_for_is_ignored_when_no_proxy_is_trusted(session_factory: SessionFactory) -> None:
    app = create_app(make_settings(login_rate_per_minute=2), session_factory=session_factory)
    async with client_at(app, "192.0.2.66") as client:
        statuses = [await attempt(client, f"ghost{i}", f"203.0.113.{i}") for i in range(3)]
    assert statuses == [401, 401, 429]


async def test_behind_a_trusted_proxy_the_client_is_the_rightmost_untrusted_forwarded_address(
    session_factory: SessionFactory,
) -> None:
    app = create_app(
        make_settings(login_rate_per_minute=2, trusted_proxies=("10.0.0.0/8",)), session_factory=session_factory
    )
    async with client_at(app, "10.0.0.2") as proxy:
        # The client made up the left-most entry; each proxy appended the address it saw.
        one_client = [await attempt(proxy, f"ghost{i}", f"1.1.1.{i}, 198.51.100.7, 10.0.0.3") for i in range(3)]
        another_client = await attempt(proxy, "ghost9", "198.51.100.8")
    assert one_client == [401, 401, 429]
    assert another_client == 401


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("192.0.2.66", ["203.0.113.1"], "192.0.2.66"),  # not a trusted peer: the header is ignored
        ("10.0.0.2", ["203.0.113.1"], "203.0.113.1"),
        ("10.0.0.2", ["6.6.6.6, 203.0.113.1, 10.1.2.3"], "203.0.113.1"),
        ("10.0.0.2", ["6.6.6.6", "203.0.113.1"], "203.0.113.1"),  # several headers read as one list
        ("10.0.0.2", ["203.0.113.1:4711"], "203.0.113.1"),  # with a port, as some proxies write it
        ("10.0.0.2", ["[2001:db8::1]:443"], "2001:db8::/64"),
        ("10.0.0.2", [], "10.0.0.2"),
        ("10.0.0.2", ["10.0.0.9, 10.0.0.8"], "10.0.0.9"),  # all proxies: the farthest
        ("10.0.0.2", ["junk"], "10.0.0.2"),  # not an address: the proxy that handed it over
        ("2001:db8:1:2:3:4:5:6", [], "2001:db8:1:2::/64"),  # an IPv6 host picks from its /64
        ("::ffff:192.0.2.5", [], "192.0.2.5"),
        ("::ffff:10.0.0.2", ["203.0.113.1"], "203.0.113.1"),
        (None, [], "unknown"),
    ],
)
def test_client_address(peer: str | None, forwarded: list[str], expected: str) -> None:
    from server.auth.clients import client_address

    assert client_address(peer, forwarded, ("10.0.0.0/8",)) == expected


def test_trusted_proxies_come_from_the_environment() -> None:
    settings = Settings.from_env({"DOORSTEP_TRUSTED_PROXIES": " 10.0.0.0/8, 192.168.1.5 ,2001:db8::/48"})
    assert settings.trusted_proxies == ("10.0.0.0/8", "192.168.1.5/32", "2001:db8::/48")
    assert Settings.from_env({}).trusted_proxies == ()
    with pytest.raises(SettingsError, match="DOORSTEP_TRUSTED_PROXIES"):
        Settings.from_env({"DOORSTEP_TRUSTED_PROXIES": "10.0.0.0/8, localhost"})
