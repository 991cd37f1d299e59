"""Console pages. Thin, like the API's routes: they call the same services, under the same scope,
and render what comes back. A record outside the caller's scope is the 404 page (the refusal kept
in the audit log, as the API keeps it)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from litestar import Request, Response, Router, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.exceptions import PermissionDeniedException
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template

from schemas.auth import DeviceInfo, LoginRequest, Role
from server import audit
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
from server.errors import Forbidden, InvalidCredentials, InvalidInput, NotFound, RateLimited
from server.logging import request_id_of
from server.pagination import decode_cursor, encode_cursor
from server.settings import Settings
from server.students import repository as students
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
    Section("Approvals", "/console/approvals", frozenset({Role.SUPERVISOR, Role.ADMIN})),
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
        *[_coming_soon(s) for s in SECTIONS if s.title != "Cases"],
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
