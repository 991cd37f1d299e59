"""The directory of resources, for office staff and admins: the list, Add, Edit and the CSV upload,
through the same services as ``GET /resources``, ``POST /resources``, ``PUT /resources/{id}`` and
``POST /resources/imports``. A form refused comes back with every problem next to its field and
what was typed kept; nothing is stored until the whole form is right."""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from schemas.casework import FACTORS, Factor, FactorCategory, ResourceCreate, ResourceIn
from schemas.imports import ImportMode
from schemas.text import NUL
from server import imports as imp
from server.console.imports import FORM_OVERHEAD, SHOWN_BAD_ROWS
from server.console.pages import choice, page
from server.console.session import PATH, signed_in
from server.deps import AuthRequest, Db, actor_of
from server.errors import DuplicateWithDifferentContent, InvalidInput, NotFound, RepeatedColumns, UnknownColumns
from server.resources import imports as resource_imports
from server.resources import repository as repo
from server.resources import service
from server.resources.models import Resource

EDITORS = service.WRITERS
SHOW = {"all": None, "active": True, "inactive": False}
LABELS = {
    "name": "Name",
    "factors": "Helps with",
    "languages": "Languages",
    "address": "Address",
    "phone": "Phone",
    "website": "Website",
    "hours": "Hours",
    "latitude": "Latitude",
    "longitude": "Longitude",
    "active": "Active",
}
CATEGORY_TITLES = {
    FactorCategory.BARRIERS: "Barriers: what keeps the child from getting to school",
    FactorCategory.AVERSION: "Aversion: school experiences the child avoids",
    FactorCategory.DISENGAGEMENT: "Disengagement: school does not hold the child",
    FactorCategory.MISCONCEPTIONS: "Misconceptions about absences",
    FactorCategory.OTHER: "Other",
}
_LANGUAGE_SEPARATORS = re.compile(r"[;,\s]+")


def _factor_groups() -> list[tuple[str, str, list[tuple[str, str]]]]:
    """``(category, title, [(code, label)])`` in the order of ``schemas.casework.FACTORS``."""
    groups: dict[FactorCategory, list[tuple[str, str]]] = {}
    for code, (category, label) in FACTORS.items():
        groups.setdefault(category, []).append((code.value, label))
    return [(c.value, CATEGORY_TITLES[c], codes) for c, codes in groups.items()]


FACTOR_GROUPS = _factor_groups()
FACTOR_LABELS = {code.value: label for code, (_, label) in FACTORS.items()}


@dataclass
class Typed:
    """A resource form as typed: every field a string (or the ticked codes), shown back as is."""

    name: str = ""
    factors: tuple[str, ...] = ()
    languages: str = "en"
    address: str = ""
    phone: str = ""
    website: str = ""
    hours: str = ""
    latitude: str = ""
    longitude: str = ""
    active: bool = True

    @classmethod
    def of(cls, row: Resource) -> Typed:
        def number(value: float | None) -> str:
            return "" if value is None else str(value)  # the shortest text that reads back as the same number

        return cls(
            name=row.name,
            factors=tuple(row.factors),
            languages=", ".join(row.languages),
            address=row.address or "",
            phone=row.phone or "",
            website=row.website or "",
            hours=row.hours or "",
            latitude=number(row.latitude),
            longitude=number(row.longitude),
            active=row.active,
        )


def _number(raw: str, field: str, errors: dict[str, str]) -> float | None:
    text = raw.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        errors[field] = "not a number: write it in decimal degrees, e.g. 41.7658"
        return None
    return value


def _read(typed: Typed) -> tuple[ResourceIn, dict[str, str]]:
    """The form as a ``ResourceIn``, and the problems ``service.problems`` finds, by field."""
    errors: dict[str, str] = {}
    factors: list[Factor] = []
    for code in typed.factors:
        if code not in service.FACTOR_CODES:
            raise InvalidInput("This form is not one the console gave out")
        factors.append(Factor(code))
    data = ResourceIn(
        name=typed.name,
        factors=factors,
        languages=[t for t in _LANGUAGE_SEPARATORS.split(typed.languages) if t] or ["en"],
        address=typed.address or None,
        phone=typed.phone or None,
        website=typed.website or None,
        hours=typed.hours or None,
        latitude=_number(typed.latitude, "latitude", errors),
        longitude=_number(typed.longitude, "longitude", errors),
        active=typed.active,
    )
    for field, reason in service.problems(data):
        if field in errors and field in ("latitude", "longitude"):
            continue  # "not a number" says it already
        errors[field] = f"{errors[field]}; {reason}" if field in errors else reason
    return data, errors


