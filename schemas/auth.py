"""Wire structs for logging in, tokens, users and devices."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec


class Role(enum.StrEnum):
    CASE_MANAGER = "case_manager"
    SUPERVISOR = "supervisor"
    OFFICE_STAFF = "office_staff"
    ATTENDANCE_COUNSELOR = "attendance_counselor"
    ADMIN = "admin"


Username = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class DeviceInfo(msgspec.Struct, forbid_unknown_fields=False):
    """The phone (or browser) logging in. ``id`` is a UUID made on the device."""

    id: uuid.UUID
    name: Annotated[str, msgspec.Meta(max_length=120)] = ""
    platform: Annotated[str, msgspec.Meta(max_length=40)] = ""
    app_version: Annotated[str, msgspec.Meta(max_length=40)] = ""


class LoginRequest(msgspec.Struct):
    username: Username
    password: Password
    device: DeviceInfo


class RefreshRequest(msgspec.Struct):
    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]


class LogoutRequest(msgspec.Struct):
    refresh_token: str | None = None


class TokenPair(msgspec.Struct):
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: Literal["bearer"] = "bearer"


class UserOut(msgspec.Struct):
    id: uuid.UUID
    username: str
    display_name: str
    role: Role
    supervisor_id: uuid.UUID | None


class DeviceOut(msgspec.Struct):
    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    platform: str
    app_version: str
    registered_at: datetime
    last_seen_at: datetime | None
    revoked_at: datetime | None
