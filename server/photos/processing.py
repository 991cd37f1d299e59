"""Background work on stored files: a received file's served copy and thumbnail, and the sweep
that removes expired uploads and files no form photo references (their tasks: ``server.photos.jobs``)."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from typing import IO

import structlog
from sqlalchemy import delete, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cases import UploadStatus
from server.blobs import Blobs
from server.cases.models import FormPhoto
from server.db import create_engine, create_session_factory, session_scope
from server.photos import files, process
from server.photos.models import PhotoFile
from server.settings import Settings
from server.uploads import repository as uploads
from server.uploads.models import Upload
from server.uploads.service import LEASE

log = structlog.get_logger("doorstep.photos")
SWEEP_TASK = "uploads.sweep"
SPOOL_BYTES = 1024 * 1024


async def run_process(
    database_url: str, settings: Settings, sha256: str, *, via: str = f"job {files.PROCESS_TASK}"
) -> None:
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with session_scope(create_session_factory(engine), via=via) as session:
            await make_copies(session, Blobs.from_settings(settings), sha256)
    finally:
        await engine.dispose()


async def make_copies(session: AsyncSession, blobs: Blobs, sha256: str) -> bool:
    """Make the served copy and the thumbnail of a stored file, once. False if there is nothing to do."""
    row = await session.get(PhotoFile, sha256, with_for_update=True)
    if row is None or row.processed_at is not None:
        return False
    with (
        tempfile.SpooledTemporaryFile(SPOOL_BYTES) as original,
        tempfile.TemporaryFile() as served,
        tempfile.TemporaryFile() as thumb,
    ):
        async for data in blobs.stream(files.blob_key(sha256)):
            original.write(data)

        def run() -> str:
            original.seek(0)
            media_type: str = process.served_copy(original, row.media_type, served)
            original.seek(0)
            process.thumbnail(original, row.media_type, thumb)
            return media_type

        row.served_media_type = await asyncio.to_thread(run)
        await _put(blobs, files.served_key(sha256), served)
        await _put(blobs, files.thumb_key(sha256), thumb)
    row.processed_at = datetime.now(UTC)
    await session.flush()
    return True


async def _put(blobs: Blobs, key: str, file: IO[bytes]) -> None:
    file.seek(0)
    await blobs.put_file(key, file)


async def run_sweep(database_url: str, settings: Settings, *, via: str = f"job {SWEEP_TASK}") -> dict[str, int]:
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        factory = create_session_factory(engine)
        async with session_scope(factory, via=via) as session:
            return await sweep(session, Blobs.from_settings(settings), settings, datetime.now(UTC))
    finally:
        await engine.dispose()


async def sweep(session: AsyncSession, blobs: Blobs, settings: Settings, now: datetime) -> dict[str, int]:
    """Remove what no one will ask for again:

    - unfinished uploads past their ``Upload-Expires`` (with their parts);
    - finished uploads older than the orphan time (a photo that never registered by then never will);
    - stored files, with their served copy and thumbnail, that no received form photo has and
      no remaining upload brought, once older than the orphan time.

    Rows go first, in a transaction of their own; bytes only once it committed (bytes without a
    row are harmless, a row without its bytes is not). Then it finishes each upload whose last
    chunk was written but whose finish never committed (a worker that died midway: its client
    will not send it again), each on its own, so that one that fails stops none of the others."""
    orphan_before = now - timedelta(seconds=settings.orphan_file_seconds)
    expired = (await session.scalars(delete(Upload).where(uploads.stale(now)).returning(Upload.id))).all()
    old = (
        await session.scalars(
            delete(Upload)
            .where(Upload.finished_at.is_not(None), Upload.finished_at < orphan_before)
            .returning(Upload.id)
        )
    ).all()
    kept = or_(
        exists().where(FormPhoto.sha256 == PhotoFile.sha256, FormPhoto.upload_status == UploadStatus.RECEIVED.value),
        exists().where(Upload.sha256 == PhotoFile.sha256),
    )
    orphans = (
        await session.scalars(
            select(PhotoFile.sha256)
            .where(PhotoFile.created_at < orphan_before, ~kept)
            .with_for_update(skip_locked=True)  # a finishing upload share-locks a file it reuses
        )
    ).all()
    if orphans:
        await session.execute(delete(PhotoFile).where(PhotoFile.sha256.in_(orphans)))
    await session.commit()
    for upload_id in expired:
        await blobs.delete_prefix(f"uploads/{upload_id}/")
    for sha256 in orphans:
        await blobs.delete(files.blob_key(sha256), files.served_key(sha256), files.thumb_key(sha256))
    counts = {"expired_uploads": len(expired), "old_uploads": len(old), "files": len(orphans)}
    counts["finished"] = await _finish_stuck(session, blobs, settings)
    if any(counts.values()):
        log.info("uploads_swept", **counts)
    return counts


async def _finish_stuck(session: AsyncSession, blobs: Blobs, settings: Settings) -> int:
    ids = await uploads.stuck(session)
    done = 0
    for upload_id in ids:
        writer = uuid.uuid4()
        row = await uploads.take_stuck(session, upload_id, writer, LEASE)
        if row is None:
            await session.rollback()
            continue
        try:
            await files.finish(session, blobs, settings, row, None)
        except Exception:
            log.exception("upload_finish_failed", upload_id=str(upload_id))
            await session.rollback()
        else:
            done += 1
        await uploads.release(session, upload_id, writer)
        await session.commit()
    return done
