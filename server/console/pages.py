"""What every console page shares: the sections in the navigation, the page renderer, and the
small parsing helpers of the forms and filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from server import audit
from server.auth import repository as users
from server.auth.models import User
from server.auth.service import Principal
from server.deps import actor_of
from server.errors import InvalidInput
from server.settings import Settings
from server.students import repository as students
from server.students.models import Student

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
PAGE_SIZE = 25
REVIEWERS = (Role.SUPERVISOR, Role.OFFICE_STAFF, Role.ADMIN)


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
    Section("Imports", "/console/imports", frozenset({Role.OFFICE_STAFF, Role.ADMIN})),
    Section("Resources", "/console/resources", frozenset({Role.OFFICE_STAFF, Role.ADMIN})),
    Section("Letters", "/console/letters", frozenset({Role.OFFICE_STAFF, Role.ADMIN})),
    Section("Dashboard", "/console/dashboard", frozenset({Role.SUPERVISOR, Role.OFFICE_STAFF, Role.ADMIN})),
    Section("Reports", "/console/reports", frozenset({Role.SUPERVISOR, Role.OFFICE_STAFF, Role.ADMIN})),
)


def page(request: Request[Any, Any, Any], name: str, status_code: int = 200, **context: Any) -> Template:
    user = request.scope.get("user")
    principal = user if isinstance(user, Principal) else None
    nav = [s for s in SECTIONS if principal is not None and principal.role in s.roles]
    return Template(
        template_name=name,
        context={"user": principal, "nav": nav, "path": request.url.path, **context},
        status_code=status_code,
    )


def choice(enum_type: Any, value: str | None) -> Any:
    """A filter's value from a select: empty is none; anything else must be one of the choices."""
    if not value:
        return None
    try:
        return enum_type(value)
    except ValueError as exc:
        raise InvalidInput(f"Unknown filter value {value!r}") from exc


def time_filters(settings: Settings) -> Any:
    """The templates' ``when`` (a moment, to the minute, in the district's time zone, named) and
    ``day`` (its date there) filters. Stored times are UTC; people read their own clock."""
    zone = ZoneInfo(settings.time_zone)

    def when(moment: datetime | None) -> str:
        return "" if moment is None else moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")

    def day(moment: datetime | date | None) -> str:
        if moment is None:
            return ""
        if isinstance(moment, datetime):
            moment = moment.astimezone(zone).date()
        return moment.isoformat()

    def register(engine: JinjaTemplateEngine) -> None:
        engine.engine.filters.update(when=when, day=day)

    return register


async def case_managers(db: AsyncSession, principal: Principal, *, active_only: bool = False) -> list[User]:
    """The case managers a page offers (a filter, an Assign form): a supervisor's team, everyone's
    for the others; ``active_only`` leaves out those who left (a filter still finds their work)."""
    managers = [u for u in await users.list_users(db, role=Role.CASE_MANAGER.value) if u.is_active or not active_only]
    if principal.role is Role.SUPERVISOR:
        team = set(await users.team_member_ids(db, principal.user_id))
        return [u for u in managers if u.id in team]
    return managers


async def listed_students(
    request: Request[Any, Any, Any], db: AsyncSession, student_by_case: dict[Any, Any], via: str
) -> dict[Any, Student]:
    """The students a list of cases names, each shown name an access kept as the API's lists keep it
    (``student.listed``, one row per case); ``student_by_case`` maps case id to student id."""
    actor = actor_of(request)
    for case_id, student_id in student_by_case.items():
        audit.record(db, actor, "student.listed", "student", student_id, via=via, case_id=str(case_id))
    return await students.many(db, set(student_by_case.values()))
