"""Keeping the change log small: purge old changes; devices that were away longer get ``reset``."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.sync.models import SyncChange, SyncScopeEpoch
from server.sync.pg_store import XMIN

DEFAULT_KEEP = timedelta(days=90)


async def purge_changes(session: AsyncSession, keep: timedelta = DEFAULT_KEEP) -> int:
    """Delete the changes of transactions older than ``keep``; returns how many rows went.

    Only whole transactions below a bound go, and the bound is recorded, so a cursor pointing
    below it is recognised and answered with ``reset`` (the device refetches its scope).
    """
    newest_kept = select(func.min(SyncChange.txid)).where(SyncChange.at >= func.now() - keep).scalar_subquery()
    bound = int(await session.scalar(select(func.coalesce(newest_kept, XMIN))) or 0)
    result = await session.execute(delete(SyncChange).where(SyncChange.txid < bound))
    await session.execute(
        update(SyncScopeEpoch)
        .where(SyncScopeEpoch.id == 1)
        .values(purged_below=func.greatest(SyncScopeEpoch.purged_below, bound))
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
