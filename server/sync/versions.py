"""Reading the kept versions of records (``record_version``, migration 0015).

The tables' triggers write them; nothing updates or deletes them. Their ``data`` is read as the
sync store reads a record (times as the wire has them), so a conflict's base is shown as the
phone saw it.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from server.sync.models import RecordVersion
from server.sync.pg_store import _normalise
from sync.store import Ref, Version

BACKFILL = "backfill"
"""``via`` of a version migration 0015 found (the record as it was then; the ones before it are
gone)."""

Key = tuple[str, uuid.UUID, int]
"""(record type, record id, version)."""


def _version(row: RecordVersion) -> Version:
    return Version(
        row.version,
        _normalise(row.record_type, dict(row.data)),
        row.deleted,
        row.written_at,
        row.written_by,
        row.client_id,
        row.mutation_id,
        row.via,
    )


async def history(session: AsyncSession, ref: Ref) -> list[Version]:
    """Every kept version of the record, oldest first."""
    rows = await session.scalars(
        select(RecordVersion)
        .where(RecordVersion.record_type == ref.type, RecordVersion.record_id == ref.id)
        .order_by(RecordVersion.version)
    )
    return [_version(row) for row in rows]


async def at(session: AsyncSession, keys: Collection[Key]) -> dict[Key, Version]:
    """The kept versions among ``keys``, in one read; a version never kept is absent."""
    if not keys:
        return {}
    rows = await session.scalars(
        select(RecordVersion).where(
            tuple_(RecordVersion.record_type, RecordVersion.record_id, RecordVersion.version).in_(list(keys))
        )
    )
    return {(row.record_type, row.record_id, row.version): _version(row) for row in rows}
