"""The sync suites over real HTTP: the Litestar app on PostgreSQL, with a token per device."""

from __future__ import annotations

from typing import Any, cast

import httpx
from sqlalchemy.dialects import postgresql

from server.app import create_app
from server.auth import tokens
from server.auth.models import Device
from server.db import SessionFactory
from server.settings import Settings
from sync.client import Reply, Transport
from sync.store import Principal
from tests.sync.pg_backend import PgSeeder
from tests.sync.world import Backend


def http_transport(backend: Backend, who: Principal, settings: Settings) -> Transport:
    """Send the client's requests to the app over HTTP (in this event loop), as the device ``who``."""
    seed = backend.seed
    assert isinstance(seed, PgSeeder)
    factory: SessionFactory = seed.factory
    app = create_app(settings, session_factory=factory)
    claims = tokens.new_claims("access", who.user_id, who.client_id, 0, 3600)
    headers = {"Authorization": f"Bearer {tokens.encode(settings.jwt_secret, claims)}"}
    registered = False

    async def send(path: str, body: bytes) -> Reply:
        nonlocal registered
        if not registered:
            async with factory() as session:
                await session.execute(
                    postgresql.insert(Device)
                    .values(id=who.client_id, user_id=who.user_id)
                    .on_conflict_do_nothing(index_elements=["id"])
                )
                await session.commit()
            registered = True
        transport = httpx.ASGITransport(app=cast(Any, app))
        async with httpx.AsyncClient(transport=transport, base_url="http://doorstep") as client:
            response = await client.post(path, content=body, headers=headers | {"content-type": "application/json"})
        return Reply(response.status_code, response.content)

    return send
