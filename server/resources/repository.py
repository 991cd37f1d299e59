"""Queries for the directory of resources. The directory is the district's, not a student's: no
scope applies, every reader sees every resource."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import exists, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.casework import Factor
from server.resources.models import Resource


async def listing(
    session: AsyncSession, *, active: bool | None = None, factor: Factor | None = None, language: str | None = None
) -> Sequence[Resource]:
    """Resources by name. ``factor``: those tagged with it. ``language``: those serving families in
    its primary language (``pt`` finds ``pt-BR`` and ``pt-PT``, ``pt-BR`` finds ``pt``)."""
    query = select(Resource).order_by(func.lower(Resource.name), Resource.id)
    if active is not None:
        query = query.where(Resource.active.is_(active))
    if factor is not None:
        query = query.where(Resource.factors.contains([factor.value]))
    if language is not None:
        primary = language.split("-", 1)[0].lower()
        spoken = func.jsonb_array_elements_text(Resource.languages).table_valued("value").alias("spoken")
        query = query.where(
            exists().select_from(spoken).where(func.split_part(func.lower(spoken.c.value), "-", 1) == primary)
        )
    return (await session.scalars(query)).all()


async def get(session: AsyncSession, resource_id: uuid.UUID, *, for_update: bool = False) -> Resource | None:
    query = select(Resource).where(Resource.id == resource_id)
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


async def lock_directory(session: AsyncSession) -> None:
    """Hold off other writers of the directory until this transaction ends (readers go on): an
    import matches its rows against what is stored, and two at once could both add the same one."""
    await session.execute(text("LOCK TABLE resource IN SHARE ROW EXCLUSIVE MODE"))


async def everything(session: AsyncSession) -> Sequence[Resource]:
    return (await session.scalars(select(Resource).order_by(Resource.created_at, Resource.id))).all()
