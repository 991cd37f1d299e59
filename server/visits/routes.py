"""Visit logs for review: ``GET /visit-logs`` (a supervisor's flagged visits, with filters) and
``GET /visit-logs/{id}``; scoped by ``server.scope`` and audited by ``server.visits.service``."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from litestar import Router, get
from litestar.params import FromPath, FromQuery, QueryParameter

from schemas.cases import VisitFlag, VisitLogStatus
from schemas.visits import VisitLogOut, VisitLogPage
from server.auth.guards import ALL_ROLES, allow
from server.deps import AuthRequest, Db, actor_of
from server.pagination import decode_cursor, encode_cursor
from server.visits import service
from server.visits.repository import Filters


def visit_log_out(row: object) -> VisitLogOut:
    return msgspec.convert(row, VisitLogOut, from_attributes=True)


@get("/visit-logs", opt=allow(*ALL_ROLES))
async def list_visit_logs(
    request: AuthRequest,
    db: Db,
    limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    cursor: FromQuery[str | None] = None,
    flagged: FromQuery[bool | None] = None,
    flag: FromQuery[VisitFlag | None] = None,
    case_id: FromQuery[uuid.UUID | None] = None,
    status: FromQuery[VisitLogStatus | None] = None,
) -> VisitLogPage:
    """The visit logs the caller may see, oldest check-in first: a supervisor her team's (also those
    of a case that left the team after the visit), a case manager those on her cases. ``flagged``
    (true: any flag, false: none), ``flag`` (has this one), ``case_id`` and ``status`` filter."""
    after = decode_cursor(cursor) if cursor else None
    filters = Filters(flagged=flagged, flag=flag, case_id=case_id, status=status)
    rows, more = await service.page(db, request.user, actor_of(request), filters, limit=limit, after=after)
    items = [visit_log_out(v) for v in rows]
    return VisitLogPage(items=items, next_cursor=encode_cursor(items[-1].checked_in_at, items[-1].id) if more else None)


@get("/visit-logs/{visit_log_id:uuid}", opt=allow(*ALL_ROLES))
async def read_visit_log(request: AuthRequest, db: Db, visit_log_id: FromPath[uuid.UUID]) -> VisitLogOut:
    """One visit log: the ``visit_log`` record a pull carries, with its id and version."""
    return visit_log_out(await service.read(db, request.user, actor_of(request), visit_log_id))


router = Router(path="/", route_handlers=[list_visit_logs, read_visit_log])
