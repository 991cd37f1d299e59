"""Login throttling, kept in PostgreSQL so that every worker shares it.

Two limits stand in front of the password check, and a third in front of refreshing:

- **per account**: a username (lower-cased, known or not, so that the limit says nothing about
  which usernames exist) that has failed ``login_lockout_failures`` times in a row backs off:
  each failure from then on shuts it for ``login_backoff_seconds``, doubling with every further
  failure up to ``login_backoff_max_seconds``. While shut, every attempt gets 429, whatever the
  address and even with the right password. A success wipes the streak; a streak whose last
  failure is a day old counts as none.
- **per client address**: at most ``login_rate_per_minute`` *failed* logins per address per
  one-minute window. Successes give their slot back, and attempts the account limit refused
  take none, so a school's NAT full of people logging in is not shut by one of them mistyping
  (her own account backs off after five); only someone trying many usernames uses it up, and
  then only for the rest of the minute. IPv6 addresses count by their /64.
- **per device, for refresh**: at most ``login_rate_per_minute`` refreshes per device per minute,
  counted only once the refresh token's signature holds (garbage costs less to refuse than to
  count). A device's own key, so that one looping phone slows no other.

Every check is one atomic upsert (``INSERT … ON CONFLICT … DO UPDATE … WHERE … RETURNING``):
the attempt is counted as a failure and let through only if the row allows it, or no row comes
back and the attempt is refused; a burst of concurrent attempts cannot slip past. A login's
claim is committed before the password is checked, so other workers see it at once and no row
stays locked while argon2 runs; a correct password then gives it back, committed at once too, so
that no login holds its address's row while it registers its device and mints its tokens (every
login from the address queued behind the one before: issue 20's morning). (So attempts in flight
count as failures: more than a handful of simultaneous logins to one account, or a whole
minute's budget of them from one address, may see a 429 for the moment they take.)

Old rows are pruned now and then (every ``PRUNE_EVERY`` login claims of a process, a bounded
batch that skips rows in use), so the tables stay about as large as the last day's failing
usernames and the last minute's addresses and refreshing devices.
"""

from __future__ import annotations

import itertools
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, text
from sqlalchemy.ext.asyncio import AsyncSession

from server.settings import Settings

WINDOW = timedelta(minutes=1)
FORGET_AFTER = timedelta(days=1)
"""A streak of failures whose last failure is older than this counts as none."""
PRUNE_EVERY = 64
PRUNE_BATCH = 1000

Limit = Literal["account", "address", "refresh"]


def now() -> datetime:
    """The throttle's clock (tests replace it)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Refusal:
    limit: Limit
    retry_after: int
    """Whole seconds until an attempt may be let through, at least 1."""


@dataclass(frozen=True)
class LoginClaim:
    """An attempt let through, counted as a failure until ``login_succeeded`` says otherwise."""

    address: str
    username: str
    window_start: datetime


def username_key(username: str) -> str:
    """The account limit's key: the username as logins look it up (lower-cased)."""
    return username.lower()[:64]


# The n-th failure in a row (n >= threshold) shuts the account for base * 2^(n - threshold)
# seconds, at most cap. The exponent is bounded so that power() cannot overflow.
def _lock_after(n: str) -> str:
    return (
        f"CASE WHEN {n} >= CAST(:threshold AS integer) THEN CAST(:at AS timestamptz) + make_interval(secs => "
        f"least(CAST(:base AS integer) * power(2, least({n} - CAST(:threshold AS integer), 30)), "
        "CAST(:cap AS integer))) END"
    )


_STREAK = "CASE WHEN t.last_failure_at <= CAST(:forget_before AS timestamptz) THEN 1 ELSE t.failures + 1 END"

_CLAIM_ACCOUNT = text(
    f"""
    INSERT INTO login_throttle_account AS t (username, failures, last_failure_at, locked_until)
    VALUES (:username, 1, CAST(:at AS timestamptz), {_lock_after("1")})
    ON CONFLICT (username) DO UPDATE SET
        failures = {_STREAK},
        last_failure_at = EXCLUDED.last_failure_at,
        locked_until = {_lock_after(_STREAK)}
    WHERE t.locked_until IS NULL OR t.locked_until <= EXCLUDED.last_failure_at
    RETURNING t.failures
    """
)

_EXPIRED = "t.window_start <= CAST(:expired_before AS timestamptz)"

_CLAIM_WINDOW = text(
    f"""
    INSERT INTO login_throttle_window AS t (scope, key, window_start, attempts)
    VALUES (:scope, :key, CAST(:at AS timestamptz), 1)
    ON CONFLICT (scope, key) DO UPDATE SET
        window_start = CASE WHEN {_EXPIRED} THEN EXCLUDED.window_start ELSE t.window_start END,
        attempts = CASE WHEN {_EXPIRED} THEN 1 ELSE t.attempts + 1 END
    WHERE {_EXPIRED} OR t.attempts < CAST(:limit AS integer)
    RETURNING t.window_start
    """
)

