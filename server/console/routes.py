"""Console pages. Thin, like the API's routes: they call the same services, under the same scope,
and render what comes back. A record outside the caller's scope is the 404 page (the refusal kept
in the audit log, as the API keeps it)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request, Response, Router, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.exceptions import PermissionDeniedException
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Stream, Template

from schemas.auth import DeviceInfo, LoginRequest, Role
from schemas.cases import VisitFlag
from schemas.visits import DecisionIn, ReviewDecision, VisitOut, VisitStatus
from server import audit
from server.auth import repository as users
from server.auth import service as auth
from server.auth.clients import client_address_of
from server.auth.guards import ALL_ROLES
from server.auth.service import Principal
from server.cases import service as cases
from server.console.session import (
    COOKIE,
    PATH,
    SIGNED_OUT,
    ConsoleSessionMiddleware,
    SignInNeeded,
    csrf_config,
    signed_in,
)
from server.deps import AuthRequest, Config, Db, actor_of
from server.errors import (
    DuplicateWithDifferentContent,
    Forbidden,
    InvalidCredentials,
    InvalidInput,
    NotAwaitingDecision,
    NotFound,
    RateLimited,
    StaleVersion,
)
from server.logging import request_id_of
from server.pagination import decode_cursor, encode_cursor
from server.photos import routes as photos
from server.settings import Settings
from server.students import repository as students
from server.visits import approvals
from server.visits import repository as visit_repo
from server.visits import service as visits

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
PAGE_SIZE = 25


@dataclass(frozen=True)
class Section:
    title: str
    path: str
    roles: frozenset[Role]


SECTIONS = (
    Section("Approvals", "/console/approvals", frozenset({Role.SUPERVISOR, Role.OFFICE_STAFF, Role.ADMIN})),
    Section("Conflicts", "/console/conflicts", frozenset({Role.OFFICE_STAFF, Role.SUPERVISOR, Role.ADMIN})),
    Section("Truant students", "/console/truant-students", frozenset({Role.ATTENDANCE_COUNSELOR, Role.ADMIN})),
    Section("Cases", "/console/cases", frozenset(Role)),
    Section("Dashboard", "/console/dashboard", frozenset({Role.SUPERVISOR, Role.OFFICE_STAFF, Role.ADMIN})),
)


def _page(request: Request[Any, Any, Any], name: str, status_code: int = 200, **context: Any) -> Template:
    user = request.scope.get("user")
    principal = user if isinstance(user, Principal) else None
    nav = [s for s in SECTIONS if principal is not None and principal.role in s.roles]
    return Template(
        template_name=name,
        context={"user": principal, "nav": nav, "path": request.url.path, **context},
        status_code=status_code,
    )


# --- signing in and out ---------------------------------------------------------------------------


@dataclass
class SignInForm:
    username: str = ""
    password: str = ""


SignInBody = Annotated[SignInForm, Body(media_type=RequestEncodingType.URL_ENCODED)]


@get("/sign-in", opt=SIGNED_OUT)
async def sign_in_page(request: Request[Any, Any, Any]) -> Template:
    return _page(request, "sign_in.html", username="", error=None)


@post("/sign-in", opt=SIGNED_OUT, status_code=303)
async def sign_in(request: Request[Any, Any, Any], db: Db, settings: Config, data: SignInBody) -> Response[Any]:
    username, password = data.username.strip()[:64], data.password[:256]
    if not username or not password or "\x00" in username + password:
        return _page(request, "sign_in.html", 400, username=username, error="Enter your username and password.")
    body = LoginRequest(
        username=username,
        password=password,
        device=DeviceInfo(id=uuid.uuid4(), name="Web console", platform="web", app_version="console"),
    )
    try:
        token = await auth.console_sign_in(
            db, settings, body, request_id_of(request.scope), client_address_of(request, settings)
        )
    except InvalidCredentials:
        await db.commit()  # the refusal's audit row is kept, and the failure counted
        return _page(request, "sign_in.html", 401, username=username, error="That username and password do not match.")
    except RateLimited as exc:
        await db.commit()
        wait = exc.headers.get("Retry-After", "a few") if exc.headers else "a few"
        message = f"Too many attempts. Try again in {wait} seconds."
        return _page(request, "sign_in.html", 429, username=username, error=message)
    response: Response[Any] = Redirect(f"{PATH}/cases", status_code=303)
    response.set_cookie(_session_cookie(request, settings, token, settings.console_session_seconds))
    return response


def _session_cookie(request: Request[Any, Any, Any], settings: Settings, value: str, max_age: int) -> Cookie:
    return Cookie(
        key=COOKIE,
        value=value,
        path=PATH,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


@post("/sign-out", opt=signed_in(*ALL_ROLES), status_code=303)
async def sign_out(request: AuthRequest, db: Db, settings: Config) -> Response[Any]:
    await auth.logout(db, request.user, request_id_of(request.scope))
    response: Response[Any] = Redirect(f"{PATH}/sign-in", status_code=303)
    response.set_cookie(_session_cookie(request, settings, "", 0))
    return response


# --- pages ----------------------------------------------------------------------------------------


@get("/", opt=signed_in(*ALL_ROLES))
async def home(request: AuthRequest) -> Template:
    return _page(request, "home.html")


@get("/cases", opt=signed_in(*ALL_ROLES))
async def case_list(request: AuthRequest, db: Db, cursor: FromQuery[str | None] = None) -> Template:
    after = decode_cursor(cursor) if cursor else None
    rows, more = await cases.page(db, request.user, limit=PAGE_SIZE, after=after)
    people = await students.many(db, {c.student_id for c in rows})
    actor = actor_of(request)
    for case in rows:  # names are shown: each student listed is an access, kept as the API's lists keep it
        audit.record(db, actor, "student.listed", "student", case.student_id, via="console_cases", case_id=str(case.id))
    next_cursor = encode_cursor(rows[-1].opened_at, rows[-1].id) if more and rows else None
    return _page(request, "cases.html", cases=rows, students=people, next_cursor=next_cursor, paged=bool(cursor))


@get("/cases/{case_id:uuid}", opt=signed_in(*ALL_ROLES))
async def case_page(request: AuthRequest, db: Db, case_id: FromPath[uuid.UUID]) -> Template:
    actor = actor_of(request)
    detail = await cases.read(db, request.user, actor, case_id)
    household = await students.household(db, detail.student.household_id)
    guardians = await students.guardians(db, detail.student.household_id)
    logs, _ = await visits.page(db, request.user, actor, visit_repo.Filters(case_id=case_id), limit=200, after=None)
    notes = await cases.notes(db, case_id)
    return _page(
        request, "case.html", detail=detail, household=household, guardians=guardians, visit_logs=logs, notes=notes
    )


# --- approvals ------------------------------------------------------------------------------------

REVIEWERS = (Role.SUPERVISOR, Role.OFFICE_STAFF, Role.ADMIN)


def _choice(enum_type: Any, value: str | None) -> Any:
    """A filter's value from a select: empty is none; anything else must be one of the choices."""
    if not value:
        return None
    try:
        return enum_type(value)
    except ValueError as exc:
        raise InvalidInput(f"Unknown filter value {value!r}") from exc


