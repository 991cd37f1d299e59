"""tus uploads: create, write a chunk, finish, terminate.

A PATCH takes the upload's lease and commits it before reading the body, so the request holds no
database connection while a phone on a poor signal sends its bytes, and a second PATCH at once is
refused (423) instead of writing. The chunk streams to the blob store as one part; it counts only
once its checksum (if sent) matched and the lease still held when the offset moved on. The last
chunk finishes the upload: the file is hashed, checked by content and stored once per sha256
(``server.photos.files``), and it meets its form photo's registration if that came first.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar.exceptions import InternalServerException
from sqlalchemy.ext.asyncio import AsyncSession

from server.blobs import Blobs
from server.cases.models import FormPhoto
from server.photos import files
from server.settings import Settings
from server.uploads import repository as repo
from server.uploads import tus
from server.uploads.models import Upload

LEASE = timedelta(minutes=2)
RENEW_SECONDS = 30.0
"""A writer renews its lease this often while bytes come, so a slow phone keeps it."""
LOCK_WAIT_SECONDS = 2.0
"""A PATCH that finds another writer waits this long for it before answering 423: a phone that
resumes the moment its connection dropped meets the lost PATCH, which lets go a few ms later."""
LOCK_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Written:
    upload: Upload
    refused: tus.FileRefused | None = None
    """The finished file was refused: recorded (and committed), to be answered as a problem."""


def _now() -> datetime:
    return datetime.now(UTC)


async def create(
    db: AsyncSession, settings: Settings, user_id: uuid.UUID, length: int, metadata: dict[str, str]
) -> Upload:
    if length > settings.max_upload_bytes:
        raise tus.UploadTooLarge(
            f"Upload-Length {length} is over this server's limit of {settings.max_upload_bytes} bytes",
            max_bytes=settings.max_upload_bytes,
        )
    if length == 0:
        raise tus.BadUploadHeader("Upload-Length is 0: an empty file is not a photo", header="Upload-Length")
    raw = metadata.get("form_photo_id")
    if raw is None:
        raise tus.BadUploadHeader("Upload-Metadata must name the form_photo_id", header="Upload-Metadata")
    try:
        photo_id = uuid.UUID(raw)
    except ValueError as exc:
        raise tus.BadUploadHeader(f"form_photo_id {raw[:40]!r} is not a UUID", header="Upload-Metadata") from exc
    photo = await db.get(FormPhoto, photo_id)
    if photo is not None and photo.created_by != user_id:
        # Only the phone that registered a photo sends its file; to anyone else it does not exist.
        raise tus.UploadGone(f"No form photo {photo_id} of yours")
    upload = Upload(
        id=uuid.uuid4(),
        form_photo_id=photo_id,
        user_id=user_id,
        length=length,
        metadata_=metadata,
        parts=[],
        upload_offset=0,
        expires_at=_now() + timedelta(seconds=settings.upload_expiry_seconds),
    )
    db.add(upload)
    await db.flush()
    return upload


async def write(
    db: AsyncSession,
    blobs: Blobs,
    settings: Settings,
    upload_id: uuid.UUID,
    user_id: uuid.UUID,
    offset: int,
    checksum: tuple[str, bytes] | None,
    body: AsyncIterable[bytes],
) -> Written:
    """Write one chunk at ``offset``. Commits in steps (lease, part, the finish's own); see the module."""
    writer = uuid.uuid4()
    upload = await _lease(db, upload_id, user_id, writer)
    try:
        if upload.finished_at is not None or offset != upload.upload_offset:
            raise tus.OffsetMismatch(
                f"Upload-Offset {offset} is not this upload's offset {upload.upload_offset}",
                offset=upload.upload_offset,
            )
        await db.commit()  # the lease is seen by every worker; the connection goes back to the pool
        key = f"uploads/{upload.id}/{offset:015d}-{writer.hex}"
        whole = hashlib.sha256() if offset == 0 else None
        chunk = _Chunk(db, upload, writer, checksum, whole)
        await blobs.put_stream(key, chunk.read(body))
        moved = upload
        if chunk.size == 0:
            await blobs.delete(key)
        else:
            expires = _now() + timedelta(seconds=settings.upload_expiry_seconds)
            added = await repo.add_part(db, upload.id, writer, offset, key, chunk.size, expires)
            if added is None:
                await blobs.delete(key)
                raise tus.UploadLocked("This request's turn to write ran out: resume from the server's offset")
            moved = added
            await db.commit()  # the chunk counts, whatever happens to the finish
        if moved.upload_offset < moved.length:
            await repo.release(db, upload.id, writer)
            return Written(moved)
        # Every byte is here: finish (also for an empty PATCH on an upload a failed finish left).
        known = whole.hexdigest() if whole is not None and chunk.size and len(moved.parts) == 1 else None
        refused = await files.finish(db, blobs, settings, moved, known)
        await repo.release(db, upload.id, writer)
        await db.commit()  # a refusal is answered as a problem, which rolls back what is not committed
        return Written(moved, refused)
    except BaseException:
        await db.rollback()  # expires ``upload``: only ids from here on
        await repo.release(db, upload_id, writer)
        await db.commit()
        raise


async def _lease(db: AsyncSession, upload_id: uuid.UUID, user_id: uuid.UUID, writer: uuid.UUID) -> Upload:
    """Take the upload's lease, waiting a little for a writer that holds it (no transaction is
    kept open while waiting)."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while (upload := await repo.take_lease(db, upload_id, user_id, writer, LEASE)) is None:
        existing = await repo.get(db, upload_id, user_id)
        if existing is None or (existing.finished_at is None and existing.expires_at < _now()):
            raise tus.UploadGone(f"No upload {upload_id}")
        await db.rollback()
        if time.monotonic() >= deadline:
            raise tus.UploadLocked("Another request is writing to this upload; retry after it ends")
        await asyncio.sleep(LOCK_POLL_SECONDS)
    return upload


class _Chunk:
    """A PATCH body on its way to the blob store: counted, hashed, checked, the lease renewed."""

    def __init__(
        self,
        db: AsyncSession,
        upload: Upload,
        writer: uuid.UUID,
        checksum: tuple[str, bytes] | None,
        whole: Any,
    ) -> None:
        self.db, self.upload, self.writer, self.whole = db, upload, writer, whole
        self.checksum = checksum
        self.hasher = tus.CHECKSUMS[checksum[0]]() if checksum else None
        self.size = 0

    async def read(self, body: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        room = self.upload.length - self.upload.upload_offset
        renewed = time.monotonic()
        async for data in _until_hung_up(body):
            if not data:
                continue
            self.size += len(data)
            if self.size > room:
                raise tus.BodyTooLong(f"The chunk runs past Upload-Length {self.upload.length}")
            if self.hasher is not None:
                self.hasher.update(data)
            if self.whole is not None:
                self.whole.update(data)
            if time.monotonic() - renewed > RENEW_SECONDS:
                if not await repo.renew_lease(self.db, self.upload.id, self.writer, LEASE):
                    raise tus.UploadLocked("This request's turn to write ran out: resume from the server's offset")
                await self.db.commit()
                renewed = time.monotonic()
            yield data
        if self.checksum is not None and self.hasher is not None and self.hasher.digest() != self.checksum[1]:
            raise tus.ChecksumMismatch(f"The chunk's {self.checksum[0]} does not match Upload-Checksum")


async def _until_hung_up(body: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    try:
        async for data in body:
            yield data
    except InternalServerException as exc:  # Litestar's word for an http.disconnect mid-body
        raise tus.ClientGone("The connection closed before the chunk was whole") from exc


async def terminate(db: AsyncSession, blobs: Blobs, upload_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """DELETE: the upload and its parts go (a finished upload's file stays if a photo has it)."""
    upload = await _lease(db, upload_id, user_id, uuid.uuid4())
    await db.delete(upload)
    await db.flush()
    await blobs.delete_prefix(f"uploads/{upload.id}/")


async def head(db: AsyncSession, upload_id: uuid.UUID, user_id: uuid.UUID, now: datetime) -> Upload:
    upload = await repo.get(db, upload_id, user_id)
    if upload is None or (upload.finished_at is None and upload.expires_at < now):
        raise tus.UploadGone(f"No upload {upload_id}")
    return upload