_GIVE_BACK = text(
    """
    UPDATE login_throttle_window SET attempts = attempts - 1
    WHERE scope = :scope AND key = :key AND window_start = CAST(:window_start AS timestamptz) AND attempts > 0
    """
)

_PRUNE_WINDOWS = text(
    """
    DELETE FROM login_throttle_window WHERE (scope, key) IN (
        SELECT scope, key FROM login_throttle_window
        WHERE window_start <= CAST(:expired_before AS timestamptz)
        LIMIT :batch FOR UPDATE SKIP LOCKED)
    """
)

_PRUNE_ACCOUNTS = text(
    """
    DELETE FROM login_throttle_account WHERE username IN (
        SELECT username FROM login_throttle_account
        WHERE last_failure_at <= CAST(:forget_before AS timestamptz)
          AND (locked_until IS NULL OR locked_until <= CAST(:at AS timestamptz))
        LIMIT :batch FOR UPDATE SKIP LOCKED)
    """
)

_claims = itertools.count(1)


def _seconds_until(moment: datetime, at: datetime) -> int:
    return max(1, math.ceil((moment - at).total_seconds()))


async def _claim_window(
    session: AsyncSession, scope: Literal["address", "refresh"], key: str, limit: int, at: datetime
) -> datetime | Refusal:
    """Count one attempt in ``key``'s current window: its start, or a refusal if it is full."""
    params = {"scope": scope, "key": key, "at": at, "expired_before": at - WINDOW, "limit": limit}
    started: datetime | None = (await session.execute(_CLAIM_WINDOW, params)).scalar()
    if started is not None:
        return started
    full = text("SELECT window_start FROM login_throttle_window WHERE scope = :scope AND key = :key")
    window_start: datetime = (await session.execute(full, {"scope": scope, "key": key})).scalar_one()
    return Refusal("refresh" if scope == "refresh" else "address", _seconds_until(window_start + WINDOW, at))


async def claim_login(
    session: AsyncSession, settings: Settings, address: str, username: str, at: datetime
) -> LoginClaim | Refusal:
    """Check both login limits for one attempt and count it, in the caller's transaction, which
    should commit right after (before the password is checked).

    The address is checked first: an attempt it refuses does not count against the account.
    An attempt the account refuses gives its address slot back."""
    claim = await _claim_login(session, settings, address, username, at)
    # Last, so that it only ever takes rows nobody holds (SKIP LOCKED) after the claim's own
    # locks, taken in the order every login takes them: no deadlock.
    if next(_claims) % PRUNE_EVERY == 0:
        await prune(session, at)
    return claim


async def _claim_login(
    session: AsyncSession, settings: Settings, address: str, username: str, at: datetime
) -> LoginClaim | Refusal:
    window_start = await _claim_window(session, "address", address, settings.login_rate_per_minute, at)
    if isinstance(window_start, Refusal):
        return window_start
    key = username_key(username)
    params: dict[str, Any] = {
        "username": key,
        "at": at,
        "forget_before": at - FORGET_AFTER,
        "threshold": settings.login_lockout_failures,
        "base": settings.login_backoff_seconds,
        "cap": settings.login_backoff_max_seconds,
    }
    if (await session.execute(_CLAIM_ACCOUNT, params)).first() is None:
        locked = text("SELECT locked_until FROM login_throttle_account WHERE username = :username")
        locked_until: datetime = (await session.execute(locked, {"username": key})).scalar_one()
        await _give_back(session, "address", address, window_start)
        return Refusal("account", _seconds_until(locked_until, at))
    return LoginClaim(address=address, username=key, window_start=window_start)


async def login_succeeded(session: AsyncSession, claim: LoginClaim) -> None:
    """The password was right: the address gets its slot back and the account's streak ends
    (rows locked in the order the claim locks them). The caller commits right after."""
    await _give_back(session, "address", claim.address, claim.window_start)
    await session.execute(
        text("DELETE FROM login_throttle_account WHERE username = :username"), {"username": claim.username}
    )


async def claim_refresh(
    session: AsyncSession, settings: Settings, device_id: uuid.UUID, at: datetime
) -> Refusal | None:
    """Count one refresh for the device; a refusal if it has had its share this minute."""
    claimed = await _claim_window(session, "refresh", str(device_id), settings.login_rate_per_minute, at)
    return claimed if isinstance(claimed, Refusal) else None


async def _give_back(
    session: AsyncSession, scope: Literal["address", "refresh"], key: str, window_start: datetime
) -> None:
    # Only to the window the attempt was counted in: a newer window owes it nothing.
    await session.execute(_GIVE_BACK, {"scope": scope, "key": key, "window_start": window_start})


async def prune(session: AsyncSession, at: datetime) -> int:
    """Delete a batch of rows that no longer limit anything; how many went."""
    removed = 0
    for statement, params in (
        (_PRUNE_WINDOWS, {"expired_before": at - WINDOW}),
        (_PRUNE_ACCOUNTS, {"forget_before": at - FORGET_AFTER, "at": at}),
    ):
        result = cast(CursorResult[Any], await session.execute(statement, {**params, "batch": PRUNE_BATCH}))
        removed += result.rowcount
    return removed
