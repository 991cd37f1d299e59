"""The refresh reuse grace: a phone whose answer to ``POST /auth/refresh`` was lost asks again
with the same token and gets the same pair, instead of being logged out as a thief (issue 20)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from server.audit import Actor, AuditEntry
from server.auth import service, tokens
from server.auth.models import Device, RefreshToken
from server.db import SessionFactory, create_engine, create_session_factory
from server.settings import Settings
from tests.conftest import PASSWORD, app_for, client_for, make_settings
from tests.helpers import Client, bearer, login


async def refresh(client: Client, pair: dict[str, Any], request_id: str | None = None) -> httpx.Response:
    headers = {"X-Request-ID": request_id} if request_id else None
    return await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}, headers=headers)


def token_id(pair: dict[str, Any], settings: Settings) -> uuid.UUID:
    return tokens.decode(settings.jwt_secret, pair["refresh_token"], "refresh").token_id


async def actions(db: AsyncSession, device_id: uuid.UUID) -> list[str]:
    rows = await db.scalars(select(AuditEntry.action).where(AuditEntry.device_id == device_id).order_by(AuditEntry.id))
    return [a for a in rows if a.startswith("auth.refresh")]


async def epoch(db: AsyncSession, device_id: uuid.UUID) -> int:
    value = await db.scalar(select(Device.session_epoch).where(Device.id == device_id))
    assert value is not None
    return value


async def test_a_lost_answer_asked_again_within_the_grace_gets_the_same_pair_and_the_session_lives(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    phone = uuid.uuid4()
    first = await login(client, "cm1", device_id=phone)
    lost = await refresh(client, first)  # committed on the server; the phone never sees it
    assert lost.status_code == 200

    again = await refresh(client, first, request_id="req-replayed")
    assert again.status_code == 200, again.text
    assert again.content == lost.content  # the very same pair, byte for byte
    pair = again.json()
    assert (await client.get("/users/me", headers=bearer(pair))).status_code == 200
    following = await refresh(client, pair)
    assert following.status_code == 200, following.text
    assert following.json()["refresh_token"] != pair["refresh_token"]
    assert (await client.get("/users/me", headers=bearer(following.json()))).status_code == 200

    assert await epoch(db, phone) == 0
    assert await actions(db, phone) == ["auth.refresh_replayed"]
    row = await db.scalar(select(AuditEntry).where(AuditEntry.request_id == "req-replayed"))
    assert row is not None and row.detail is not None
    assert row.detail == {"token_id": str(token_id(first, settings)), "answered": str(token_id(pair, settings))}
    used = await db.get(RefreshToken, token_id(first, settings))
    assert used is not None and used.successor_id == token_id(pair, settings)


async def test_a_late_duplicate_after_the_phone_moved_on_gets_the_chains_newest_pair(
    client: Client, db: AsyncSession
) -> None:
    """The phone got its answer and refreshed again; then a duplicate of its first request came
    in (a retry delayed on the way). It answers the device's current pair, which still works."""
    phone = uuid.uuid4()
    first = await login(client, "cm1", device_id=phone)
    second = (await refresh(client, first)).json()
    third = await refresh(client, second)
    assert third.status_code == 200

    late = await refresh(client, first)
    assert late.status_code == 200, late.text
    assert late.content == third.content
    assert (await refresh(client, third.json())).status_code == 200
    assert await epoch(db, phone) == 0
    assert await actions(db, phone) == ["auth.refresh_replayed"]


async def test_reuse_after_the_grace_ends_the_devices_sessions_and_is_audited(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    phone = uuid.uuid4()
    first = await login(client, "cm1", device_id=phone)
    second = (await refresh(client, first)).json()
    grace = timedelta(seconds=settings.refresh_reuse_grace_seconds + 1)
    await db.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token_id(first, settings))
        .values(used_at=RefreshToken.used_at - grace)
    )
    await db.commit()

    replay = await refresh(client, first, request_id="req-theft")
    assert (replay.status_code, replay.json()["code"]) == (401, "token_invalid")
    assert (await client.get("/users/me", headers=bearer(second))).status_code == 401
    assert (await refresh(client, second)).status_code == 401
    assert await epoch(db, phone) == 1
    row = await db.scalar(select(AuditEntry).where(AuditEntry.request_id == "req-theft"))
    assert row is not None and row.action == "auth.refresh_reuse"
    assert await actions(db, phone) == ["auth.refresh_reuse"]


