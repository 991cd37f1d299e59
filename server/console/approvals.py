"""Approvals: the supervisor's queue, the visit record page (with its note's history: every kept
version), and its Approve and Return forms (the same service as ``POST /visits/{id}/decisions``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Stream, Template

from schemas.auth import Role
from schemas.cases import VisitFlag
from schemas.sync import RecordType
from schemas.visits import DecisionIn, ReviewDecision, VisitOut, VisitStatus
from server.auth import repository as users
from server.auth.guards import ALL_ROLES
from server.auth.service import Principal
from server.console import history
from server.console.pages import PAGE_SIZE, REVIEWERS, case_managers, choice, page
from server.console.session import (
    PATH,
    signed_in,
)
from server.deps import AuthRequest, Db, actor_of
from server.errors import (
    DuplicateWithDifferentContent,
    InvalidInput,
    NotAwaitingDecision,
    StaleVersion,
)
from server.pagination import decode_cursor
from server.photos import routes as photos
from server.students import repository as students
from server.visits import approvals
from server.visits import repository as visit_repo
from sync.store import Ref


@get("/approvals", opt=signed_in(*REVIEWERS))
async def approval_queue(
    request: AuthRequest,
    db: Db,
    status: FromQuery[str | None] = "submitted",
    flag: FromQuery[str | None] = None,
    case_manager_id: FromQuery[str | None] = None,
    older_than_days: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
) -> Template:
    try:
        manager = uuid.UUID(case_manager_id) if case_manager_id else None
        days = int(older_than_days) if older_than_days else None
    except ValueError as exc:
        raise InvalidInput("A filter is not a case manager or a number of days") from exc
    if days is not None and not 0 <= days <= 3650:
        raise InvalidInput("older_than_days is out of range")
    filters = visit_repo.QueueFilters(
        status=choice(VisitStatus, status),
        case_manager_id=manager,
        flag=choice(VisitFlag, flag),
        older_than_days=days,
    )
    after = decode_cursor(cursor) if cursor else None
    found = await approvals.page(db, request.user, actor_of(request), filters, limit=PAGE_SIZE, after=after)
    people = await students.many(db, {v.student_id for v in found.items})
    managers = await case_managers(db, request.user)
    chosen = {
        "status": status or "",
        "flag": flag or "",
        "case_manager_id": case_manager_id or "",
        "older_than_days": older_than_days or "",
    }
    next_url = None
    if found.next_cursor:
        next_url = "/console/approvals?" + urlencode(chosen | {"cursor": found.next_cursor})
    return page(
        request,
        "approvals.html",
        visits=found.items,
        students=people,
        managers=managers,
        names={u.id: u.display_name for u in managers},
        chosen=chosen,
        statuses=list(VisitStatus),
        flags=list(VisitFlag),
        next_url=next_url,
        paged=bool(cursor),
    )


async def _may_decide(db: Db, principal: Principal, visit: VisitOut) -> bool:
    """Whether to offer Approve and Return: what ``scope.decidable_visits`` allows (the service
    checks it again on the post), on a visit awaiting a decision."""
    if visit.status is not VisitStatus.SUBMITTED or visit.case_manager_id is None:
        return False
    if principal.role is Role.ADMIN:
        return True
    if principal.role is Role.SUPERVISOR:
        return visit.case_manager_id in await users.team_member_ids(db, principal.user_id)
    return False


async def _visit_page(
    request: AuthRequest, db: Db, visit_id: uuid.UUID, status_code: int = 200, **context: Any
) -> Template:
    visit = await approvals.read(db, request.user, actor_of(request), visit_id)
    student = (await students.many(db, {visit.student_id})).get(visit.student_id)
    people = {u.id: u.display_name for u in await users.list_users(db)}
    return page(
        request,
        "visit.html",
        status_code,
        visit=visit,
        student=student,
        people=people,
        history=await history.history(db, Ref(RecordType.VISIT_NOTE, visit.note.id), people),
        may_decide=await _may_decide(db, request.user, visit),
        decision_id=uuid.uuid4(),
        return_id=uuid.uuid4(),
        **({"problem": None, "comment_error": None, "comment": ""} | context),
    )


@get("/visits/{visit_id:uuid}", opt=signed_in(*ALL_ROLES))
async def visit_page(request: AuthRequest, db: Db, visit_id: FromPath[uuid.UUID]) -> Template:
    return await _visit_page(request, db, visit_id)


@dataclass
class DecisionForm:
    decision: str = ""
    decision_id: str = ""
    expected_version: str = ""
    comment: str = ""


DecisionBody = Annotated[DecisionForm, Body(media_type=RequestEncodingType.URL_ENCODED)]


@post("/visits/{visit_id:uuid}/decisions", opt=signed_in(Role.SUPERVISOR, Role.ADMIN), status_code=303)
async def decide_visit(
    request: AuthRequest, db: Db, visit_id: FromPath[uuid.UUID], data: DecisionBody
) -> Response[Any]:
    """Approve or return, as a plain form post: the same service as ``POST /visits/{id}/decisions``.
    Done (or replayed by its ``decision_id``), back to the visit page; refused, the page again with
    the reason, nothing changed."""
    try:
        body = DecisionIn(
            decision_id=uuid.UUID(data.decision_id),
            decision=ReviewDecision(data.decision),
            expected_version=int(data.expected_version),
            comment=data.comment.strip()[:4000] or None,
        )
        if body.expected_version < 1:
            raise ValueError(data.expected_version)
    except ValueError as exc:
        raise InvalidInput("This form is not one the console gave out") from exc
    try:
        await approvals.decide(db, request.user, actor_of(request), visit_id, body)
    except InvalidInput:
        message = "Say what the case manager should change: a return needs a comment."
        return await _visit_page(request, db, visit_id, 400, comment_error=message, comment=data.comment)
    except StaleVersion:
        await db.rollback()
        problem = (
            "This visit changed since you opened it, so nothing was decided. Here it is as it is now: review it again."
        )
        return await _visit_page(request, db, visit_id, 409, problem=problem, comment=data.comment)
    except NotAwaitingDecision:
        await db.rollback()
        problem = "This visit is not awaiting a decision any more, so nothing was decided."
        return await _visit_page(request, db, visit_id, 409, problem=problem)
    except DuplicateWithDifferentContent:
        await db.rollback()
        problem = "This form was already used for another decision, so nothing was decided. Review the visit again."
        return await _visit_page(request, db, visit_id, 409, problem=problem)
    return Redirect(f"{PATH}/visits/{visit_id}", status_code=303)


@get("/form-photos/{photo_id:uuid}/thumbnail", opt=signed_in(*ALL_ROLES))
async def photo_thumbnail(request: AuthRequest, db: Db, photo_id: FromPath[uuid.UUID]) -> Stream:
    """A photo's thumbnail for the visit page, through the API's own function (scope and audit)."""
    return await photos.thumbnail(request, db, photo_id)


HANDLERS = [approval_queue, visit_page, decide_visit, photo_thumbnail]
