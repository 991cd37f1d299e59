"""A form photo's record, its file and its thumbnail: to whoever may read its case, every read
audited with the student's id, a refused read kept too (it answers what a missing photo answers)."""

from __future__ import annotations

import uuid

import msgspec
from litestar import Router, get
from litestar.params import FromPath
from litestar.response import Stream
from sqlalchemy import select

from schemas.cases import FormPhotoOut, UploadStatus
from server import audit, scope
from server.auth.guards import ALL_ROLES, allow
from server.blobs import Blobs
from server.cases.models import Case, FormPhoto
from server.deps import AuthRequest, Db, actor_of
from server.errors import Conflict
from server.photos import files
from server.photos.models import PhotoFile


class NotReceived(Conflict):
    code, title = "photo_not_received", "This photo's file has not been received"


class NotReady(Conflict):
    code, title = "photo_processing", "This photo's file is being processed: retry in a moment"

    def __init__(self) -> None:
        super().__init__()
        self.headers = {"Retry-After": "5"}


async def _visible(request: AuthRequest, db: Db, photo_id: uuid.UUID, action: str) -> FormPhoto:
    """The photo if the caller may read its case (``server.scope``); the read is audited either way."""
    visible = scope.form_photos(scope.Reader.of(request.user))
    photo = await db.scalar(select(FormPhoto).where(FormPhoto.id == photo_id, FormPhoto.deleted_at.is_(None), visible))
    student_id = await db.scalar(
        select(Case.student_id).join(FormPhoto, FormPhoto.case_id == Case.id).where(FormPhoto.id == photo_id)
    )
    if photo is None:
        await audit.refuse_read(db, actor_of(request), "form_photo", photo_id, student_id=student_id)
    audit.record(
        db, actor_of(request), action, "form_photo", photo.id, student_id=student_id, case_id=str(photo.case_id)
    )
    return photo


@get("/form-photos/{photo_id:uuid}", opt=allow(*ALL_ROLES))
async def read_form_photo(request: AuthRequest, db: Db, photo_id: FromPath[uuid.UUID]) -> FormPhotoOut:
    photo = await _visible(request, db, photo_id, "form_photo.read")
    return msgspec.convert(photo, FormPhotoOut, from_attributes=True)


async def _stored(db: Db, photo: FormPhoto) -> PhotoFile:
    if photo.upload_status != UploadStatus.RECEIVED.value:
        raise NotReceived(f"Form photo {photo.id} is {photo.upload_status}")
    stored = await db.get(PhotoFile, photo.sha256)
    if stored is None:
        raise NotReceived(f"Form photo {photo.id} has no stored file")
    if stored.processed_at is None:
        raise NotReady()
    return stored


def _stream(request: AuthRequest, key: str, media_type: str, name: str) -> Stream:
    blobs: Blobs = request.app.state.blobs
    return Stream(
        blobs.stream(key),
        media_type=media_type,
        headers={  # nosniff and the other security headers: server/security.py, on every answer
            "Content-Disposition": f'inline; filename="{name}"',
            "Cache-Control": "private, no-store",
        },
    )


_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}


@get("/form-photos/{photo_id:uuid}/file", opt=allow(*ALL_ROLES))
async def form_photo_file(request: AuthRequest, db: Db, photo_id: FromPath[uuid.UUID]) -> Stream:
    """The served copy: every EXIF field stripped, upright; a HEIC photo as JPEG."""
    photo = await _visible(request, db, photo_id, "form_photo.file_read")
    stored = await _stored(db, photo)
    media_type = stored.served_media_type or stored.media_type
    name = f"{photo.form_type}-{photo.id}.{_EXTENSIONS.get(media_type, 'bin')}"
    return _stream(request, files.served_key(stored.sha256), media_type, name)


async def thumbnail(request: AuthRequest, db: Db, photo_id: uuid.UUID) -> Stream:
    """A photo's thumbnail, under the photo's scope and audit: the API's route and the console's
    (which signs in with a session cookie, not a bearer token) both answer with this."""
    photo = await _visible(request, db, photo_id, "form_photo.thumbnail_read")
    stored = await _stored(db, photo)
    return _stream(request, files.thumb_key(stored.sha256), "image/jpeg", f"thumbnail-{photo.id}.jpg")


@get("/form-photos/{photo_id:uuid}/thumbnail", opt=allow(*ALL_ROLES))
async def form_photo_thumbnail(request: AuthRequest, db: Db, photo_id: FromPath[uuid.UUID]) -> Stream:
    return await thumbnail(request, db, photo_id)


router = Router(path="/", route_handlers=[read_form_photo, form_photo_file, form_photo_thumbnail])
