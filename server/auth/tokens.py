"""JWTs (PyJWT, HS256): short-lived access tokens and rotating refresh tokens.

Both carry the device id and the device's ``session_epoch``; every request checks them
against the database, so revoking a device or logging out takes effect at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt

from server.errors import TokenInvalid

ALGORITHM = "HS256"
TokenType = Literal["access", "refresh", "console"]
"""``console``: the web console's session (server/console/session.py), kept in an HttpOnly cookie;
never accepted as a bearer token."""


@dataclass(frozen=True)
class Claims:
    typ: TokenType
    user_id: uuid.UUID
    device_id: uuid.UUID
    epoch: int
    token_id: uuid.UUID
    expires_at: datetime


def encode(secret: str, claims: Claims, issued_at: datetime | None = None) -> str:
    """The signed token. ``issued_at`` (default: now) makes it reproducible: the same claims and
    the same ``issued_at`` give the same bytes (HS256 is deterministic), which is how a refresh
    replayed within the grace answers the very pair it gave the first time (server/auth/service.py)."""
    payload = {
        "typ": claims.typ,
        "sub": str(claims.user_id),
        "did": str(claims.device_id),
        "ep": claims.epoch,
        "jti": str(claims.token_id),
        "exp": claims.expires_at,
        "iat": issued_at or datetime.now(UTC),
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def new_claims(typ: TokenType, user_id: uuid.UUID, device_id: uuid.UUID, epoch: int, ttl_seconds: int) -> Claims:
    return Claims(
        typ=typ,
        user_id=user_id,
        device_id=device_id,
        epoch=epoch,
        token_id=uuid.uuid4(),
        expires_at=datetime.now(UTC) + timedelta(seconds=ttl_seconds),
    )


def decode(secret: str, token: str, typ: TokenType) -> Claims:
    """Verify signature, expiry and type; any failure is the same opaque ``token_invalid``."""
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "sub", "did", "ep", "jti", "typ"]},
        )
        if payload["typ"] != typ:
            raise TokenInvalid()
        return Claims(
            typ=typ,
            user_id=uuid.UUID(payload["sub"]),
            device_id=uuid.UUID(payload["did"]),
            epoch=int(payload["ep"]),
            token_id=uuid.UUID(payload["jti"]),
            expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
        )
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise TokenInvalid() from exc