async def _case_managers(db: Db, principal: Principal) -> list[Any]:
    """The case managers the filter offers: a supervisor's team; everyone's for the others."""
    everyone = await users.list_users(db, role=Role.CASE_MANAGER.value)
    if principal.role is Role.SUPERVISOR:
        team = set(await users.team_member_ids(db, principal.user_id))
        return [u for u in everyone if u.id in team]
    return list(everyone)


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
        status=_choice(VisitStatus, status),
        case_manager_id=manager,
        flag=_choice(VisitFlag, flag),
        older_than_days=days,
    )
    after = decode_cursor(cursor) if cursor else None
    found = await approvals.page(db, request.user, actor_of(request), filters, limit=PAGE_SIZE, after=after)
    people = await students.many(db, {v.student_id for v in found.items})
    managers = await _case_managers(db, request.user)
    chosen = {
        "status": status or "",
        "flag": flag or "",
        "case_manager_id": case_manager_id or "",
        "older_than_days": older_than_days or "",
    }
    next_url = None
    if found.next_cursor:
        next_url = "/console/approvals?" + urlencode(chosen | {"cursor": found.next_cursor})
    return _page(
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
    return _page(
        request,
        "visit.html",
        status_code,
        visit=visit,
        student=student,
        people=people,
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


def _coming_soon(section: Section) -> Any:
    @get(section.path.removeprefix(PATH), opt=signed_in(*section.roles), name=f"console-{section.title}")
    async def page(request: AuthRequest) -> Template:
        return _page(request, "coming_soon.html", section=section)

    return page


# --- answers in HTML ------------------------------------------------------------------------------


def _to_sign_in(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    response: Response[Any] = Redirect(f"{PATH}/sign-in", status_code=303)
    if request.cookies.get(COOKIE):
        response.delete_cookie(COOKIE, path=PATH)
    return response


def _error_page(status: int, title: str, message: str) -> Any:
    def handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        return _page(request, "error.html", status, title=title, message=message)

    return handler


router = Router(
    path=PATH,
    route_handlers=[
        sign_in_page,
        sign_in,
        sign_out,
        home,
        case_list,
        case_page,
        approval_queue,
        visit_page,
        decide_visit,
        photo_thumbnail,
        *[_coming_soon(s) for s in SECTIONS if s.title not in ("Cases", "Approvals")],
    ],
    include_in_schema=False,
    exception_handlers={
        SignInNeeded: _to_sign_in,
        NotFound: _error_page(404, "Not found", "There is no such record, or it is not yours to see."),
        Forbidden: _error_page(403, "Not allowed", "Your role does not use this page."),
        PermissionDeniedException: _error_page(
            403,
            "Form expired",
            "This form could not be checked (its security token is missing or wrong). "
            "Go back, reload the page and try again.",
        ),
        InvalidInput: _error_page(400, "Bad request", "This link is not one the console gave out."),
    },
)


def console_router(settings: Settings) -> Router:
    """The console, with its session and its CSRF check (both built from ``settings``)."""
    return Router(
        path="/",
        route_handlers=[router],
        middleware=[ConsoleSessionMiddleware, DefineMiddleware(CSRFMiddleware, config=csrf_config(settings))],
        include_in_schema=False,
    )
