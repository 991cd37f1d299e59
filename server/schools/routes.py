"""Calendar import and reading routes; the list of school years."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery

from schemas.imports import ImportMode, ImportResult
from schemas.schools import SchoolYearOut
from server import imports as imp
from server.attendance.routes import IMPORTERS, MAX_IMPORT_BYTES
from server.auth.guards import ALL_ROLES, allow
from server.auth.service import Principal
from server.deps import Db
from server.inputs import BODY, RAW
from server.logging import request_id_of
from server.rules.jobs import enqueue_evaluation
from server.rules.routes import READERS
from server.schools import calendar as cal
from server.schools.years import school_years as list_school_years


@post(
    "/calendars/imports", opt=allow(*IMPORTERS) | {BODY: RAW}, status_code=200, request_max_body_size=MAX_IMPORT_BYTES
)
async def calendar_import(
    request: Request[Principal, str, Any],
    db: Db,
    mode: FromQuery[ImportMode] = ImportMode.ALL_OR_NOTHING,
) -> ImportResult:
    """Add or remove instructional days (docs/imports.md)."""
    actor = request.user.actor(request_id_of(request.scope))
    result = imp.rejected_unless_applied(
        await cal.import_calendar(db, actor, imp.body_lines(await request.body()), mode=mode, source_name="upload")
    )
    if result.inserted or result.updated or result.deleted:
        result.evaluation_queued = await enqueue_evaluation(db)
    return result


@get("/schools/{school_id:uuid}/calendar", opt=allow(*ALL_ROLES))
async def school_calendar(
    db: Db, school_id: FromPath[uuid.UUID], school_year: FromQuery[str | None] = None
) -> cal.CalendarOut:
    """The school's instructional days in a school year (by name, e.g. 2025-2026; default: the latest started)."""
    return await cal.calendar(db, school_id, school_year)


@get("/school-years", opt=allow(*READERS))
async def school_years(db: Db) -> list[SchoolYearOut]:
    """Every school year (the latest first): its id for the rules routes, its first and last
    instructional day, and the rule set in force with its version."""
    return await list_school_years(db)