async def test_no_grace_takes_any_reuse_as_theft_as_before(session_factory: SessionFactory, db: AsyncSession) -> None:
    app = app_for(make_settings(refresh_reuse_grace_seconds=0), session_factory)
    phone = uuid.uuid4()
    async with client_for(app) as client:
        first = await login(client, "cm1", device_id=phone)
        second = (await refresh(client, first)).json()
        replay = await refresh(client, first)
        assert (replay.status_code, replay.json()["code"]) == (401, "token_invalid")
        assert (await client.get("/users/me", headers=bearer(second))).status_code == 401
    assert await epoch(db, phone) == 1
    assert await actions(db, phone) == ["auth.refresh_reuse"]


async def test_the_grace_does_not_outlive_a_logout(client: Client, db: AsyncSession) -> None:
    phone = uuid.uuid4()
    first = await login(client, "cm1", device_id=phone)
    second = (await refresh(client, first)).json()
    assert (await client.post("/auth/logout", headers=bearer(second))).status_code == 204
    replay = await refresh(client, first)
    assert (replay.status_code, replay.json()["code"]) == (401, "token_invalid")
    assert "auth.refresh_replayed" not in await actions(db, phone)


async def test_the_grace_does_not_outlive_a_revoked_device(client: Client) -> None:
    phone = uuid.uuid4()
    first = await login(client, "cm1", device_id=phone)
    assert (await refresh(client, first)).status_code == 200
    sup = await login(client, "sup1")
    assert (await client.post(f"/devices/{phone}/revoke", headers=bearer(sup))).status_code == 200
    replay = await refresh(client, first)
    assert (replay.status_code, replay.json()["code"]) == (401, "device_revoked")


async def test_the_grace_does_not_outlive_a_disabled_user(client: Client, db: AsyncSession) -> None:
    first = await login(client, "cm3")
    assert (await refresh(client, first)).status_code == 200
    await service.disable_user(db, Actor.system(), "cm3")
    await db.commit()
    replay = await refresh(client, first)
    assert (replay.status_code, replay.json()["code"]) == (401, "token_invalid")


async def test_a_replay_costs_one_refresh_of_the_devices_budget_as_any_retry_did(
    session_factory: SessionFactory,
) -> None:
    """Counted like the retry it is, before the token is looked at: three refreshes a minute let
    a refresh, its replay and the next refresh through, as three refreshes went through before."""
    app = app_for(make_settings(login_rate_per_minute=3), session_factory)
    async with client_for(app) as client:
        first = await login(client, "cm1")
        lost = await refresh(client, first)
        again = await refresh(client, first)
        following = await refresh(client, again.json())
        over = await refresh(client, following.json())
    assert [r.status_code for r in (lost, again, following, over)] == [200, 200, 200, 429]
    assert again.content == lost.content


async def test_refreshes_with_one_token_at_once_all_get_the_same_pair(fresh_database: str) -> None:
    """The phone retried while its first refresh was still running: real commits, a pool of
    connections, the requests all in flight together."""
    engine = create_engine(fresh_database)
    try:
        factory = create_session_factory(engine)
        async with factory() as session:
            await service.create_user(session, Actor.system(), username="field", password=PASSWORD, role=Role.ADMIN)
            await session.commit()
        app = app_for(make_settings(), factory)
        async with client_for(app) as client:
            first = await login(client, "field")
            answers = await asyncio.gather(*(refresh(client, first) for _ in range(4)))
            assert [r.status_code for r in answers] == [200] * 4, [r.text for r in answers]
            assert len({r.content for r in answers}) == 1
            pair = answers[0].json()
            assert (await client.get("/users/me", headers=bearer(pair))).status_code == 200
            assert (await refresh(client, pair)).status_code == 200
        async with factory() as session:
            device_id = tokens.decode(make_settings().jwt_secret, first["refresh_token"], "refresh").device_id
            assert await epoch(session, device_id) == 0
            assert await actions(session, device_id) == ["auth.refresh_replayed"] * 3
    finally:
        await engine.dispose()
