"""The console's session: a ``console`` token (server/auth/tokens.py) in an HttpOnly cookie.

Stateless: the cookie carries the user, the browser's device and the device's ``session_epoch``,
and every request checks them in the database (``server.auth.service.authenticate``), exactly as
a bearer token is checked. Signing out bumps the epoch, so a copied cookie dies with it. A
``console`` token is never accepted as a bearer token, nor an access token as a session.

Console routes are excluded from the bearer middleware (``exclude_from_auth``) and declare their
roles as every route does; ``ConsoleSessionMiddleware`` puts the principal where the role guard
reads it. The sign-in pages are excluded from it too (``SIGNED_OUT``).

CSRF: Litestar's double-submit token (a signed value in a cookie of its own, echoed by every
form in ``_csrf_token``), checked on every POST under ``/console``; its key is derived from the
JWT secret.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp

from server.auth import service
from server.auth.guards import PUBLIC, allow
from server.db import request_session
from server.errors import DeviceRevoked, TokenInvalid
from server.inputs import BODY, FORM
from server.settings import Settings

COOKIE = "doorstep_console"
CSRF_COOKIE = "doorstep_console_csrf"
PATH = "/console"
SESSION_KEY = "exclude_from_console_session"

SIGNED_OUT: dict[str, Any] = {**PUBLIC, SESSION_KEY: True, BODY: FORM}
"""``opt`` of the pages one sees before signing in: no bearer, no session."""


def signed_in(*roles: Any) -> dict[str, Any]:
    """``opt`` of a console page: its roles, checked against the session (not a bearer token)."""
    return {**allow(*roles), "exclude_from_auth": True, BODY: FORM}


class SignInNeeded(Exception):
    """No session, or one that has ended: the console answers with the sign-in page."""


def derived_key(settings: Settings, purpose: str) -> str:
    """A key of its own for ``purpose``, derived from the JWT secret."""
    return hmac.new(settings.jwt_secret.encode(), f"doorstep-console:{purpose}".encode(), hashlib.sha256).hexdigest()


def csrf_config(settings: Settings) -> CSRFConfig:
    return CSRFConfig(
        secret=derived_key(settings, "csrf"),
        cookie_name=CSRF_COOKIE,
        cookie_path=PATH,
        cookie_httponly=True,
        cookie_samesite="lax",
        header_name="x-csrftoken",
    )


class ConsoleSessionMiddleware(AbstractAuthenticationMiddleware):
    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, exclude_from_auth_key=SESSION_KEY)

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        token = connection.cookies.get(COOKIE, "")
        if not token:
            raise SignInNeeded()
        settings: Settings = connection.app.state.settings
        try:
            principal = await service.authenticate(request_session(connection.scope), settings, token, "console")
        except (TokenInvalid, DeviceRevoked) as exc:
            raise SignInNeeded() from exc
        return AuthenticationResult(user=principal, auth=token)
