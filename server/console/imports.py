"""Imports: roster, school calendar and attendance CSV files as plain file uploads, through the same
import services as ``POST /rosters/imports``, ``/calendars/imports`` and ``/attendance/imports``
(the same modes, the same size limit, re-evaluation queued the same way). The result page lists
the counts and every bad row by its line number.

The upload is ``multipart/form-data``; its CSRF token travels as the ``_csrf_token`` form field,
which the CSRF middleware reads from the parsed form before the page runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict, UploadFile
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import FromPath
from litestar.response import Template
from litestar.types import ASGIApp, Empty, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.imports import ImportMode, ImportResult
from schemas.text import NUL
from server import imports as imp
from server.attendance import imports as attendance
from server.attendance.routes import IMPORTERS, MAX_IMPORT_BYTES
from server.audit import Actor
from server.console.pages import choice, page
from server.console.session import signed_in
from server.deps import AuthRequest, Db, actor_of
from server.errors import InvalidInput, NotFound, RepeatedColumns, UnknownColumns
from server.rosters import imports as rosters
from server.rules.jobs import enqueue_evaluation
from server.schools import calendar

FORM_OVERHEAD = 64 * 1024
"""Room in the request for the multipart framing and the form's other fields, beside the file."""
SHOWN_BAD_ROWS = 1000
"""Bad rows listed on the result page (the API's 422 lists as many)."""

Importer = Callable[..., Awaitable[ImportResult]]


@dataclass(frozen=True)
class Kind:
    slug: str
    title: str
    what: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    run: Importer


KINDS = {
    k.slug: k
    for k in (
        Kind(
            "roster",
            "Roster",
            "one row per student enrollment: students, households, guardians and enrollments "
            "(void true removes a stored enrollment)",
            rosters.REQUIRED,
            rosters.OPTIONAL,
            rosters.import_roster,
        ),
        Kind(
            "calendar",
            "School calendar",
            "one row per instructional day of a school (in_session false removes a day)",
            calendar.REQUIRED,
            calendar.OPTIONAL,
            calendar.import_calendar,
        ),
        Kind(
            "attendance",
            "Attendance",
            "one row per student per school day (void true removes a stored day)",
            attendance.REQUIRED,
            attendance.OPTIONAL,
            attendance.import_attendance,
        ),
    )
}


def _megabytes(n: int) -> str:
    return f"{n // (1024 * 1024)} MB"


def _forms_page(request: Request[Any, Any, Any], status_code: int = 200, **context: Any) -> Template:
    return page(
        request,
        "imports.html",
        status_code,
        kinds=list(KINDS.values()),
        limit=_megabytes(MAX_IMPORT_BYTES),
        **({"problem": None, "failed": None} | context),
    )


@get("/imports", opt=signed_in(*IMPORTERS))
async def import_forms(request: AuthRequest) -> Template:
    return _forms_page(request)


def _too_large(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The request was bigger than the limit: refused while the form was read, nothing imported."""
    problem = f"The file is too large: an import takes at most {_megabytes(MAX_IMPORT_BYTES)}. Nothing was imported."
    return _forms_page(request, 413, problem=problem)


async def _run(db: AsyncSession, kind: Kind, actor: Actor, lines: Iterable[str], mode: ImportMode) -> ImportResult:
    """What the JSON route does, but a file that applies nothing is a result to show, not a 422."""
    result = await kind.run(db, actor, lines, mode=mode, source_name="console upload")
    if result.applied and (result.inserted or result.updated or result.deleted):
        result.evaluation_queued = await enqueue_evaluation(db)
    return result


@post(
    "/imports/{kind:str}",
    opt=signed_in(*IMPORTERS),
    status_code=200,
    request_max_body_size=MAX_IMPORT_BYTES + FORM_OVERHEAD,
    exception_handlers={RequestEntityTooLarge: _too_large},
)
async def run_import(request: AuthRequest, db: Db, kind: FromPath[str]) -> Template:
    """One upload: checked (a file, not empty, not over the limit, CSV text), then imported."""
    what = KINDS.get(kind)
    if what is None:
        raise NotFound(f"No import of {kind!r}")
    form = await request.form()
    mode = choice(ImportMode, str(form.get("mode", ""))) or ImportMode.ALL_OR_NOTHING
    upload = form.get("file")

    def refused(status_code: int, problem: str) -> Template:
        return _forms_page(request, status_code, problem=f"{what.title}: {problem}", failed=what.slug)

    if not isinstance(upload, UploadFile) or not upload.filename:
        return refused(400, "choose a CSV file to import. Nothing was imported.")
    try:
        content = await upload.read(MAX_IMPORT_BYTES + 1)
    finally:
        await upload.close()
    if not content:
        return refused(400, f"the file “{upload.filename}” is empty. Nothing was imported.")
    if len(content) > MAX_IMPORT_BYTES:
        return refused(413, f"the file is larger than {_megabytes(MAX_IMPORT_BYTES)}. Nothing was imported.")
    if not upload.filename.lower().endswith(".csv") or NUL.encode() in content:
        return refused(
            400,
            f"“{upload.filename}” is not a CSV file. Save it from the spreadsheet as "
            "“CSV UTF-8 (comma delimited)” and upload that. Nothing was imported.",
        )
    try:
        lines = imp.body_lines(content)
        del content
        result = await _run(db, what, actor_of(request), lines, mode)
    except (InvalidInput, UnknownColumns, RepeatedColumns) as exc:
        await db.rollback()
        status_code = 400 if isinstance(exc, InvalidInput) else 422
        detail = exc.detail.rstrip(".")
        told = "nothing was imported" in detail.lower()
        return refused(status_code, f"{detail}." + ("" if told else " Nothing was imported."))
    if not result.applied:
        await db.rollback()
    return page(
        request,
        "import_result.html",
        200 if result.applied else 422,
        kind=what,
        result=result,
        filename=upload.filename,
        bad_rows=result.bad_rows[:SHOWN_BAD_ROWS],
    )


def close_uploads(app: ASGIApp) -> ASGIApp:
    """ASGI middleware closing the files of a parsed multipart form once the request is over,
    whatever its end. Litestar closes them only for a request that reaches its handler; the CSRF
    check (which parses the form to find the token) and the role guard can refuse one before, and
    its spooled temporary files were then left open. Placed outside the CSRF middleware."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await app(scope, receive, send)
        finally:
            form = ScopeState.from_scope(scope).form
            if form is not Empty:
                await FormMultiDict.from_form_data(form).close()

    return middleware


HANDLERS = [import_forms, run_import]
