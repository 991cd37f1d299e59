"""The sync suites over real HTTP: the Litestar app on PostgreSQL, with a token per device."""

from __future__ import annotations

from typing import Any, cast

import httpx
from sqlalchemy.dialects import postgresql

from server.auth import tokens
from server.auth.models import Device
from server.db import SessionFactory
from server.settings import Settings
from sync.client import Reply, Transport, http_transport
from sync.store import Principal
from tests.conftest import app_for
from tests.sync.pg_backend import PgSeeder
from tests.sync.world import Backend


def device_transport(backend: Backend, who: Principal, settings: Settings) -> Transport:
    """Send the client's requests to the app over HTTP (in this event loop), as the device ``who``."""
    seed = backend.seed
    assert isinstance(seed, PgSeeder)
    factory: SessionFactory = seed.factory
    app = app_for(settings, factory)  # every phone of the backend on one app, as on a server
    claims = tokens.new_claims("access", who.user_id, who.client_id, 0, 3600)
    token = tokens.encode(settings.jwt_secret, claims)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=cast(Any, app)))
    inner = http_transport("http://doorstep", lambda: token, client=client)
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
        return await inner(path, body)

    return send
