"""Logging in, refreshing, logging out, and revoking devices."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import tokens
from server.auth.models import Device, RefreshToken
from server.settings import Settings
from tests.helpers import Client, bearer, device, login


async def test_login_returns_bearer_token_pair(client: Client) -> None:
    body = await login(client, "cm1")
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["access_token"] and body["refresh_token"]


async def test_users_me_answers_the_callers_identity(client: Client) -> None:
    cm = await login(client, "cm1")
    me = (await client.get("/users/me", headers=bearer(cm))).json()
    sup = await login(client, "sup1")
    sup_me = (await client.get("/users/me", headers=bearer(sup))).json()
    assert set(me) == {"id", "username", "display_name", "role", "supervisor_id"}
    assert me["username"] == "cm1" and me["role"] == "case_manager"
    assert me["supervisor_id"] == sup_me["id"]
    assert sup_me["supervisor_id"] is None


async def test_login_is_case_insensitive_in_the_username(client: Client) -> None:
    await login(client, "CM1")


async def test_login_registers_the_device_and_binds_it_to_the_user(client: Client, db: AsyncSession) -> None:
    device_id = uuid.uuid4()
    await login(client, "cm2", device_id=device_id)
    row = await db.scalar(select(Device).where(Device.id == device_id))
    assert row is not None
    assert row.platform == "android" and row.name == "Test phone"


async def test_wrong_password_unknown_user_and_disabled_user_look_the_same(client: Client) -> None:
    await client.post("/users/me")  # warm nothing; just a request
    admin = await login(client, "admin")
    assert admin
    bodies = []
    for username, password in (("cm1", "wrong"), ("nobody", "wrong")):
        response = await client.post(
            "/auth/login", json={"username": username, "password": password, "device": device()}
        )
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        bodies.append(response.json())
    assert bodies[0] == bodies[1]
    assert bodies[0]["code"] == "invalid_credentials"


async def test_disabled_user_cannot_log_in_and_loses_her_tokens(client: Client, db: AsyncSession) -> None:
    from server.audit import Actor
    from server.auth import service

    tokens_before = await login(client, "cm3")
    await service.disable_user(db, Actor.system(), "cm3")
    await db.commit()
    response = await client.get("/users/me", headers=bearer(tokens_before))
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"
    response = await client.post("/auth/login", json={"username": "cm3", "password": "x", "device": device()})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


async def test_refresh_rotates_and_a_reused_refresh_token_ends_the_devices_sessions(
    client: Client, db: AsyncSession
) -> None:
    first = await login(client, "cm1")
    response = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await client.get("/users/me", headers=bearer(second))).status_code == 200

    # Past the reuse grace (tests/test_auth_refresh_grace.py has what happens within it).
    await db.execute(update(RefreshToken).values(used_at=RefreshToken.used_at - timedelta(hours=1)))
    await db.commit()
    replay = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert replay.json()["code"] == "token_invalid"
    # The theft is assumed: the legitimate holder's tokens die too.
    assert (await client.get("/users/me", headers=bearer(second))).status_code == 401
    again = await client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert again.status_code == 401


async def test_access_token_cannot_be_used_to_refresh(client: Client) -> None:
    pair = await login(client, "cm1")
    response = await client.post("/auth/refresh", json={"refresh_token": pair["access_token"]})
    assert response.status_code == 401


async def test_logout_invalidates_access_and_refresh_tokens_at_once(client: Client) -> None:
    pair = await login(client, "cm1")
    response = await client.post("/auth/logout", headers=bearer(pair))
    assert response.status_code == 204
    assert (await client.get("/users/me", headers=bearer(pair))).status_code == 401
    response = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert response.status_code == 401


async def test_expired_access_token_is_refused(client: Client, settings: Settings) -> None:
    pair = await login(client, "cm1")
    claims = tokens.decode(settings.jwt_secret, pair["access_token"], "access")
    expired = tokens.new_claims("access", claims.user_id, claims.device_id, claims.epoch, ttl_seconds=-60)
    response = await client.get(
        "/users/me", headers={"Authorization": "Bearer " + tokens.encode(settings.jwt_secret, expired)}
    )
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


async def test_token_signed_with_another_secret_is_refused(client: Client, settings: Settings) -> None:
    pair = await login(client, "cm1")
    claims = tokens.decode(settings.jwt_secret, pair["access_token"], "access")
    forged = tokens.encode("another-secret-" + "y" * 40, claims)
    response = await client.get("/users/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


async def test_missing_or_malformed_authorization_is_401(client: Client) -> None:
    assert (await client.get("/users/me")).json()["code"] == "not_authenticated"
    response = await client.get("/users/me", headers={"Authorization": "Basic abc"})
    assert response.status_code == 401
    response = await client.get("/users/me", headers={"Authorization": "Bearer not-a-jwt"})
    assert response.status_code == 401 and response.json()["code"] == "token_invalid"


async def test_revoked_device_gets_device_revoked_at_once(client: Client) -> None:
    phone = uuid.uuid4()
    cm = await login(client, "cm1", device_id=phone)
    sup = await login(client, "sup1")
    response = await client.post(f"/devices/{phone}/revoke", headers=bearer(sup))
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None

    response = await client.get("/users/me", headers=bearer(cm))
    assert response.status_code == 401
    assert response.json()["code"] == "device_revoked"
    refreshed = await client.post("/auth/refresh", json={"refresh_token": cm["refresh_token"]})
    assert refreshed.json()["code"] == "device_revoked"
    relogin = await client.post(
        "/auth/login",
        json={"username": "cm1", "password": "correct horse battery staple", "device": device(phone)},
    )
    assert relogin.status_code == 401
    assert relogin.json()["code"] == "device_revoked"


async def test_supervisor_cannot_revoke_another_teams_device(client: Client) -> None:
    phone = uuid.uuid4()
    await login(client, "cm5", device_id=phone)  # cm5 is on sup2's team
    sup1 = await login(client, "sup1")
    response = await client.post(f"/devices/{phone}/revoke", headers=bearer(sup1))
    assert (response.status_code, response.json()["code"]) == (404, "not_found")  # no hint that it exists
    admin = await login(client, "admin")
    assert (await client.post(f"/devices/{phone}/revoke", headers=bearer(admin))).status_code == 200


async def test_revoking_an_unknown_device_is_404(client: Client) -> None:
    admin = await login(client, "admin")
    response = await client.post(f"/devices/{uuid.uuid4()}/revoke", headers=bearer(admin))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_logging_in_as_another_user_rebinds_the_device(client: Client) -> None:
    phone = uuid.uuid4()
    first = await login(client, "cm1", device_id=phone)
    await login(client, "cm2", device_id=phone)
    assert (await client.get("/users/me", headers=bearer(first))).status_code == 401
    sup = await login(client, "sup1")
    devices = (await client.get("/devices", headers=bearer(sup))).json()
    me2 = [d for d in devices if d["id"] == str(phone)]
    assert len(me2) == 1
