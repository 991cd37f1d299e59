"""Queries for users, devices and refresh tokens."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import Device, RefreshToken, User


async def user_by_username(session: AsyncSession, username: str) -> User | None:
    return await session.scalar(select(User).where(func.lower(User.username) == username.lower()))


async def user_by_id(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def list_users(session: AsyncSession, role: str | None = None) -> Sequence[User]:
    query = select(User).order_by(User.username)
    if role is not None:
        query = query.where(User.role == role)
    return (await session.scalars(query)).all()


async def device_by_id(session: AsyncSession, device_id: uuid.UUID, *, lock: bool = False) -> Device | None:
    query = select(Device).where(Device.id == device_id)
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def device_with_user(session: AsyncSession, device_id: uuid.UUID) -> tuple[Device, User] | None:
    row = (
        await session.execute(select(Device, User).join(User, User.id == Device.user_id).where(Device.id == device_id))
    ).first()
    return None if row is None else (row[0], row[1])


class DeviceAuth(NamedTuple):
    """What ``authenticate`` checks and keeps of a device and its user."""

    user_id: uuid.UUID
    session_epoch: int
    revoked: bool
    username: str
    display_name: str
    role: str
    supervisor_id: uuid.UUID | None
    active: bool


_DEVICE_AUTH = (
    "SELECT d.user_id, d.session_epoch, d.revoked_at IS NOT NULL, u.username, u.display_name, u.role, "
    "u.supervisor_id, u.disabled_at IS NULL "
    "FROM device AS d JOIN user_account AS u ON u.id = d.user_id WHERE d.id = $1"
)


async def device_auth(session: AsyncSession, device_id: uuid.UUID) -> DeviceAuth | None:
    """The device and its user for one request's authentication: one lean statement (asyncpg's
    ``$1``), no ORM entities; it runs on every authenticated request."""
    conn = await session.connection()
    row = (await conn.exec_driver_sql(_DEVICE_AUTH, (device_id,))).first()
    return None if row is None else DeviceAuth._make(row)


async def list_devices(session: AsyncSession, user_ids: Sequence[uuid.UUID] | None = None) -> Sequence[Device]:
    query = select(Device).order_by(Device.registered_at)
    if user_ids is not None:
        query = query.where(Device.user_id.in_(user_ids))
    return (await session.scalars(query)).all()


async def team_member_ids(session: AsyncSession, supervisor_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await session.scalars(select(User.id).where(User.supervisor_id == supervisor_id))
    return [supervisor_id, *rows]


async def refresh_token_for_update(session: AsyncSession, token_id: uuid.UUID) -> RefreshToken | None:
    return await session.scalar(select(RefreshToken).where(RefreshToken.id == token_id).with_for_update())
