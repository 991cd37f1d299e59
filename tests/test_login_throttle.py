"""Login throttling: per account, per client address and per refreshing device, in PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from server.app import create_app
from server.audit import Actor, AuditEntry
from server.db import SessionFactory, create_engine, create_session_factory
from tests.conftest import PASSWORD, app_for, make_settings
from tests.helpers import device


def client_at(app: Litestar, address: str) -> httpx.AsyncClient:
    """A client whose requests reach the app from ``address`` (the TCP peer)."""
    transport = httpx.ASGITransport(app=cast(Any, app), client=(address, 50123))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def attempt(
    client: httpx.AsyncClient, username: str, password: str = "wrong", headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post(
        "/auth/login", json={"username": username, "password": password, "device": device()}, headers=headers
    )


async def test_thirty_addresses_guessing_one_account_are_stopped_even_with_the_right_password(
    session_factory: SessionFactory, db: AsyncSession
) -> None:
    app = app_for(make_settings(), session_factory)
    statuses = []
    for i in range(30):
        async with client_at(app, f"198.51.100.{i + 1}") as client:
            statuses.append((await attempt(client, "cm1")).status_code)
    async with client_at(app, "203.0.113.77") as client:
        right = await attempt(client, "cm1", PASSWORD, headers={"X-Request-ID": "req-throttled"})

    assert statuses[:5] == [401] * 5
    assert set(statuses[5:]) == {429}
    assert right.status_code == 429
    assert right.headers["content-type"].startswith("application/problem+json")
    body = right.json()
    assert body["code"] == "rate_limited"
    assert body["type"] == "urn:doorstep:problem:rate_limited"
    assert 1 <= int(right.headers["retry-after"]) <= 30
    assert body["retry_after"] == int(right.headers["retry-after"])
    rows = (await db.scalars(select(AuditEntry).where(AuditEntry.request_id == "req-throttled"))).all()
    assert [r.action for r in rows] == ["auth.login_throttled"]
    assert rows[0].entity_id is not None
    assert rows[0].detail is not None and rows[0].detail["username"] == "cm1"
    assert rows[0].detail["limit"] == "account"


async def test_failures_for_an_unknown_username_count_too(session_factory: SessionFactory) -> None:
    app = app_for(make_settings(), session_factory)
    statuses = []
    for i in range(7):
        async with client_at(app, f"198.51.100.{i + 1}") as client:
            statuses.append((await attempt(client, "Nobody-Here")).status_code)
    async with client_at(app, "198.51.100.99") as client:
        other_case = await attempt(client, "NOBODY-HERE")
    assert statuses == [401] * 5 + [429] * 2
    assert other_case.status_code == 429  # the same account, whatever the case


async def test_the_back_off_doubles_per_failure_up_to_the_cap_and_a_success_resets_it(
    session_factory: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.auth import throttle

    clock = [datetime(2026, 3, 2, 8, 0, tzinfo=UTC)]
    monkeypatch.setattr(throttle, "now", lambda: clock[0])

    def advance(seconds: float) -> None:
        clock[0] += timedelta(seconds=seconds)

    app = app_for(make_settings(login_backoff_max_seconds=100), session_factory)
    async with client_at(app, "198.51.100.1") as client:
        for _ in range(5):
            assert (await attempt(client, "cm2")).status_code == 401
        refused = await attempt(client, "cm2", PASSWORD)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "30"
        advance(29)
        assert (await attempt(client, "cm2", PASSWORD)).headers["retry-after"] == "1"
        advance(1)
        assert (await attempt(client, "cm2")).status_code == 401  # the 6th failure: 60 s
        assert (await attempt(client, "cm2", PASSWORD)).headers["retry-after"] == "60"
        advance(60)
        assert (await attempt(client, "cm2")).status_code == 401  # the 7th: 120 s, capped at 100
        assert (await attempt(client, "cm2", PASSWORD)).headers["retry-after"] == "100"
        advance(100)
        assert (await attempt(client, "cm2", PASSWORD)).status_code == 200
        # The count starts again from nothing.
        for _ in range(5):
            assert (await attempt(client, "cm2")).status_code == 401
        assert (await attempt(client, "cm2")).status_code == 429


async def test_a_streak_of_failures_is_forgotten_after_a_day(
    session_factory: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.auth import throttle

    clock = [datetime(2026, 3, 2, 8, 0, tzinfo=UTC)]
    monkeypatch.setattr(throttle, "now", lambda: clock[0])
    app = app_for(make_settings(), session_factory)
    async with client_at(app, "198.51.100.1") as client:
        for _ in range(4):
            assert (await attempt(client, "cm2")).status_code == 401
        clock[0] += timedelta(hours=25)
        for _ in range(4):
            assert (await attempt(client, "cm2")).status_code == 401
        assert (await attempt(client, "cm2", PASSWORD)).status_code == 200


@asynccontextmanager
async def committing_app(database_url: str, **settings: Any) -> AsyncIterator[Litestar]:
    """An app on a database of its own, with real commits and a pool of connections, and a user
    ``target`` (password PASSWORD)."""
    from server.auth import service

    engine = create_engine(database_url)
    try:
        factory = create_session_factory(engine)
        async with factory() as session:
            await service.create_user(session, Actor.system(), username="target", password=PASSWORD, role=Role.ADMIN)
            await session.commit()
        yield app_for(make_settings(**settings), factory)
    finally:
        await engine.dispose()


async def burst(app: Litestar, attempts: list[tuple[str, str, str]]) -> list[int]:
    """(address, username, password) attempts, all at once; their statuses, sorted."""
    clients = [client_at(app, address) for address, _, _ in attempts]
    try:
        responses = await asyncio.gather(
            *(attempt(c, username, password) for c, (_, username, password) in zip(clients, attempts, strict=True))
        )
    finally:
        for c in clients:
            await c.aclose()
    return sorted(r.status_code for r in responses)


async def test_concurrent_guesses_at_one_account_get_no_more_than_the_allowed_failures(fresh_database: str) -> None:
    """The check is one atomic upsert per attempt, so a burst cannot slip past it."""
    async with committing_app(fresh_database) as app:
        statuses = await burst(app, [(f"198.51.100.{i + 1}", "target", "wrong") for i in range(20)])
    assert statuses == [401] * 5 + [429] * 15


async def test_concurrent_guesses_from_one_address_get_no_more_than_its_budget(fresh_database: str) -> None:
    async with committing_app(fresh_database, login_rate_per_minute=4) as app:
        statuses = await burst(app, [("192.0.2.66", f"ghost{i}", "wrong") for i in range(20)])
    assert statuses == [401] * 4 + [429] * 16


async def test_concurrent_rights_and_wrongs_at_one_account_from_one_address_settle(
    fresh_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Successes, failures and pruning at once on the same rows: no deadlock, no error."""
    from server.auth import throttle

    monkeypatch.setattr(throttle, "PRUNE_EVERY", 1)
    async with committing_app(fresh_database) as app:
        mixed = [("192.0.2.10", "target", PASSWORD if i % 2 else "wrong") for i in range(16)]
        statuses = await burst(app, mixed)
        # Whatever the order was, the account is usable again once it has waited.
        monkeypatch.setattr(throttle, "now", lambda: datetime.now(UTC) + timedelta(minutes=16))
        async with client_at(app, "192.0.2.10") as client:
            after = await attempt(client, "target", PASSWORD)
    assert set(statuses) <= {200, 401, 429}, statuses
    assert after.status_code == 200, after.text


