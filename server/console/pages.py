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

from schemas.auth import Role
from server.auth.service import Principal
from server.errors import InvalidInput
from server.settings import Settings

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
    Section("Dashboard", "/console/dashboard", frozenset({Role.SUPERVISOR, Role.OFFICE_STAFF, Role.ADMIN})),
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
