"""Queries for referrals."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import ColumnElement, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from server import scope
from server.auth.service import Principal
from server.cases.models import Referral


def visible_referrals(principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause over ``Referral`` (``server.scope.referrals``)."""
    return scope.referrals(scope.Reader.of(principal))


async def recent(
    session: AsyncSession, principal: Principal, status: str | None, limit: int = 200
) -> Sequence[Referral]:
    query = select(Referral).where(visible_referrals(principal)).order_by(Referral.created_at.desc()).limit(limit)
    if status is not None:
        query = query.where(Referral.status == status)
    return (await session.scalars(query)).all()


async def get(session: AsyncSession, principal: Principal, referral_id: uuid.UUID) -> Referral | None:
    return await session.scalar(select(Referral).where(Referral.id == referral_id, visible_referrals(principal)))


async def latest_for_students(
    session: AsyncSession, principal: Principal, student_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, Referral]:
    """The latest referral of each of these students that the principal may see."""
    if not student_ids:
        return {}
    query = (
        select(Referral)
        .where(Referral.student_id.in_(student_ids), visible_referrals(principal))
        .order_by(Referral.student_id, Referral.created_at.desc(), Referral.id)
        .ext(distinct_on(Referral.student_id))
    )
    return {r.student_id: r for r in await session.scalars(query)}
