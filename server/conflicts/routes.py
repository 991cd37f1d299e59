"""Conflict review for office staff (and supervisors for their team, admins for everyone)."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Router, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from schemas.auth import Role
from schemas.conflicts import ConflictDetail, ConflictOut, ConflictPage, ConflictStatus, ResolveRequest
from schemas.sync import RecordType
from server.auth.guards import allow
from server.conflicts import service
from server.deps import AuthRequest, Db, actor_of
from server.pagination import decode_cursor, encode_cursor

REVIEWERS = allow(Role.OFFICE_STAFF, Role.SUPERVISOR, Role.ADMIN)


@get("/conflicts", opt=REVIEWERS)
async def list_conflicts(
    request: AuthRequest,
    db: Db,
    status: FromQuery[ConflictStatus | None] = ConflictStatus.OPEN,
    record_type: FromQuery[RecordType | None] = None,
    case_manager_id: FromQuery[uuid.UUID | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    cursor: FromQuery[str | None] = None,
) -> ConflictPage:
    """Conflicts the caller may review, oldest first: ``status`` (open by default), ``record_type``
    and ``case_manager_id`` (the conflict's author) filter."""
    after = decode_cursor(cursor) if cursor else None
    rows = await service.page(
        db,
        request.user,
        status=status,
        limit=limit,
        after=after,
        record_type=record_type,
        case_manager_id=case_manager_id,
        actor=actor_of(request),
    )
    bases = await service.bases(db, rows[:limit])
    items = [service.out(r, bases.get(r.id)) for r in rows[:limit]]
    more = len(rows) > limit
    return ConflictPage(items=items, next_cursor=encode_cursor(items[-1].created_at, items[-1].id) if more else None)


@get("/conflicts/{conflict_id:uuid}", opt=REVIEWERS)
async def read_conflict(request: AuthRequest, db: Db, conflict_id: FromPath[uuid.UUID]) -> ConflictDetail:
    """The conflict with its ``base`` (the record at ``base_version``, from the versions the server
    keeps) and a word-level diff of its texts (``diff``: per field, theirs to mine)."""
    row = await service.get(db, request.user, actor_of(request), conflict_id)
    return service.detail(row, (await service.bases(db, [row])).get(row.id))


@post("/conflicts/{conflict_id:uuid}/resolve", opt=allow(Role.OFFICE_STAFF, Role.ADMIN), status_code=200)
async def resolve_conflict(
    request: AuthRequest, db: Db, conflict_id: FromPath[uuid.UUID], data: JSONBody[ResolveRequest]
) -> ConflictOut:
    row = await service.resolve(db, request.user, actor_of(request), conflict_id, data)
    return service.out(row, (await service.bases(db, [row])).get(row.id))


router = Router(path="/", route_handlers=[list_conflicts, read_conflict, resolve_conflict])
