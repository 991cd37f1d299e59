"""Routes for logging in and out, the caller's identity, users and devices."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Request, Router, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from schemas.auth import DeviceOut, LoginRequest, LogoutRequest, RefreshRequest, Role, TokenPair, UserOut
from server.auth import repository as repo
from server.auth import service
from server.auth.clients import client_address_of
from server.auth.guards import ALL_ROLES, PUBLIC, allow
from server.auth.service import Principal
from server.deps import Config, Db
from server.errors import DeviceRevoked, InvalidCredentials, RateLimited, TokenInvalid
from server.logging import request_id_of

AuthRequest = Request[Principal, str, Any]


def _user_out(user: object) -> UserOut:
    return msgspec.convert(user, UserOut, from_attributes=True)


@post("/auth/login", opt=PUBLIC, status_code=200)
async def login(data: JSONBody[LoginRequest], db: Db, settings: Config, request: Request[Any, Any, Any]) -> TokenPair:
    address = client_address_of(request, settings)
    try:
        return await service.login(db, settings, data, request_id_of(request.scope), address)
    except (InvalidCredentials, DeviceRevoked, RateLimited):
        await db.commit()  # the refusal's audit row is kept, and the failure counted
        raise


@post("/auth/refresh", opt=PUBLIC, status_code=200)
async def refresh(
    data: JSONBody[RefreshRequest], db: Db, settings: Config, request: Request[Any, Any, Any]
) -> TokenPair:
    try:
        return await service.refresh(db, settings, data.refresh_token, request_id_of(request.scope))
    except TokenInvalid:
        await db.commit()  # a detected token reuse has already ended the device's sessions
        raise


@post("/auth/logout", opt=allow(*ALL_ROLES), status_code=204)
async def logout(request: AuthRequest, db: Db, data: JSONBody[LogoutRequest | None] = None) -> None:
    await service.logout(db, request.user, request_id_of(request.scope))


@get("/users/me", opt=allow(*ALL_ROLES))
async def me(request: AuthRequest, db: Db) -> UserOut:
    user = await repo.user_by_id(db, request.user.user_id)
    return _user_out(user)


@get("/users", opt=allow(Role.SUPERVISOR, Role.ADMIN))
async def list_users(db: Db, role: FromQuery[Role | None] = None) -> list[UserOut]:
    return [_user_out(u) for u in await repo.list_users(db, role.value if role else None)]


@get("/devices", opt=allow(Role.SUPERVISOR, Role.ADMIN))
async def list_devices(request: AuthRequest, db: Db) -> list[DeviceOut]:
    team = None
    if request.user.role == Role.SUPERVISOR:
        team = await repo.team_member_ids(db, request.user.user_id)
    devices = await repo.list_devices(db, team)
    return [msgspec.convert(d, DeviceOut, from_attributes=True) for d in devices]


@post("/devices/{device_id:uuid}/revoke", opt=allow(Role.SUPERVISOR, Role.ADMIN), status_code=200)
async def revoke_device(request: AuthRequest, db: Db, device_id: FromPath[uuid.UUID]) -> DeviceOut:
    device = await service.revoke_device(db, request.user.actor(request_id_of(request.scope)), device_id)
    return msgspec.convert(device, DeviceOut, from_attributes=True)


router = Router(path="/", route_handlers=[login, refresh, logout, me, list_users, list_devices, revoke_device])
