"""``GET /reports``: the reports as JSON (the console's Reports page shows the same)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from litestar import get
from litestar.params import QueryParameter

from schemas.reports import Reports
from server.auth.guards import allow
from server.deps import AuthRequest, Config, Db
from server.reports import service


@get("/reports", opt=allow(*service.READERS))
async def reports(
    request: AuthRequest,
    db: Db,
    settings: Config,
    first: Annotated[
        date | None, QueryParameter(name="from", description="The period's first day (the district's)")
    ] = None,
    last: Annotated[
        date | None, QueryParameter(name="to", description="The period's last day (the district's)")
    ] = None,
) -> Reports:
    """What the casework found and did, in the caller's scope (a supervisor: her team's cases;
    office staff and admins: the district), over a period of the district's days (by default the
    school year in progress): the factors of each case's latest assessment by school and category,
    referrals to services by resource and status, and the parent meetings the law requires held
    by their deadline (the share on time and the median school days to the meeting)."""
    return await service.reports(db, request.user, datetime.now(UTC), settings.time_zone, first, last)
