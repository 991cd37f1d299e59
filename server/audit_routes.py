"""``GET /audit``: the audit log for admins, newest first, in keyset pages.

Filtered by the student whose record a row names (FERPA's record of access, 34 CFR 99.32), by the
actor, and by time (``since`` inclusive, ``until`` exclusive). Reading the log is itself audited
(``audit.read``, naming the student asked about).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Router, get
from litestar.params import FromQuery, QueryParameter

from schemas.audit import AuditItem, AuditPage
from schemas.auth import Role
from server import audit
from server.auth.guards import allow
from server.deps import AuthRequest, Db, actor_of
from server.errors import InvalidInput

MAX_LIMIT = 200
_CURSOR_PREFIX = "audit:"


def encode_cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{row_id}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
        if raw.startswith(_CURSOR_PREFIX):
            row_id = int(raw.removeprefix(_CURSOR_PREFIX))
            if row_id > 0:
                return row_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    raise InvalidInput("The cursor is not one this server gave out")


def _aware(name: str, value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise InvalidInput(f"{name} needs a UTC offset (e.g. 2026-03-02T00:00:00Z)")
    return value


@get("/audit", opt=allow(Role.ADMIN))
async def read_audit(
    request: AuthRequest,
    db: Db,
    student_id: FromQuery[uuid.UUID | None] = None,
    actor_id: FromQuery[uuid.UUID | None] = None,
    since: FromQuery[datetime | None] = None,
    until: FromQuery[datetime | None] = None,
    cursor: FromQuery[str | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = 50,
) -> AuditPage:
    which = audit.AccessFilter(student_id, actor_id, _aware("since", since), _aware("until", until))
    if which.since is not None and which.until is not None and which.since >= which.until:
        raise InvalidInput("since must be before until")
    after = decode_cursor(cursor) if cursor else None
    rows = await audit.accesses(db, which, after=after, limit=limit + 1, newest_first=True)
    items = [msgspec.convert(r, AuditItem, from_attributes=True) for r in rows[:limit]]
    audit.record(
        db,
        actor_of(request),
        "audit.read",
        "audit_log",
        student_id=student_id,
        **{k: str(v) for k, v in (("actor_id", actor_id), ("since", since), ("until", until)) if v is not None},
    )
    return AuditPage(items=items, next_cursor=encode_cursor(items[-1].id) if len(rows) > limit else None)


router = Router(path="/", route_handlers=[read_audit])
