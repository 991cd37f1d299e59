"""A finished upload becomes a stored file: hashed, checked by content, kept once per sha256,
and met with its form photo's registration (``sync.photos``) if that came first.

What is refused (not an image or PDF, a decompression bomb, a hash that differs from the
registration) is kept nowhere; the upload and the photo say why.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cases import UploadStatus
from server import queue
from server.blobs import Blobs
from server.cases.models import FormPhoto
from server.photos import inspect
from server.settings import Settings
from server.uploads import repository as repo
from server.uploads import tus
from server.uploads.models import Upload
from sync import photos

SNIFF_BYTES = 64


def blob_key(sha256: str) -> str:
    return f"blobs/{sha256}"


def served_key(sha256: str) -> str:
    return f"served/{sha256}"


def thumb_key(sha256: str) -> str:
    return f"thumbs/{sha256}"


async def finish(
    db: AsyncSession, blobs: Blobs, settings: Settings, upload: Upload, known_sha256: str | None
) -> tus.FileRefused | None:
    """Finish an upload whose every byte has come. Returns the refusal, if the file was refused."""
    parts = list(upload.parts)
    if known_sha256 is not None and len(parts) == 1:
        source, sha256 = parts[0], known_sha256
    else:
        source = f"uploads/{upload.id}/whole"
        hasher = hashlib.sha256()
        await blobs.put_stream(source, _hashed(blobs, parts, hasher))
        sha256 = hasher.hexdigest()
    found: inspect.Inspection | None = None
    refusal: tus.FileRefused | None = None
    try:
        found = await _inspect(blobs, source, settings.max_image_pixels)
    except inspect.Refused as exc:
        refusal = tus.REFUSALS[exc.code](exc.detail)

    await repo.lock_photo(db, upload.form_photo_id)  # registration and file meet under it
    photo = await db.scalar(select(FormPhoto).where(FormPhoto.id == upload.form_photo_id).with_for_update())
    waiting = (
        photo is not None and photo.created_by == upload.user_id and photo.upload_status == UploadStatus.PENDING.value
    )
    if refusal is None and waiting and photo is not None and photo.sha256 != sha256:
        refusal = tus.Sha256Mismatch(f"The file's sha256 is {sha256}; form photo {photo.id} registered {photo.sha256}")

    if refusal is None and found is not None:
        await _keep(db, blobs, source, sha256, upload.length, found)
    else:
        await blobs.delete(source)
    await blobs.delete(*(p for p in parts if p != source))
    blobs.prune(f"uploads/{upload.id}/")
    upload.sha256 = sha256
    upload.error = refusal.code if refusal else None
    upload.finished_at = datetime.now(UTC)
    upload.parts = []
    if waiting and photo is not None:
        facts = {
            "sha256": sha256,
            "error": upload.error,
            "exif_latitude": found.exif_latitude if found else None,
            "exif_longitude": found.exif_longitude if found else None,
        }
        for name, value in photos.meet(photo.sha256, [facts]).items():
            setattr(photo, name, value)
        photo.version += 1
    await db.flush()
    return refusal


async def _hashed(blobs: Blobs, keys: list[str], hasher: hashlib._Hash) -> AsyncIterator[bytes]:
    for key in keys:
        async for data in blobs.stream(key):
            hasher.update(data)
            yield data


async def _inspect(blobs: Blobs, key: str, max_pixels: int) -> inspect.Inspection:
    """Headers only, from a lazy reader (bounded memory); in a thread, as the parsers block."""
    if inspect.sniff(await blobs.prefix(key, SNIFF_BYTES)) is None:
        raise inspect.Refused("unsupported_type", "Only JPEG, PNG, HEIC and PDF files are accepted")

    def run() -> inspect.Inspection:
        fp = blobs.reader(key)
        try:
            return inspect.inspect(fp, max_pixels)
        finally:
            fp.close()

    return await asyncio.to_thread(run)


async def _keep(db: AsyncSession, blobs: Blobs, source: str, sha256: str, size: int, found: inspect.Inspection) -> None:
    """Store the file once per content, and ask the worker for its served copy and thumbnail."""
    if await repo.photo_file(db, sha256) is not None and await blobs.size(blob_key(sha256)) is not None:
        await blobs.delete(source)
        return
    await blobs.rename(source, blob_key(sha256))
    await repo.add_photo_file(
        db,
        {
            "sha256": sha256,
            "size": size,
            "media_type": found.media_type,
            "width": found.width,
            "height": found.height,
            "pages": found.pages,
            "exif_latitude": found.exif_latitude,
            "exif_longitude": found.exif_longitude,
        },
    )
    await queue.enqueue_photo(db, sha256)
