"""The OpenAPI document says what the API does: ``describe(app)`` finishes what Litestar generates.

Litestar documents each handler's parameters, JSON body and success answer. What it cannot see is
added here, in one pass over the route table, so that no route can forget it:

- the bodies of handlers that read the raw request themselves (sync push and pull, CSV imports);
- the bearer security scheme, required by every route but the public ones (``security: []``);
- every problem a route can answer, as ``application/problem+json`` with the ``Problem`` schema.
  Which statuses a route answers follows from what it is (authenticated, has parameters or a body,
  uses the database); the few that only its service knows (409, 422, ...) are listed in
  ``DOMAIN_PROBLEMS`` below, by handler name.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any, cast

import msgspec
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import (
    Components,
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Reference,
    RequestBody,
    Schema,
    SecurityScheme,
)
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from litestar.routes import HTTPRoute

from schemas.mutations import Mutation
from schemas.sync import PullRequest
from server.auth.guards import ALL_ROLES, PUBLIC_ROLE, declared_roles
from server.inputs import BODY, JSON, RAW

PROBLEM_MEDIA_TYPE = "application/problem+json"
BEARER = "bearer"
PROBLEM = "Problem"

# Each status's meaning, as the operation's description of that answer (docs/api.md has the codes).
PROBLEM_DESCRIPTIONS: dict[int, str] = {
    400: "Malformed request: a parameter or the body cannot be read (code `malformed`; `errors` names each field)",
    401: "Not authenticated: no, expired or revoked token, or wrong credentials"
    " (codes `not_authenticated`, `token_invalid`, `device_revoked`, `invalid_credentials`)",
    403: "The caller's role may not do this, or not to this record (code `forbidden`)",
    404: "No such record, or not one the caller may see (code `not_found`)",
    409: "The request contradicts what exists (codes `conflict`, `invalid_transition`, `duplicate_id`,"
    " `stale_version` with the record as it is now in `current`)",
    413: "The body is larger than this route accepts (code `body_too_large`)",
    415: "The body is not sent as JSON (code `unsupported_media_type`)",
    422: "An import refused: bad rows (`import_rejected`, `bad_rows` lists each line and reason) or a header"
    " with unknown or repeated columns (`unknown_columns`, `repeated_columns`); nothing was written",
    412: "A precondition failed: on an upload, not tus 1.0.0 (`Tus-Resumable: 1.0.0` is required; code"
    " `tus_version_unsupported`, `Tus-Version` says which version this server speaks); on a write with"
    " `If-Match`, the record is at another version (code `stale_version`, the record as it is now in `current`)",
    423: "Another request is writing to this upload; retry once it ends (code `upload_locked`)",
    429: "Too many attempts; retry after the seconds in `Retry-After` (code `rate_limited`)",
    460: "The chunk's `Upload-Checksum` does not match its bytes; the chunk was not kept (code `checksum_mismatch`)",
    503: "The database (or, for an upload, the file store) is unavailable, or the request met concurrent changes;"
    " retry after the seconds in `Retry-After` (code `unavailable`)",
    507: "The file store is full: nothing of the chunk was kept; retry after the seconds in `Retry-After`"
    " (code `storage_full`)",
}

RETRY_AFTER = OpenAPIHeader(
    description="Seconds to wait before trying again", required=True, schema=Schema(type=OpenAPIType.INTEGER)
)

DOMAIN_PROBLEMS: dict[str, frozenset[int]] = {
    # handler name: statuses its service raises beyond those every route of its kind answers
    "login": frozenset({401, 429}),
    "refresh": frozenset({401, 429}),
    "revoke_device": frozenset({403}),  # a supervisor, another team's device
    "assign_case": frozenset({403, 409}),  # a supervisor assigns only to her team
    "transition_case": frozenset({409}),
    "create_referral": frozenset({403, 404, 409}),  # a counselor refers only her schools' students
    "override_referral": frozenset({409}),
    "resolve_conflict": frozenset({409}),
    "decide_visit": frozenset({409}),  # duplicate_id, stale_version, invalid_transition
    "push": frozenset({403}),  # a client_id that is not the token's device
    "pull": frozenset({403}),
    "roster_import": frozenset({422}),
    "calendar_import": frozenset({422}),
    "attendance_import": frozenset({422}),
    "resource_import": frozenset({422}),
    "create_resource": frozenset({409}),  # duplicate_id
    "update_resource": frozenset({412}),  # stale_version: If-Match names another version
    "create_letter": frozenset({409}),  # duplicate_id
    "letter_pdf": frozenset({409}),  # not_ready: asked for, not made yet
    "letter_mailed": frozenset({409}),  # invalid_transition
    "letter_returned": frozenset({409}),
    "create_batch": frozenset({409}),  # duplicate_id
    "batch_pdf": frozenset({409}),  # not_ready while it runs
    "batch_mailed": frozenset({409}),
    # tus (docs/protocol.md): 409 a wrong Upload-Offset, 413 over the size limit or past Upload-Length,
    # 422 a finished file refused (unsupported_type, decompression_bomb, unreadable, sha256_mismatch)
    # 507 the file store full (503 when it fails otherwise, like every route's database)
    "create_upload": frozenset({400, 404, 412, 413, 415, 422, 423, 460, 507}),
    "upload_state": frozenset({412}),
    "upload_chunk": frozenset({400, 409, 412, 413, 415, 422, 423, 460, 507}),
    "terminate_upload": frozenset({412, 423}),
    "form_photo_file": frozenset({409}),  # photo_not_received, photo_processing (with Retry-After)
    "form_photo_thumbnail": frozenset({409}),
}


class PushRequest(msgspec.Struct):
    """``schemas.sync.PushRequest`` as a phone writes it. The server keeps each mutation raw until it
    decodes it on its own (one bad mutation is rejected, not the batch), so the handler reads the
    body itself; this is the shape that body has."""

    client_id: uuid.UUID
    schema_version: int
    mutations: list[Mutation]


_CSV = Schema(type=OpenAPIType.STRING, description="A CSV file, UTF-8 (a BOM is allowed); see docs/imports.md")
_CHUNK = Schema(
    type=OpenAPIType.STRING,
    format=OpenAPIFormat.BINARY,
    description="The file's bytes from `Upload-Offset` on (tus 1.0.0; see docs/protocol.md)",
)

# Handlers that read their body themselves: the body as the OpenAPI describes it.
RAW_BODIES: dict[str, tuple[str, type[msgspec.Struct] | Schema]] = {
    "push": ("application/json", PushRequest),
    "pull": ("application/json", PullRequest),
    "roster_import": ("text/csv", _CSV),
    "calendar_import": ("text/csv", _CSV),
    "attendance_import": ("text/csv", _CSV),
    "resource_import": ("text/csv", _CSV),
    "upload_chunk": ("application/offset+octet-stream", _CHUNK),
}


def problem_schema() -> Schema:
    """RFC 9457 problem details as this API writes them: ``code`` is the stable, machine-read part."""
    string = Schema(type=OpenAPIType.STRING)
    return Schema(
        title=PROBLEM,
        type=OpenAPIType.OBJECT,
        description="An RFC 9457 problem document. Other members may follow (e.g. `bad_rows` of an import).",
        required=["type", "title", "status", "detail", "code"],
        properties={
            "type": Schema(type=OpenAPIType.STRING, description="`urn:doorstep:problem:` and the code"),
            "title": string,
            "status": Schema(type=OpenAPIType.INTEGER, minimum=400, maximum=599),
            "detail": string,
            "code": Schema(type=OpenAPIType.STRING, description="Stable and snake_case; apps branch on it"),
            "errors": Schema(
                type=OpenAPIType.ARRAY,
                description="For `malformed`: one entry per field that could not be read",
                items=Schema(
                    type=OpenAPIType.OBJECT,
                    properties={"message": string, "key": string, "source": string},
                ),
            ),
        },
    )


def _operations(app: Litestar, openapi: OpenAPI) -> Iterator[tuple[HTTPRouteHandler, Operation]]:
    """Each documented handler with its operation in the document."""
    paths = openapi.paths or {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        path_item = paths.get(route.path_format or "/")
        if path_item is None:
            continue
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            for method in sorted(handler.http_methods):
                operation = getattr(path_item, method.lower(), None)
                if isinstance(operation, Operation):
                    yield handler, operation


def _name(handler: HTTPRouteHandler) -> str:
    return handler.handler_name


def is_public(handler: HTTPRouteHandler) -> bool:
    return declared_roles(handler) == PUBLIC_ROLE


def problem_statuses(handler: HTTPRouteHandler, operation: Operation) -> set[int]:
    """Every problem status this operation can answer (500 aside: that one is a bug)."""
    public = is_public(handler)
    reads_body = operation.request_body is not None
    has_parameters = bool(operation.parameters) or reads_body
    has_path_parameters = any(getattr(p, "param_in", None) == "path" for p in operation.parameters or [])
    uses_db = not public or "db" in handler.parsed_fn_signature.parameters
    statuses = set(DOMAIN_PROBLEMS.get(_name(handler), ()))
    if not public:
        statuses.add(401)  # the bearer middleware
        if declared_roles(handler) != frozenset(ALL_ROLES):
            statuses.add(403)  # the role guard
    if has_parameters:
        statuses.add(400)
    if has_path_parameters:
        statuses.add(404)  # no such record, or not the caller's (and a path that is no id at all)
    if reads_body:
        statuses.add(413)
        if handler.opt.get(BODY, JSON) != RAW:
            statuses.add(415)  # JSON routes take JSON only (server.inputs)
    if uses_db:
        statuses.add(503)
    return statuses


def _add_components(openapi: OpenAPI, components: dict[str, Any]) -> None:
    """Add msgspec-made schemas; a name Litestar already used must mean the same enum."""
    schemas = cast(dict[str, Any], openapi.components.schemas)
    for name, schema in components.items():
        existing = schemas.get(name)
        if existing is None:
            schemas[name] = schema
            continue
        existing_enum = existing.enum if isinstance(existing, Schema) else existing.get("enum")
        if "enum" not in schema or set(existing_enum or ()) != set(schema["enum"]):
            raise ValueError(f"OpenAPI component {name!r} would mean two different things")


def _raw_body(openapi: OpenAPI, handler: HTTPRouteHandler) -> RequestBody | None:
    declared = RAW_BODIES.get(_name(handler))
    if declared is None:
        return None
    media_type, body = declared
    if isinstance(body, Schema):
        schema: Schema | Reference = body
    else:
        (ref,), components = msgspec.json.schema_components([body], ref_template="#/components/schemas/{name}")
        _add_components(openapi, components)
        schema = Reference(ref=ref["$ref"])
    return RequestBody(content={media_type: OpenAPIMediaType(schema=schema)}, required=True)


def describe(app: Litestar) -> OpenAPI:
    """Finish the app's OpenAPI document (built now, if it was not yet) and return it.

    Litestar rebuilds the document when a route is registered after the app is made; call this
    again then."""
    openapi = app.openapi_schema
    if openapi.components is None:  # pragma: no cover - Litestar always makes one
        openapi.components = Components()
    openapi.components.security_schemes = {
        BEARER: SecurityScheme(
            type="http",
            scheme="bearer",
            bearer_format="JWT",
            description="The access token from POST /auth/login or /auth/refresh",
        )
    }
    cast(dict[str, Any], openapi.components.schemas)[PROBLEM] = problem_schema()
    problem = OpenAPIMediaType(schema=Reference(ref=f"#/components/schemas/{PROBLEM}"))
    named = set()
    for handler, operation in _operations(app, openapi):
        named.add(_name(handler))
        if operation.request_body is None:
            operation.request_body = _raw_body(openapi, handler)
        operation.security = [] if is_public(handler) else [{BEARER: []}]
        responses = dict(operation.responses or {})
        own = {str(status) for status in handler.responses or {}}  # e.g. GET /ready's 503, a JSON body
        statuses = problem_statuses(handler, operation)
        if "400" in responses:
            statuses.add(400)  # Litestar documents its validation error as application/json: it is a problem
        for status in sorted(statuses):
            if str(status) not in own:
                responses[str(status)] = OpenAPIResponse(
                    description=PROBLEM_DESCRIPTIONS.get(status) or HTTPStatus(status).phrase,
                    content={PROBLEM_MEDIA_TYPE: problem},
                    headers={"Retry-After": RETRY_AFTER} if status in (429, 503, 507) else None,
                )
        operation.responses = dict(sorted(responses.items()))
    if stale := (set(DOMAIN_PROBLEMS) | set(RAW_BODIES)) - named:
        raise ValueError(f"server.openapi names handlers the app does not have: {sorted(stale)}")
    return openapi
