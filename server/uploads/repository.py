"""Queries over uploads: the writer's lease, the committed parts, and what a photo's sender uploaded."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, literal, or_, select, text, true, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from server.photos.models import PhotoFile
from server.uploads.models import Upload

LOCK_PHOTOS = (
    # Registration and file meet under this lock (``sync.store.PHOTO_UPLOADS``): whichever of the
    # push and the upload's finish comes second sees what the first committed.
    "SELECT pg_advisory_xact_lock(hashtextextended('form_photo:' || p::text, 0)) "
    "FROM unnest($1::uuid[]) AS p ORDER BY p"
)


async def lock_photo(session: AsyncSession, photo_id: uuid.UUID) -> None:
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended('form_photo:' || CAST(:id AS text), 0))"),
        {"id": str(photo_id)},
    )


def finished_uploads(ids: Any, user_id: Any, label: str) -> Select[Any]:
    """The derived ``PHOTO_UPLOADS`` records of these photo ids for this user (see ``sync.store``)."""
    photo = func.unnest(ids).table_valued("id").render_derived()
    facts = func.jsonb_build_object(
        literal("sha256"),
        Upload.sha256,
        literal("error"),
        Upload.error,
        literal("exif_latitude"),
        PhotoFile.exif_latitude,
        literal("exif_longitude"),
        PhotoFile.exif_longitude,
    )
    uploads = (
        select(func.coalesce(func.jsonb_agg(aggregate_order_by(facts, Upload.finished_at.desc())), text("'[]'::jsonb")))
        .select_from(Upload)
        .outerjoin(PhotoFile, PhotoFile.sha256 == Upload.sha256)
        .where(Upload.form_photo_id == photo.c.id, Upload.user_id == user_id, Upload.finished_at.is_not(None))
        .scalar_subquery()
    )
    return select(
        literal(label).label("type"),
        photo.c.id.label("id"),
        literal(0).label("version"),
        literal(False).label("deleted"),
        true().label("in_scope"),
        func.jsonb_build_object(literal("uploads"), uploads).label("data"),
    ).select_from(photo)


async def get(session: AsyncSession, upload_id: uuid.UUID, user_id: uuid.UUID) -> Upload | None:
    """The user's upload (another user's is as good as missing)."""
    return await session.scalar(select(Upload).where(Upload.id == upload_id, Upload.user_id == user_id))


def _free(now: Any) -> Any:
    """No writer holds the upload: none ever did, or its lease ran out."""
    return or_(Upload.writer.is_(None), Upload.writer_until < now)


async def take_lease(
    session: AsyncSession, upload_id: uuid.UUID, user_id: uuid.UUID, writer: uuid.UUID, lease: timedelta
) -> Upload | None:
    """Make ``writer`` the upload's one writer, unless another holds an unexpired lease (then
    ``None``). The caller commits before writing a byte, so the lease is seen by every worker."""
    now = func.now()
    result = await session.execute(
        update(Upload)
        .where(
            Upload.id == upload_id,
            Upload.user_id == user_id,
            _free(now),
            or_(Upload.finished_at.is_not(None), Upload.expires_at > now),  # an expired upload is gone
        )
        .values(writer=writer, writer_until=now + lease)
        .returning(Upload)
    )
    return result.scalar_one_or_none()


async def stuck(session: AsyncSession) -> list[uuid.UUID]:
    """Uploads whose every byte came but whose finish never committed, with no writer at them."""
    complete = and_(Upload.finished_at.is_(None), Upload.upload_offset == Upload.length)
    return list((await session.scalars(select(Upload.id).where(complete, _free(func.now())))).all())


async def take_stuck(session: AsyncSession, upload_id: uuid.UUID, writer: uuid.UUID, lease: timedelta) -> Upload | None:
    """The sweep's lease on a stuck upload (whoever uploaded it), unless a writer came meanwhile."""
    now = func.now()
    result = await session.execute(
        update(Upload)
        .where(Upload.id == upload_id, Upload.finished_at.is_(None), _free(now))
        .values(writer=writer, writer_until=now + lease)
        .returning(Upload)
    )
    return result.scalar_one_or_none()


async def renew_lease(session: AsyncSession, upload_id: uuid.UUID, writer: uuid.UUID, lease: timedelta) -> bool:
    result = await session.execute(
        update(Upload)
        .where(Upload.id == upload_id, Upload.writer == writer)
        .values(writer_until=func.now() + lease)
        .returning(Upload.id)
    )
    return result.first() is not None


async def add_part(
    session: AsyncSession, upload_id: uuid.UUID, writer: uuid.UUID, offset: int, key: str, size: int, expires: datetime
) -> Upload | None:
    """Commit a written part: the offset moves on, and the part counts. ``None`` if the writer
    lost its lease meanwhile (then its part counts for nothing)."""
    result = await session.execute(
        update(Upload)
        .where(Upload.id == upload_id, Upload.writer == writer, Upload.upload_offset == offset)
        .values(
            upload_offset=Upload.upload_offset + size,
            parts=Upload.parts.op("||")(func.jsonb_build_array(key)),
            expires_at=expires,
        )
        .returning(Upload)
    )
    return result.scalar_one_or_none()


async def release(session: AsyncSession, upload_id: uuid.UUID, writer: uuid.UUID) -> None:
    await session.execute(
        update(Upload).where(Upload.id == upload_id, Upload.writer == writer).values(writer=None, writer_until=None)
    )


async def photo_file(session: AsyncSession, sha256: str) -> PhotoFile | None:
    return await session.get(PhotoFile, sha256)


async def add_photo_file(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(
        postgresql.insert(PhotoFile).values(**values).on_conflict_do_nothing(index_elements=[PhotoFile.sha256])
    )


def stale(now: datetime) -> Any:
    """Unfinished uploads past their expiry whose writer (if any) is gone too."""
    return and_(Upload.finished_at.is_(None), Upload.expires_at < now, _free(now))
