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
from server.photos.models import PhotoFile
from server.settings import Settings
from server.uploads import repository as repo
from server.uploads import tus
from server.uploads.models import Upload
from sync import photos

SNIFF_BYTES = 64
PROCESS_TASK = "photos.process"
"""The job that makes a stored file's served copy and thumbnail (declared in ``server.photos.jobs``)."""


def blob_key(sha256: str) -> str:
    return f"blobs/{sha256}"


def served_key(sha256: str) -> str:
    return f"served/{sha256}"


def thumb_key(sha256: str) -> str:
    return f"thumbs/{sha256}"


async def finish(
    db: AsyncSession, blobs: Blobs, settings: Settings, upload: Upload, known_sha256: str | None
) -> tus.FileRefused | None:
    """Finish an upload whose every byte has come (its offset is committed). Returns the refusal,
    if the file was refused.

    It commits in steps, so that a failure anywhere leaves an upload that finishes when asked
    again (by the client's next PATCH, or the sweep), and nothing a row needs is ever deleted:

    1. hash and inspect the bytes; commit the hash on the upload (it names the file from now on);
    2. move the file to ``blobs/<sha256>`` (an earlier attempt may have done it already);
    3. one transaction: meet the registration, record the stored file, finish the upload;
    4. only then delete the parts (and a refused file nobody else stored).
    """
    parts = list(upload.parts)
    kept = blob_key(upload.sha256) if upload.sha256 else None
    if kept is not None and upload.error is None and await blobs.size(kept) is not None:
        source, sha256 = kept, upload.sha256  # an earlier attempt stored it already
    elif known_sha256 is not None and len(parts) == 1:
        source, sha256 = parts[0], known_sha256
    else:
        source = f"uploads/{upload.id}/whole"
        hasher = hashlib.sha256()
        await blobs.put_stream(source, _hashed(blobs, parts, hasher))
        sha256 = hasher.hexdigest()
    assert sha256 is not None
    found: inspect.Inspection | None = None
    refusal: tus.FileRefused | None = None
    try:
        found = await _inspect(blobs, source, settings.max_image_pixels)
    except inspect.Refused as exc:
        refusal = tus.REFUSALS[exc.code](exc.detail)
    upload.sha256 = sha256
    await db.commit()  # step 1

    moved = False
    if refusal is None and source != blob_key(sha256) and await blobs.size(blob_key(sha256)) is None:
        await blobs.rename(source, blob_key(sha256))  # step 2
        moved = True

    await repo.lock_photo(db, upload.form_photo_id)  # registration and file meet under it
    photo = await db.scalar(select(FormPhoto).where(FormPhoto.id == upload.form_photo_id).with_for_update())
    theirs = photo is not None and photo.created_by == upload.user_id
    if refusal is None and theirs and photo is not None and photo.sha256 != sha256:
        refusal = tus.Sha256Mismatch(f"The file's sha256 is {sha256}; form photo {photo.id} registered {photo.sha256}")
    stored = None
    if refusal is None and found is not None:
        stored = await _record(db, sha256, upload.length, found, restored=moved)
    upload.error = refusal.code if refusal else None
    upload.finished_at = datetime.now(UTC)
    upload.parts = []
    if theirs and photo is not None and photo.upload_status != UploadStatus.RECEIVED.value:
        # pending, or refused for an earlier file: this one decides (a received photo stays so)
        facts = {
            "sha256": sha256,
            "error": upload.error,
            "exif_latitude": found.exif_latitude if found else None,
            "exif_longitude": found.exif_longitude if found else None,
        }
        changes = photos.meet(photo.sha256, [facts])
        if any(getattr(photo, name) != value for name, value in changes.items()):
            for name, value in changes.items():
                setattr(photo, name, value)
            photo.version += 1
    await db.commit()  # step 3

    leftovers = [p for p in [*parts, f"uploads/{upload.id}/whole"] if p != blob_key(sha256)]  # step 4
    if refusal is not None and moved and stored is None and await repo.photo_file(db, sha256) is None:
        leftovers.append(blob_key(sha256))
    await blobs.delete(*leftovers)
    blobs.prune(f"uploads/{upload.id}/")
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


async def _record(db: AsyncSession, sha256: str, size: int, found: inspect.Inspection, restored: bool) -> PhotoFile:
    """The stored file's row, and its served copy and thumbnail asked of the worker when it has
    none: a new file, or one whose file had gone missing (``restored``: its copies are made again).
    The row is share-locked: the sweep, which skips locked rows, cannot take a file a finishing
    upload is about to reuse."""
    row = await db.scalar(select(PhotoFile).where(PhotoFile.sha256 == sha256).with_for_update(read=True))
    if row is not None and restored:
        row.processed_at = None
        row.served_media_type = None
    if row is not None and row.processed_at is not None:
        return row
    values = {
        "sha256": sha256,
        "size": size,
        "media_type": found.media_type,
        "width": found.width,
        "height": found.height,
        "pages": found.pages,
        "exif_latitude": found.exif_latitude,
        "exif_longitude": found.exif_longitude,
    }
    if row is None:
        await repo.add_photo_file(db, values)
    await queue.defer(db, PROCESS_TASK, {"sha256": sha256})  # runs once the file is committed
    stored = await db.scalar(select(PhotoFile).where(PhotoFile.sha256 == sha256))
    assert stored is not None
    return stored
