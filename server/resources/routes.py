"""Routes of the directory of resources (everyone reads it, office staff and admins write it) and
the list of assessment factors, the vocabulary resources and assessments share."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Response, Router, get, post, put
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter

from schemas.casework import Factor, FactorOut, ResourceCreate, ResourceIn, ResourceOut, factor_list
from schemas.imports import ImportMode, ImportResult
from server import imports as imp
from server.auth.guards import ALL_ROLES, allow
from server.deps import AuthRequest, Db, actor_of
from server.errors import InvalidInput
from server.inputs import BODY, RAW
from server.resources import repository as repo
from server.resources import service
from server.resources.imports import MAX_IMPORT_BYTES, import_resources
from server.resources.models import Resource

IfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match",
        required=False,
        description='The version the change is based on (`"3"`, as in `version`): another version answers 412',
    ),
]


def expected_version(if_match: str | None) -> int | None:
    """The version an ``If-Match`` header names (``"3"``, ``W/"3"`` or ``3``); none for ``*``."""
    if if_match is None or if_match.strip() == "*":
        return None
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit() or len(value) > 9:
        raise InvalidInput(f'If-Match: expected the resource\'s version in quotes, e.g. "3", got {if_match[:40]!r}')
    return int(value)


def _answer(row: Resource, status_code: int) -> Response[ResourceOut]:
    return Response(service.out(row), status_code=status_code, headers={"ETag": f'"{row.version}"'})


@get("/assessment-factors", opt=allow(*ALL_ROLES))
async def assessment_factors() -> list[FactorOut]:
    """Every factor of why a child misses school, grouped by category (barriers, aversion,
    disengagement, misconceptions, other): the codes assessments and resources use."""
    return factor_list()


@get("/resources", opt=allow(*ALL_ROLES))
async def list_resources(
    db: Db,
    active: FromQuery[bool | None] = None,
    factor: FromQuery[Factor | None] = None,
    language: Annotated[str | None, QueryParameter(max_length=35)] = None,
) -> list[ResourceOut]:
    """The district's directory, by name. ``active``: only active (or inactive) ones; ``factor``: those
    that help with it; ``language``: those serving families in that language (``pt`` finds ``pt-BR``)."""
    tag = None
    if language is not None:
        try:
            tag = service.language_tag(language)
        except ValueError as exc:
            raise InvalidInput(f"language: {exc}") from exc
    return [service.out(r) for r in await repo.listing(db, active=active, factor=factor, language=tag)]


@post(
    "/resources",
    opt=allow(*service.WRITERS),
    status_code=201,
    responses={200: ResponseSpec(ResourceOut, description="The same id and content again (a retry): the resource")},
)
async def create_resource(request: AuthRequest, db: Db, data: JSONBody[ResourceCreate]) -> Response[ResourceOut]:
    """201 for a new resource; 200 with the same answer when the same ``id`` and content come again
    (a retry), 409 ``duplicate_id`` when the ``id`` is taken with other content."""
    row, created = await service.create(db, actor_of(request), data)
    return _answer(row, 201 if created else 200)


@put("/resources/{resource_id:uuid}", opt=allow(*service.WRITERS))
async def update_resource(
    request: AuthRequest,
    db: Db,
    resource_id: FromPath[uuid.UUID],
    data: JSONBody[ResourceIn],
    if_match: IfMatch = None,
) -> Response[ResourceOut]:
    """Replace the resource's fields; a change bumps its version (the same fields again change
    nothing). With ``If-Match``, a resource changed meanwhile is 412 ``stale_version``."""
    row, _ = await service.update(db, actor_of(request), resource_id, data, expected_version=expected_version(if_match))
    return _answer(row, 200)


@post(
    "/resources/imports",
    opt=allow(*service.WRITERS) | {BODY: RAW},
    status_code=200,
    request_max_body_size=MAX_IMPORT_BYTES,
)
async def resource_import(
    request: AuthRequest, db: Db, mode: FromQuery[ImportMode] = ImportMode.ALL_OR_NOTHING
) -> ImportResult:
    """Add and update resources from a CSV file (docs/imports.md)."""
    lines = imp.body_lines(await request.body())
    return imp.rejected_unless_applied(
        await import_resources(db, actor_of(request), lines, mode=mode, source_name="upload")
    )


router = Router(
    path="/",
    route_handlers=[assessment_factors, list_resources, create_resource, update_resource, resource_import],
)
