"""Decisions about who may log in, refresh, log out, and which devices are still trusted."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import LoginRequest, Role, TokenPair
from server import audit
from server.audit import Actor
from server.auth import repository as repo
from server.auth import throttle, tokens
from server.auth.models import Device, RefreshToken, User
from server.auth.passwords import hash_password, needs_rehash, verify_password
from server.errors import (
    Conflict,
    DeviceRevoked,
    InvalidCredentials,
    NotFound,
    RateLimited,
    TokenInvalid,
)
from server.settings import Settings


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    user_id: uuid.UUID
    username: str
    display_name: str
    role: Role
    supervisor_id: uuid.UUID | None
    device_id: uuid.UUID

    def actor(self, request_id: str | None) -> Actor:
        return Actor(user_id=self.user_id, role=self.role, device_id=self.device_id, request_id=request_id)


def _now() -> datetime:
    return datetime.now(UTC)


async def login(
    session: AsyncSession, settings: Settings, body: LoginRequest, request_id: str | None, address: str
) -> TokenPair:
    """Log a phone (or any API client) in: ``sign_in``, then a token pair for its device."""
    user, device = await sign_in(session, settings, body, request_id, address)
    pair = await _issue_pair(session, settings, user, device)
    audit.record(session, _actor(user, device, request_id), "auth.login", "user_account", user.id)
    return pair


async def console_sign_in(
    session: AsyncSession, settings: Settings, body: LoginRequest, request_id: str | None, address: str
) -> str:
    """Sign a browser in to the console: ``sign_in`` (the same limits, password check and device
    rules as ``login``), then one ``console`` token for the session cookie. No refresh token: the
    session lasts ``console_session_seconds`` and signing out (``logout``) ends it at once."""
    user, device = await sign_in(session, settings, body, request_id, address)
    claims = tokens.new_claims("console", user.id, device.id, device.session_epoch, settings.console_session_seconds)
    audit.record(session, _actor(user, device, request_id), "auth.console_sign_in", "user_account", user.id)
    return tokens.encode(settings.jwt_secret, claims)


def _actor(user: User, device: Device, request_id: str | None) -> Actor:
    return Actor(user_id=user.id, role=user.role, device_id=device.id, request_id=request_id)


async def sign_in(
    session: AsyncSession, settings: Settings, body: LoginRequest, request_id: str | None, address: str
) -> tuple[User, Device]:
    """Check the login limits and the password, and register or rebind the device.

    ``address``: the client's, as ``server.auth.clients`` decides it. A refused attempt adds an
    ``auth.login_throttled`` or ``auth.login_failed`` audit row before raising; the route
    commits it, so refusals are recorded too.
    """
    device_id = body.device.id
    claim = await throttle.claim_login(session, settings, address, body.username, throttle.now())
    if isinstance(claim, throttle.Refusal):
        user = await repo.user_by_username(session, body.username)
        audit.record(
            session,
            Actor(user_id=None, role=None, device_id=device_id, request_id=request_id),
            "auth.login_throttled",
            "user_account",
            user.id if user else None,
            username=body.username[:64],
            limit=claim.limit,
            address=address,
            retry_after=claim.retry_after,
        )
        raise RateLimited(claim.retry_after)
    # Until the password proves right the attempt counts as a failure. Committed now, every
    # worker sees it at once, and no throttle row stays locked while argon2 runs.
    await session.commit()

    user = await repo.user_by_username(session, body.username)
    # The read's transaction ends before argon2 runs (a quarter of a second of CPU): a morning's
    # logins held a pooled connection each all that time, and the pool ran out (scripts/bench devices).
    await session.commit()
    password_ok = await verify_password(user.password_hash if user else None, body.password)
    if user is None or not password_ok or not user.is_active:
        audit.record(
            session,
            Actor(user_id=None, role=None, device_id=device_id, request_id=request_id),
            "auth.login_failed",
            "user_account",
            user.id if user else None,
            username=body.username[:64],
        )
        raise InvalidCredentials()

    await throttle.login_succeeded(session, claim)
    # Committed at once: the address's row is one for everyone behind a school's NAT (or a
    # morning's phones), and held until the end of the rest of the login (the device's lock,
    # the tokens, the audit) it made every login from the address wait for the one before.
    await session.commit()
    actor = Actor(user_id=user.id, role=user.role, device_id=device_id, request_id=request_id)
    if needs_rehash(user.password_hash):
        user.password_hash = await hash_password(body.password)

    device = await repo.device_by_id(session, device_id, lock=True)
    if device is not None and device.revoked_at is not None:
        audit.record(session, actor, "auth.login_refused_revoked_device", "device", device_id)
        raise DeviceRevoked()
    if device is None:
        device = Device(id=device_id, user_id=user.id, session_epoch=0)
        session.add(device)
        audit.record(session, actor, "device.register", "device", device_id, platform=body.device.platform)
    elif device.user_id != user.id:
        # Another user's tokens on this phone die with the epoch bump.
        audit.record(session, actor, "device.rebind", "device", device_id, previous_user_id=str(device.user_id))
        device.user_id = user.id
        device.session_epoch += 1
    device.name = body.device.name
    device.platform = body.device.platform
    device.app_version = body.device.app_version
    device.last_seen_at = _now()
    await session.flush()
    return user, device


async def refresh(session: AsyncSession, settings: Settings, raw_token: str, request_id: str | None) -> TokenPair:
    """Rotate a refresh token: the next pair, and the token is used up.

    A used token presented again is theft (every session of the device ends, ``auth.refresh_reuse``)
    unless it comes back within ``refresh_reuse_grace_seconds`` of its use, with the device's
    session unchanged, and its chain leads to an unused token: then it is the same phone asking
    again for an answer it never got (the network dropped it, or the app reloaded mid-refresh),
    and it gets that answer again, byte for byte (``auth.refresh_replayed``). See ``_replay_target``.

    Refreshes of one device run one at a time: ``claim_refresh`` holds the device's throttle row,
    and the token's row is locked ``FOR UPDATE``. So a retry that arrives while the first request
    is still running waits for it, then sees the token used, its successor committed, and answers
    the same pair.
    """
    claims = tokens.decode(settings.jwt_secret, raw_token, "refresh")
    refusal = await throttle.claim_refresh(session, settings, claims.device_id, throttle.now())
    if refusal is not None:
        raise RateLimited(refusal.retry_after)
    row = await repo.refresh_token_for_update(session, claims.token_id)
    found = await repo.device_with_user(session, claims.device_id)
    if row is None or found is None:
        raise TokenInvalid()
    device, user = found
    if device.revoked_at is not None:
        raise DeviceRevoked()
    actor = Actor(user_id=user.id, role=user.role, device_id=device.id, request_id=request_id)
    current = (
        row.device_id == device.id
        and row.user_id == user.id
        and device.user_id == user.id
        and claims.epoch == device.session_epoch
        and user.is_active
    )
    now = _now()
    if row.used_at is not None:
        target = await _replay_target(session, settings, row, now) if current else None
        if target is None:
            # A rotated token came back: someone holds a copy. End every session on the device.
            device.session_epoch += 1
            audit.record(session, actor, "auth.refresh_reuse", "device", device.id, token_id=str(row.id))
            raise TokenInvalid()
        audit.record(
            session, actor, "auth.refresh_replayed", "device", device.id, token_id=str(row.id), answered=str(target.id)
        )
        return _pair(settings, target, device.session_epoch)
    if not current:
        raise TokenInvalid()
    successor = await _new_refresh_token(session, settings, user, device, now)
    row.used_at = now
    row.successor_id = successor.id
    device.last_seen_at = now
    await session.flush()
    return _pair(settings, successor, device.session_epoch)


async def _replay_target(
    session: AsyncSession, settings: Settings, used: RefreshToken, now: datetime
) -> RefreshToken | None:
    """The token whose pair a used token presented again within the grace answers; None: theft.

    The grace counts from the token's use. Its successor, if still unused, is the answer it gave
    then. If the successor was used too (the phone did get the answer and refreshed again, and
    this is a late duplicate of the first request), the successor links are followed to the
    chain's newest token, still unused, and its pair answers: the device's current pair, which
    whoever holds the presented token could have had anyway by asking a moment sooner. Every
    token in the chain was issued after the presented one was used, so within the grace too.

    The same as Auth0's and Okta's reuse interval, and Ory Hydra's rotation grace period: a
    thief who copied the token has the grace to use it, and no longer; after it, any reuse ends
    the device's sessions as before. A token used before the successor links existed has none:
    its reuse is theft.
    """
    grace = timedelta(seconds=settings.refresh_reuse_grace_seconds)
    if grace <= timedelta(0) or used.used_at is None or now - used.used_at > grace:
        return None
    token = used
    # Refreshes are limited per device per one-minute window, so no chain issued within the grace
    # is longer than this; the bound only keeps a corrupt chain from looping.
    windows = settings.refresh_reuse_grace_seconds // 60 + 2
    for _ in range(windows * settings.login_rate_per_minute):
        if token.successor_id is None:
            return None
        successor = await repo.refresh_token_for_update(session, token.successor_id)
        if successor is None:
            return None
        if successor.used_at is None:
            fresh = now - successor.issued_at <= grace and successor.expires_at > now
            return successor if fresh else None
        token = successor
    return None


async def logout(session: AsyncSession, principal: Principal, request_id: str | None) -> None:
    device = await repo.device_by_id(session, principal.device_id, lock=True)
    if device is None:
        raise TokenInvalid()
    device.session_epoch += 1
    audit.record(session, principal.actor(request_id), "auth.logout", "device", device.id)


async def authenticate(
    session: AsyncSession, settings: Settings, raw_token: str, typ: tokens.TokenType = "access"
) -> Principal:
    """Turn a bearer access token (or the console's session token, ``typ="console"``) into a
    Principal, checking device and user in the database."""
    claims = tokens.decode(settings.jwt_secret, raw_token, typ)
    found = await repo.device_auth(session, claims.device_id)
    if found is None:
        raise TokenInvalid()
    if found.revoked:
        raise DeviceRevoked()
    if found.user_id != claims.user_id or found.session_epoch != claims.epoch or not found.active:
        raise TokenInvalid()
    return Principal(
        user_id=found.user_id,
        username=found.username,
        display_name=found.display_name,
        role=Role(found.role),
        supervisor_id=found.supervisor_id,
        device_id=claims.device_id,
    )


async def revoke_device(session: AsyncSession, actor: Actor, device_id: uuid.UUID) -> Device:
    """Revoke a device at once. Supervisors may revoke their team's devices; admins any."""
    device = await repo.device_by_id(session, device_id, lock=True)
    if device is None:
        raise NotFound("No such device")
    if actor.role == Role.SUPERVISOR and actor.user_id is not None:
        team = await repo.team_member_ids(session, actor.user_id)
        if device.user_id not in team:  # out of her scope: the same answer as no device at all
            raise NotFound("No such device")
    if device.revoked_at is None:
        device.revoked_at = _now()
        device.revoked_by = actor.user_id
        device.session_epoch += 1
        audit.record(session, actor, "device.revoke", "device", device.id, user_id=str(device.user_id))
    return device


async def create_user(
    session: AsyncSession,
    actor: Actor,
    *,
    username: str,
    password: str,
    role: Role,
    display_name: str = "",
    supervisor_username: str | None = None,
) -> User:
    if await repo.user_by_username(session, username) is not None:
        raise Conflict(f"User {username!r} already exists")
    supervisor_id = None
    if supervisor_username is not None:
        supervisor = await repo.user_by_username(session, supervisor_username)
        if supervisor is None or supervisor.role != Role.SUPERVISOR:
            raise NotFound(f"No supervisor {supervisor_username!r}")
        supervisor_id = supervisor.id
    if role == Role.CASE_MANAGER and supervisor_id is None:
        raise Conflict("A case manager belongs to a supervisor's team: give a supervisor")
    user = User(
        id=uuid.uuid4(),
        username=username,
        display_name=display_name or username,
        role=role.value,
        password_hash=await hash_password(password),
        supervisor_id=supervisor_id,
    )
    session.add(user)
    audit.record(session, actor, "user.create", "user_account", user.id, username=username, role=role.value)
    return user


async def disable_user(session: AsyncSession, actor: Actor, username: str) -> User:
    user = await repo.user_by_username(session, username)
    if user is None:
        raise NotFound(f"No user {username!r}")
    if user.disabled_at is None:
        user.disabled_at = _now()
        user.version += 1
        audit.record(session, actor, "user.disable", "user_account", user.id)
    return user


async def set_password(session: AsyncSession, actor: Actor, username: str, password: str) -> User:
    user = await repo.user_by_username(session, username)
    if user is None:
        raise NotFound(f"No user {username!r}")
    user.password_hash = await hash_password(password)
    user.version += 1
    audit.record(session, actor, "user.set_password", "user_account", user.id)
    return user


async def _issue_pair(session: AsyncSession, settings: Settings, user: User, device: Device) -> TokenPair:
    token = await _new_refresh_token(session, settings, user, device, _now())
    return _pair(settings, token, device.session_epoch)


async def _new_refresh_token(
    session: AsyncSession, settings: Settings, user: User, device: Device, now: datetime
) -> RefreshToken:
    """A new refresh token's row, inserted at once (a used token's ``successor_id`` points at it).
    Issued at ``now``: when a refresh uses its predecessor, the same moment as its ``used_at``."""
    token = RefreshToken(
        id=uuid.uuid4(),
        device_id=device.id,
        user_id=user.id,
        issued_at=now,
        expires_at=now + timedelta(seconds=settings.refresh_token_seconds),
    )
    session.add(token)
    await session.flush()
    return token


def _pair(settings: Settings, token: RefreshToken, epoch: int) -> TokenPair:
    """The pair whose refresh token is ``token``, made from its row alone, so that asking again
    gives the same bytes: the access token's ``jti`` is derived from the refresh token's, and
    both carry the row's ``issued_at`` as ``iat``; the access token expires ``access_token_seconds``
    after it, and ``expires_in`` is that lifetime as issued (a replay says the same, a few seconds
    generous). ``epoch``: the device's; a token is only answered while the device's epoch is the
    one it was issued under, so the row need not keep it."""
    access = tokens.Claims(
        typ="access",
        user_id=token.user_id,
        device_id=token.device_id,
        epoch=epoch,
        token_id=uuid.uuid5(token.id, "access"),
        expires_at=token.issued_at + timedelta(seconds=settings.access_token_seconds),
    )
    refresh_claims = tokens.Claims(
        typ="refresh",
        user_id=token.user_id,
        device_id=token.device_id,
        epoch=epoch,
        token_id=token.id,
        expires_at=token.expires_at,
    )
    return TokenPair(
        access_token=tokens.encode(settings.jwt_secret, access, token.issued_at),
        refresh_token=tokens.encode(settings.jwt_secret, refresh_claims, token.issued_at),
        expires_in=settings.access_token_seconds,
    )