async def _typed(request: Request[Any, Any, Any]) -> tuple[Typed, dict[str, str]]:
    """The posted form as typed, and its hidden fields (``id``, ``version``)."""
    form = await request.form()
    hidden = {k: str(form.get(k, "")) for k in ("id", "version")}
    typed = Typed(
        **{f: str(form.get(f, "")) for f in ("name", "languages", "address", "phone", "website", "hours")},
        latitude=str(form.get("latitude", "")),
        longitude=str(form.get("longitude", "")),
        factors=tuple(str(v) for v in form.getall("factors", [])),
        active=str(form.get("active", "")) == "yes",
    )
    return typed, hidden


def _form(
    request: AuthRequest,
    status_code: int = 200,
    *,
    typed: Typed,
    resource: Resource | None = None,
    form_id: str = "",
    version: int | None = None,
    errors: dict[str, str] | None = None,
    problem: str | None = None,
    current: Resource | None = None,
) -> Template:
    errors = errors or {}
    if errors and problem is None:
        n = len(errors)
        problem = f"Nothing was saved: {n} field{'s' if n != 1 else ''} to correct, marked below."
    return page(
        request,
        "resource_form.html",
        status_code,
        typed=typed,
        resource=resource,
        form_id=form_id,
        version=resource.version if version is None and resource is not None else version,
        errors=errors,
        problem=problem,
        current=current,
        groups=FACTOR_GROUPS,
        labels=LABELS,
        factor_labels=FACTOR_LABELS,
    )


# --- the list and the upload ----------------------------------------------------------------------


async def _list_page(
    request: AuthRequest, db: Db, status_code: int = 200, show: str = "all", **context: Any
) -> Template:
    rows = await repo.listing(db, active=SHOW.get(show))
    return page(
        request,
        "resources.html",
        status_code,
        resources=rows,
        show=show,
        factor_labels=FACTOR_LABELS,
        limit=_megabytes(resource_imports.MAX_IMPORT_BYTES),
        columns=(*resource_imports.REQUIRED, *resource_imports.OPTIONAL),
        **({"saved": None, "problem": None, "result": None, "filename": None, "bad_rows": []} | context),
    )


def _megabytes(n: int) -> str:
    return f"{n // (1024 * 1024)} MB"


@get("/resources", opt=signed_in(*EDITORS))
async def resources_page(
    request: AuthRequest, db: Db, show: FromQuery[str | None] = None, saved: FromQuery[str | None] = None
) -> Template:
    """Every resource of the directory by name (or only the active, or inactive, ones)."""
    if show not in (None, *SHOW):
        raise InvalidInput(f"Unknown filter value {show!r}")
    just_saved = None
    if saved:
        try:
            just_saved = await repo.get(db, uuid.UUID(saved))
        except ValueError as exc:
            raise InvalidInput("This link is not one the console gave out") from exc
    return await _list_page(request, db, show=show or "all", saved=just_saved)


