"""The tus 1.0.0 endpoint, ``/uploads/``: where the files of registered form photos come.

Thin: headers are parsed in ``tus``, the work is done in ``service``. Any stock tus client works
with the endpoint, a bearer token and ``form_photo_id`` in ``Upload-Metadata``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from litestar import Response, Router, delete, head, patch, post, route
from litestar.params import FromPath
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from schemas.auth import Role
from server.auth.guards import PUBLIC, allow
from server.blobs import Blobs
from server.deps import AuthRequest, Config, Db
from server.uploads import service, tus
from server.uploads.models import Upload

UPLOADERS = allow(Role.CASE_MANAGER, Role.SUPERVISOR, Role.OFFICE_STAFF, Role.ADMIN)


def _blobs(request: AuthRequest) -> Blobs:
    blobs: Blobs = request.app.state.blobs
    return blobs


def _state(upload: Upload, **extra: Any) -> dict[str, str]:
    """The headers that tell a client where its upload stands."""
    fields: dict[str, Any] = {"Upload-Offset": upload.upload_offset, **extra}
    if upload.finished_at is None:
        fields["Upload-Expires"] = tus.http_date(upload.expires_at)
    return tus.headers(**fields)


def _written(request: AuthRequest, written: service.Written, status: int, **extra: Any) -> Response[None]:
    if written.refused is not None:
        raise written.refused  # recorded and committed already: the answer is the problem
    return Response(None, status_code=status, headers=_state(written.upload, **extra))


@route("/uploads", http_method=["OPTIONS"], opt=PUBLIC, include_in_schema=False)
async def capabilities(settings: Config) -> Response[None]:
    return Response(
        None,
        status_code=HTTP_204_NO_CONTENT,
        headers=tus.headers(
            **{
                "Tus-Version": tus.VERSION,
                "Tus-Extension": tus.EXTENSIONS,
                "Tus-Max-Size": settings.max_upload_bytes,
                "Tus-Checksum-Algorithm": ",".join(tus.CHECKSUMS),
            }
        ),
    )


@post("/uploads", opt=UPLOADERS, request_max_body_size=None)
async def create_upload(request: AuthRequest, db: Db, settings: Config) -> Response[None]:
    """Creation, and creation-with-upload when the request carries a first chunk."""
    hdrs = request.headers
    tus.check_version(hdrs)
    if "upload-defer-length" in hdrs:
        raise tus.BadUploadHeader("Upload-Defer-Length is not supported: send Upload-Length", header="Upload-Length")
    length = tus.non_negative(hdrs, "Upload-Length")
    metadata = tus.parse_metadata(hdrs.get("upload-metadata"))
    upload = await service.create(db, settings, request.user.user_id, length, metadata)
    location = f"/uploads/{upload.id}"
    with_body = hdrs.get("content-type") == tus.CONTENT_TYPE and (
        hdrs.get("content-length", "0") != "0" or "transfer-encoding" in hdrs
    )
    if not with_body:
        return Response(None, status_code=HTTP_201_CREATED, headers=_state(upload, Location=location))
    checksum = tus.parse_checksum(hdrs.get("upload-checksum"))
    await db.commit()  # the upload exists before its first chunk takes the lease
    written = await service.write(
        db, _blobs(request), settings, upload.id, request.user.user_id, 0, checksum, request.stream()
    )
    return _written(request, written, HTTP_201_CREATED, Location=location)


@head("/uploads/{upload_id:uuid}", opt=UPLOADERS)
async def upload_state(request: AuthRequest, db: Db, upload_id: FromPath[uuid.UUID]) -> Response[None]:
    tus.check_version(request.headers)
    upload = await service.head(db, upload_id, request.user.user_id, datetime.now(UTC))
    extra: dict[str, Any] = {"Upload-Length": upload.length}
    if upload.metadata_:
        extra["Upload-Metadata"] = tus.encode_metadata(upload.metadata_)
    return Response(None, status_code=200, headers=_state(upload, **extra))


@patch("/uploads/{upload_id:uuid}", opt=UPLOADERS, request_max_body_size=None)
async def upload_chunk(
    request: AuthRequest, db: Db, settings: Config, upload_id: FromPath[uuid.UUID]
) -> Response[None]:
    hdrs = request.headers
    tus.check_version(hdrs)
    if hdrs.get("content-type") != tus.CONTENT_TYPE:
        raise tus.WrongContentType(f"Content-Type must be {tus.CONTENT_TYPE}, got {hdrs.get('content-type')!r}")
    offset = tus.non_negative(hdrs, "Upload-Offset")
    checksum = tus.parse_checksum(hdrs.get("upload-checksum"))
    written = await service.write(
        db, _blobs(request), settings, upload_id, request.user.user_id, offset, checksum, request.stream()
    )
    return _written(request, written, HTTP_204_NO_CONTENT)


@delete("/uploads/{upload_id:uuid}", opt=UPLOADERS, status_code=HTTP_204_NO_CONTENT)
async def terminate_upload(request: AuthRequest, db: Db, upload_id: FromPath[uuid.UUID]) -> Response[None]:
    tus.check_version(request.headers)
    await service.terminate(db, _blobs(request), upload_id, request.user.user_id)
    return Response(None, status_code=HTTP_204_NO_CONTENT, headers=tus.headers())


router = Router(path="/", route_handlers=[capabilities, create_upload, upload_state, upload_chunk, terminate_upload])
