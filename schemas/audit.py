"""The audit log on the wire: ``GET /audit`` (admins), FERPA's record of access (34 CFR 99.32)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec


class AuditItem(msgspec.Struct):
    """One audit row: who (user, role, device, request) did what to which record, and whose."""

    id: int
    at: datetime
    actor_id: uuid.UUID | None
    actor_role: str | None
    device_id: uuid.UUID | None
    action: str
    entity_type: str
    entity_id: str | None
    student_id: uuid.UUID | None
    request_id: str | None
    detail: dict[str, Any] | None


class AuditPage(msgspec.Struct):
    """Newest first; ``next_cursor`` (opaque) fetches the older rows, ``None`` on the last page."""

    items: list[AuditItem]
    next_cursor: str | None
