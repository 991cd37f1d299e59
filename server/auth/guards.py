"""Authentication middleware and the role guard.

Every route declares who may call it, with ``opt=allow(...)`` or ``opt=PUBLIC``. The
app-wide guard refuses any route that declares nothing, and a test walks every route to
prove each one declares.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from schemas.auth import Role
from server.auth import service
from server.auth.service import Principal
from server.db import request_session
from server.errors import Forbidden, NotAuthenticated
from server.settings import Settings

ROLES_KEY = "roles"
PUBLIC_ROLE = "public"
ALL_ROLES: tuple[Role, ...] = tuple(Role)


def allow(*roles: Role) -> dict[str, Any]:
    """Route ``opt`` declaring the roles that may call it."""
    if not roles:
        raise ValueError("declare at least one role, or use PUBLIC")
    return {ROLES_KEY: frozenset(roles)}


PUBLIC: dict[str, Any] = {ROLES_KEY: PUBLIC_ROLE, "exclude_from_auth": True}


def declared_roles(handler: BaseRouteHandler) -> frozenset[Role] | str | None:
    roles: frozenset[Role] | str | None = handler.opt.get(ROLES_KEY)
    return roles


class BearerAuthMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated()
        settings: Settings = connection.app.state.settings
        principal = await service.authenticate(request_session(connection.scope), settings, token.strip())
        return AuthenticationResult(user=principal, auth=token)


async def role_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Refuse a caller whose role the route does not allow. ``async`` although it never awaits:
    Litestar runs a plain function guard in a thread pool, a hop to a thread and back (and a
    wait for the GIL) on every request."""
    roles = declared_roles(handler)
    if roles == PUBLIC_ROLE or connection.scope.get("method") == "OPTIONS":
        return
    if not isinstance(roles, frozenset):
        # A route that forgot to declare is closed, never open.
        raise Forbidden("This route declares no roles")
    principal = connection.user
    if not isinstance(principal, Principal) or principal.role not in roles:
        raise Forbidden()
