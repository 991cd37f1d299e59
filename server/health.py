"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get
from litestar.openapi import ResponseSpec
from litestar.response import Response
from sqlalchemy import text

from server.auth.guards import PUBLIC
from server.db import SessionFactory


class Health(msgspec.Struct):
    status: str


@get("/health", opt=PUBLIC)
async def health() -> Health:
    """Answers without touching the database: the process is up."""
    return Health(status="ok")


@get("/ready", opt=PUBLIC, responses={503: ResponseSpec(Health, description="The database does not answer")})
async def ready(request: Request[Any, Any, Any]) -> Response[Health]:
    """Answers 200 only when the database answers."""
    factory: SessionFactory = request.app.state.session_factory
    try:
        async with factory() as session:
            await session.execute(text("SELECT 1"))
    except Exception:  # any failure to reach the database means "not ready"
        return Response(Health(status="database_unavailable"), status_code=503)
    return Response(Health(status="ok"))
