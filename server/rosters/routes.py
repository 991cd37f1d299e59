"""Roster import route (office staff and admins)."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.params import FromQuery

from schemas.imports import ImportMode, ImportResult
from server import imports as imp
from server.attendance.routes import IMPORTERS, MAX_IMPORT_BYTES
from server.auth.guards import allow
from server.auth.service import Principal
from server.deps import Db
from server.inputs import BODY, RAW
from server.logging import request_id_of
from server.rosters.imports import import_roster
from server.rules.jobs import enqueue_evaluation


@post("/rosters/imports", opt=allow(*IMPORTERS) | {BODY: RAW}, status_code=200, request_max_body_size=MAX_IMPORT_BYTES)
async def roster_import(
    request: Request[Principal, str, Any],
    db: Db,
    mode: FromQuery[ImportMode] = ImportMode.ALL_OR_NOTHING,
) -> ImportResult:
    """Import students, households, guardians and enrollments, or void enrollments (docs/imports.md);
    re-evaluation is queued once it commits."""
    actor = request.user.actor(request_id_of(request.scope))
    result = imp.rejected_unless_applied(
        await import_roster(db, actor, imp.body_lines(await request.body()), mode=mode, source_name="upload")
    )
    if result.inserted or result.updated or result.deleted:
        result.evaluation_queued = await enqueue_evaluation(db)
    return result