async def test_many_users_behind_one_address_log_in_and_refresh(session_factory: SessionFactory) -> None:
    """A school's NAT: everyone shares one address; successes do not use up its budget."""
    app = app_for(make_settings(login_rate_per_minute=3), session_factory)
    async with client_at(app, "192.0.2.10") as client:
        pairs = []
        for username in ("cm1", "cm2", "cm3", "cm4", "sup1", "office1"):
            response = await attempt(client, username, PASSWORD)
            assert response.status_code == 200, response.text
            pairs.append(response.json())
        for pair in pairs:
            response = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
            assert response.status_code == 200, response.text


async def test_one_persons_typos_do_not_lock_everyone_behind_the_address_out(session_factory: SessionFactory) -> None:
    app = app_for(make_settings(login_rate_per_minute=10), session_factory)
    async with client_at(app, "192.0.2.10") as client:
        statuses = [(await attempt(client, "cm1")).status_code for _ in range(12)]
        colleague = await attempt(client, "cm2", PASSWORD)
    assert statuses == [401] * 5 + [429] * 7  # her account backs off; the address keeps its budget
    assert colleague.status_code == 200


async def test_an_address_guessing_many_accounts_is_limited(session_factory: SessionFactory, db: AsyncSession) -> None:
    app = app_for(make_settings(login_rate_per_minute=3), session_factory)
    async with client_at(app, "192.0.2.66") as client:
        statuses = [(await attempt(client, f"cm{i}")).status_code for i in range(1, 6)]
        right = await attempt(client, "cm8", PASSWORD, headers={"X-Request-ID": "req-address"})
    async with client_at(app, "192.0.2.67") as elsewhere:
        assert (await attempt(elsewhere, "cm8", PASSWORD)).status_code == 200
    assert statuses == [401, 401, 401, 429, 429]
    assert right.status_code == 429
    assert 1 <= int(right.headers["retry-after"]) <= 60
    row = await db.scalar(select(AuditEntry).where(AuditEntry.request_id == "req-address"))
    assert row is not None and row.action == "auth.login_throttled"
    assert row.detail is not None
    assert (row.detail["username"], row.detail["limit"], row.detail["address"]) == ("cm8", "address", "192.0.2.66")
    assert row.detail["retry_after"] == int(right.headers["retry-after"])


