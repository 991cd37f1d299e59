"""Attendance import route (office staff and admins)."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.params import FromQuery

from schemas.auth import Role
from schemas.imports import ImportMode, ImportResult
from server import imports as imp
from server.attendance.imports import import_attendance
from server.auth.guards import allow
from server.auth.service import Principal
from server.deps import Db
from server.inputs import BODY, RAW
from server.logging import request_id_of
from server.rules.jobs import enqueue_evaluation

IMPORTERS = (Role.OFFICE_STAFF, Role.ADMIN)
MAX_IMPORT_BYTES = 512 * 1024 * 1024


@post(
    "/attendance/imports", opt=allow(*IMPORTERS) | {BODY: RAW}, status_code=200, request_max_body_size=MAX_IMPORT_BYTES
)
async def attendance_import(
    request: Request[Principal, str, Any],
    db: Db,
    mode: FromQuery[ImportMode] = ImportMode.ALL_OR_NOTHING,
) -> ImportResult:
    """Import (or void) daily attendance (docs/imports.md); re-evaluation is queued once it commits."""
    actor = request.user.actor(request_id_of(request.scope))
    result = imp.rejected_unless_applied(
        await import_attendance(db, actor, imp.body_lines(await request.body()), mode=mode, source_name="upload")
    )
    if result.inserted or result.updated or result.deleted:
        result.evaluation_queued = await enqueue_evaluation(db)
    return result
