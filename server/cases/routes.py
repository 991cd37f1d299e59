"""Case routes: list and read (scoped by role), assign, move through the lifecycle, add casework.

Reading a case shows its student: the read is audited with the student's id, and a refused read
(``case.read_refused``) is kept too, though it answers what a missing case answers."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from litestar import Router, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from schemas.auth import Role
from schemas.cases import (
    AssignRequest,
    CaseDetail,
    CaseOut,
    CasePage,
    CaseStatus,
    FollowUpIn,
    FollowUpOut,
    ServiceReferralIn,
    ServiceReferralOut,
    TransitionRequest,
)
from server.auth.guards import ALL_ROLES, allow
from server.cases import service
from server.deps import AuthRequest, Config, Db, actor_of
from server.pagination import decode_cursor, encode_cursor

CASEWORKERS = allow(Role.CASE_MANAGER, Role.SUPERVISOR, Role.ADMIN)


case_out = service.case_out


@get("/cases", opt=allow(*ALL_ROLES))
async def list_cases(
    request: AuthRequest,
    db: Db,
    limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    cursor: FromQuery[str | None] = None,
    status: FromQuery[CaseStatus | None] = None,
    unassigned: FromQuery[bool | None] = None,
) -> CasePage:
    """Keyset pages of the cases the caller may see; ``unassigned=true`` keeps those with no case
    manager (with ``status=referred``: the ones a supervisor assigns), ``false`` those with one."""
    after = decode_cursor(cursor) if cursor else None
    rows, more = await service.page(db, request.user, limit=limit, after=after, status=status, unassigned=unassigned)
    items = [case_out(c) for c in rows]
    return CasePage(items=items, next_cursor=encode_cursor(items[-1].opened_at, items[-1].id) if more else None)


@get("/cases/{case_id:uuid}", opt=allow(*ALL_ROLES))
async def read_case(request: AuthRequest, db: Db, settings: Config, case_id: FromPath[uuid.UUID]) -> CaseDetail:
    return await service.read(db, request.user, actor_of(request), case_id, settings)


@post("/cases/{case_id:uuid}/assign", opt=allow(Role.SUPERVISOR, Role.ADMIN), status_code=200)
async def assign_case(
    request: AuthRequest, db: Db, case_id: FromPath[uuid.UUID], data: JSONBody[AssignRequest]
) -> CaseOut:
    case = await service.assign(db, request.user, actor_of(request), case_id, data.case_manager_id)
    return case_out(case)


@post("/cases/{case_id:uuid}/transition", opt=CASEWORKERS, status_code=200)
async def transition_case(
    request: AuthRequest, db: Db, case_id: FromPath[uuid.UUID], data: JSONBody[TransitionRequest]
) -> CaseOut:
    return case_out(await service.transition(db, request.user, actor_of(request), case_id, data))


@post("/cases/{case_id:uuid}/service-referrals", opt=CASEWORKERS, status_code=201)
async def add_service_referral(
    request: AuthRequest, db: Db, case_id: FromPath[uuid.UUID], data: JSONBody[ServiceReferralIn]
) -> ServiceReferralOut:
    row = await service.add_service_referral(db, request.user, actor_of(request), case_id, data)
    return msgspec.convert(row, ServiceReferralOut, from_attributes=True)


@post("/cases/{case_id:uuid}/follow-ups", opt=CASEWORKERS, status_code=201)
async def add_follow_up(
    request: AuthRequest, db: Db, case_id: FromPath[uuid.UUID], data: JSONBody[FollowUpIn]
) -> FollowUpOut:
    row = await service.add_follow_up(db, request.user, actor_of(request), case_id, data)
    return msgspec.convert(row, FollowUpOut, from_attributes=True)


router = Router(
    path="/",
    route_handlers=[
        list_cases,
        read_case,
        assign_case,
        transition_case,
        add_service_referral,
        add_follow_up,
    ],
)
