"""Visit logs for review: ``GET /visit-logs`` (a supervisor's flagged visits, with filters) and
``GET /visit-logs/{id}``; scoped by ``server.scope`` and audited by ``server.visits.service``.

Visit records in review (``server.visits.approvals``): ``GET /visits`` (the queue),
``GET /visits/{id}`` (the whole record) and ``POST /visits/{id}/decisions`` (approve or return)."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from litestar import Router, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from schemas.auth import Role
from schemas.cases import VisitFlag, VisitLogStatus
from schemas.visits import DecisionIn, VisitLogOut, VisitLogPage, VisitOut, VisitPage, VisitState, VisitStatus
from server.auth.guards import ALL_ROLES, allow
from server.deps import AuthRequest, Db, actor_of
from server.pagination import decode_cursor, encode_cursor
from server.visits import approvals, service
from server.visits.repository import Filters, QueueFilters


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


@get("/visits", opt=allow(*ALL_ROLES))
async def list_visits(
    request: AuthRequest,
    db: Db,
    status: FromQuery[VisitStatus | None] = None,
    case_manager_id: FromQuery[uuid.UUID | None] = None,
    flag: FromQuery[VisitFlag | None] = None,
    older_than_days: Annotated[int | None, QueryParameter(ge=0, le=3650)] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    cursor: FromQuery[str | None] = None,
) -> VisitPage:
    """Visit records in review (a visit log whose note was submitted), oldest submission first: a
    supervisor her team's, office staff and admins all, a case manager those on her cases.
    ``status`` (submitted, approved, returned), ``case_manager_id`` (who made the visit), ``flag``
    and ``older_than_days`` (since the note's last submission) filter."""
    filters = QueueFilters(status=status, case_manager_id=case_manager_id, flag=flag, older_than_days=older_than_days)
    after = decode_cursor(cursor) if cursor else None
    return await approvals.page(db, request.user, actor_of(request), filters, limit=limit, after=after)


@get("/visits/{visit_id:uuid}", opt=allow(*ALL_ROLES))
async def read_visit(request: AuthRequest, db: Db, visit_id: FromPath[uuid.UUID]) -> VisitOut:
    """The whole visit record: note, addenda, photos, flags, location check and truancy context."""
    return await approvals.read(db, request.user, actor_of(request), visit_id)


@post("/visits/{visit_id:uuid}/decisions", opt=allow(Role.SUPERVISOR, Role.ADMIN), status_code=200)
async def decide_visit(
    request: AuthRequest, db: Db, visit_id: FromPath[uuid.UUID], data: JSONBody[DecisionIn]
) -> VisitState:
    """Approve or return a submitted visit (its case manager's supervisor, or an admin): the visit's
    new state. Idempotent by ``decision_id``."""
    return await approvals.decide(db, request.user, actor_of(request), visit_id, data)


router = Router(path="/", route_handlers=[list_visit_logs, read_visit_log, list_visits, read_visit, decide_visit])
