"""Dashboard: the figures of ``GET /dashboard`` (the same service), each linked to the list behind
it where the console has one, and the overdue parent meetings behind their count."""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import get
from litestar.response import Template

from server import clock
from server.auth import repository as users
from server.console.pages import page
from server.console.session import signed_in
from server.dashboard import service
from server.deps import AuthRequest, Config, Db, actor_of
from server.students import repository as students


def duration(seconds: float) -> str:
    """A turnaround, read at a glance: minutes under two hours, hours under two days, else days."""
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


@get("/dashboard", opt=signed_in(*service.READERS))
async def dashboard_page(request: AuthRequest, db: Db, settings: Config) -> Template:
    figures = await service.dashboard(db, request.user, datetime.now(UTC), settings.time_zone)
    closed = figures.before_after.cases
    people = await students.many(db, {c.student_id for c in closed})
    service.listed(db, actor_of(request), closed)  # the table names them
    names = {u.id: u.display_name for u in await users.list_users(db)}
    return page(request, "dashboard.html", dash=figures, students=people, names=names, duration=duration)


@get("/dashboard/overdue-meetings", opt=signed_in(*service.READERS))
async def overdue_meetings_page(request: AuthRequest, db: Db, settings: Config) -> Template:
    today = clock.today(settings)
    found = await service.overdue_meetings(db, request.user, actor_of(request), today)
    names = {u.id: u.display_name for u in await users.list_users(db)}
    return page(request, "overdue_meetings.html", meetings=found, names=names, as_of=today)


HANDLERS = [dashboard_page, overdue_meetings_page]