def _too_large(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    problem = (
        f"The file is too large: a resource import takes at most {_megabytes(resource_imports.MAX_IMPORT_BYTES)}. "
        "Nothing was imported."
    )
    return page(request, "error.html", 413, title="File too large", message=problem)


@post(
    "/resources/import",
    opt=signed_in(*EDITORS),
    status_code=200,
    request_max_body_size=resource_imports.MAX_IMPORT_BYTES + FORM_OVERHEAD,
    exception_handlers={RequestEntityTooLarge: _too_large},
)
async def upload_resources(request: AuthRequest, db: Db) -> Template:
    """A CSV file of resources (the same import as ``doorstep resources import``): the list again,
    with the counts and every bad row by line; a file refused whole says why."""
    form = await request.form()
    mode = choice(ImportMode, str(form.get("mode", ""))) or ImportMode.ALL_OR_NOTHING
    upload = form.get("file")
    limit = resource_imports.MAX_IMPORT_BYTES

    async def refused(status_code: int, problem: str) -> Template:
        await db.rollback()
        return await _list_page(request, db, status_code, problem=problem)

    if not isinstance(upload, UploadFile) or not upload.filename:
        return await refused(400, "Choose a CSV file to import. Nothing was imported.")
    try:
        content = await upload.read(limit + 1)
    finally:
        await upload.close()
    if not content:
        return await refused(400, f"The file “{upload.filename}” is empty. Nothing was imported.")
    if len(content) > limit:
        return await refused(413, f"The file is larger than {_megabytes(limit)}. Nothing was imported.")
    if not upload.filename.lower().endswith(".csv") or NUL.encode() in content:
        return await refused(
            400,
            f"“{upload.filename}” is not a CSV file. Save it from the spreadsheet as "
            "“CSV UTF-8 (comma delimited)” and upload that. Nothing was imported.",
        )
    try:
        result = await resource_imports.import_resources(
            db, actor_of(request), imp.body_lines(content), mode=mode, source_name="console upload"
        )
    except (InvalidInput, UnknownColumns, RepeatedColumns) as exc:
        detail = exc.detail.rstrip(".")
        told = "nothing was imported" in detail.lower()
        return await refused(
            400 if isinstance(exc, InvalidInput) else 422,
            f"“{upload.filename}”: {detail}." + ("" if told else " Nothing was imported."),
        )
    if not result.applied:
        await db.rollback()
    return await _list_page(
        request,
        db,
        200 if result.applied else 422,
        result=result,
        filename=upload.filename,
        bad_rows=result.bad_rows[:SHOWN_BAD_ROWS],
    )


# --- Add and Edit ---------------------------------------------------------------------------------


@get("/resources/new", opt=signed_in(*EDITORS))
async def new_resource(request: AuthRequest) -> Template:
    return _form(request, typed=Typed(), form_id=str(uuid.uuid4()))


@post("/resources", opt=signed_in(*EDITORS), status_code=303)
async def add_resource(request: AuthRequest, db: Db) -> Response[Any]:
    """Add, as a plain form post: the same service as ``POST /resources``, idempotent by the form's
    id (sent twice, it adds one resource). Added, to the list; refused, the form again."""
    typed, hidden = await _typed(request)
    try:
        form_id = uuid.UUID(hidden["id"])
    except ValueError as exc:
        raise InvalidInput("This form is not one the console gave out") from exc
    data, errors = _read(typed)
    if errors:
        return _form(request, 400, typed=typed, form_id=str(form_id), errors=errors)
    body = ResourceCreate(id=form_id, **{f: getattr(data, f) for f in service.CONTENT})
    try:
        row, _ = await service.create(db, actor_of(request), body)
    except DuplicateWithDifferentContent:
        await db.rollback()
        problem = (
            "This form was already used to add a resource, so nothing was added now. Open that resource "
            "from the list to change it, or add this one again from a new form."
        )
        return _form(request, 409, typed=typed, form_id=str(form_id), problem=problem)
    return Redirect(f"{PATH}/resources?saved={row.id}", status_code=303)


@get("/resources/{resource_id:uuid}", opt=signed_in(*EDITORS))
async def edit_resource(request: AuthRequest, db: Db, resource_id: FromPath[uuid.UUID]) -> Template:
    row = await repo.get(db, resource_id)
    if row is None:
        raise NotFound("No such resource")
    return _form(request, typed=Typed.of(row), resource=row)


@post("/resources/{resource_id:uuid}", opt=signed_in(*EDITORS), status_code=303)
async def save_resource(request: AuthRequest, db: Db, resource_id: FromPath[uuid.UUID]) -> Response[Any]:
    """Edit, as a plain form post: the same service as ``PUT /resources/{id}`` with the version the
    form was opened at, so a change someone made meanwhile is not overwritten unseen."""
    row = await repo.get(db, resource_id)
    if row is None:
        raise NotFound("No such resource")
    typed, hidden = await _typed(request)
    try:
        expected = int(hidden["version"])
    except ValueError as exc:
        raise InvalidInput("This form is not one the console gave out") from exc
    data, errors = _read(typed)
    if errors:
        return _form(request, 400, typed=typed, resource=row, version=expected, errors=errors)
    try:
        await service.update(db, actor_of(request), resource_id, data, expected_version=expected)
    except service.VersionMismatch:
        await db.rollback()
        current = await repo.get(db, resource_id)
        assert current is not None
        problem = (
            f"Someone saved this resource while you were editing it (it is now at version {current.version}), "
            "so nothing was saved. What is stored now is listed below; your changes are still in the form: "
            "check them and save again."
        )
        return _form(request, 409, typed=typed, resource=current, problem=problem, current=current)
    return Redirect(f"{PATH}/resources?saved={resource_id}", status_code=303)


HANDLERS = [resources_page, upload_resources, new_resource, add_resource, edit_resource, save_resource]
