"""Names of the app-wide dependencies, for handler signatures."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit import Actor
from server.auth.service import Principal
from server.logging import request_id_of
from server.settings import Settings

Db = NamedDependency[AsyncSession]
"""The request's session; the request edge commits it once the handler returns."""

Config = NamedDependency[Settings]


def actor_of(request: Request[Principal, Any, Any]) -> Actor:
    """The audit actor for this request: the caller, her device and the request id."""
    return request.user.actor(request_id_of(request.scope))


AuthRequest = Request[Principal, Any, Any]
