"""``GET /dashboard``: the dashboard's figures as JSON (the console's Dashboard page shows the same)."""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import get

from schemas.dashboard import Dashboard
from server.auth.guards import allow
from server.dashboard import service
from server.deps import AuthRequest, Config, Db


@get("/dashboard", opt=allow(*service.READERS))
async def dashboard(request: AuthRequest, db: Db, settings: Config) -> Dashboard:
    """How the program is doing, in the caller's scope (a supervisor: her team's; office staff and
    admins: the district): open cases by status, visits this week, approvals waiting and the
    turnaround, open conflicts, overdue parent meetings, and unexcused absences before and after
    the opening of the cases closed this school year. Days and weeks are the district's
    (``DOORSTEP_TIME_ZONE``)."""
    return await service.dashboard(db, request.user, datetime.now(UTC), settings.time_zone)