async def test_workers_share_the_limits_through_the_database(session_factory: SessionFactory) -> None:
    """Two app instances (two workers) with nothing in common but the database."""
    settings = make_settings(login_rate_per_minute=3)
    first = create_app(settings, session_factory=session_factory)
    second = create_app(settings, session_factory=session_factory)
    async with client_at(first, "192.0.2.66") as a, client_at(second, "192.0.2.66") as b:
        statuses = [
            (await attempt(a, "ghost1")).status_code,
            (await attempt(a, "ghost2")).status_code,
            (await attempt(b, "ghost3")).status_code,
            (await attempt(b, "ghost4")).status_code,
        ]
    assert statuses == [401, 401, 401, 429]


async def test_refresh_is_limited_per_device_not_per_address(session_factory: SessionFactory) -> None:
    app = app_for(make_settings(login_rate_per_minute=3), session_factory)
    async with client_at(app, "192.0.2.10") as client:
        pair = (await attempt(client, "cm1", PASSWORD)).json()
        statuses = []
        for _ in range(4):
            response = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
            statuses.append(response.status_code)
            if response.status_code == 200:
                pair = response.json()
        other = (await attempt(client, "cm2", PASSWORD)).json()
        other_refresh = await client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert statuses == [200, 200, 200, 429]
    assert other_refresh.status_code == 200
    # Garbage is refused before any counting: there is no device to count it against.
    async with client_at(app, "192.0.2.10") as client:
        for _ in range(5):
            response = await client.post("/auth/refresh", json={"refresh_token": "not-a-token"})
            assert response.status_code == 401


async def test_old_rows_are_pruned(session_factory: SessionFactory, db: AsyncSession) -> None:
    from server.auth import throttle
    from server.auth.models import LoginThrottleAccount, LoginThrottleWindow

    t0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    db.add_all(
        [
            LoginThrottleWindow(scope="address", key="192.0.2.1", window_start=t0 - timedelta(minutes=2), attempts=3),
            LoginThrottleWindow(scope="address", key="192.0.2.2", window_start=t0 - timedelta(seconds=10), attempts=3),
            LoginThrottleAccount(username="old", failures=4, last_failure_at=t0 - timedelta(hours=25)),
            LoginThrottleAccount(
                username="locked", failures=9, last_failure_at=t0 - timedelta(minutes=1), locked_until=t0
            ),
        ]
    )
    await db.flush()
    assert await throttle.prune(db, t0) == 2
    assert set(await db.scalars(select(LoginThrottleWindow.key))) == {"192.0.2.2"}
    assert set(await db.scalars(select(LoginThrottleAccount.username))) == {"locked"}


async def test_login_attempts_prune_now_and_then(
    session_factory: SessionFactory, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.auth import throttle
    from server.auth.models import LoginThrottleAccount

    monkeypatch.setattr(throttle, "PRUNE_EVERY", 1)
    db.add(LoginThrottleAccount(username="stale", failures=2, last_failure_at=throttle.now() - timedelta(days=2)))
    await db.commit()
    app = app_for(make_settings(), session_factory)
    async with client_at(app, "192.0.2.1") as client:
        await attempt(client, "cm1")
    assert await db.scalar(select(LoginThrottleAccount).where(LoginThrottleAccount.username == "stale")) is None


def test_settings_read_the_throttle_variables() -> None:
    from server.settings import Settings, SettingsError

    settings = Settings.from_env(
        {
            "DOORSTEP_LOGIN_RATE_PER_MINUTE": "20",
            "DOORSTEP_LOGIN_LOCKOUT_FAILURES": "3",
            "DOORSTEP_LOGIN_BACKOFF_SECONDS": "10",
            "DOORSTEP_LOGIN_BACKOFF_MAX_SECONDS": "600",
        }
    )
    assert (settings.login_rate_per_minute, settings.login_lockout_failures) == (20, 3)
    assert (settings.login_backoff_seconds, settings.login_backoff_max_seconds) == (10, 600)
    defaults = Settings.from_env({})
    assert (defaults.login_rate_per_minute, defaults.login_lockout_failures) == (10, 5)
    assert (defaults.login_backoff_seconds, defaults.login_backoff_max_seconds) == (30, 900)
    with pytest.raises(SettingsError, match="DOORSTEP_LOGIN_RATE_PER_MINUTE"):
        Settings.from_env({"DOORSTEP_LOGIN_RATE_PER_MINUTE": "0"})
    with pytest.raises(SettingsError, match="DOORSTEP_LOGIN_LOCKOUT_FAILURES"):
        Settings.from_env({"DOORSTEP_LOGIN_LOCKOUT_FAILURES": "-1"})
