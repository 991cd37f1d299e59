"""Queries for referrals."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from server.auth.service import Principal
from server.cases.models import Referral
from server.schools.models import CounselorSchool


def visible_referrals(principal: Principal) -> ColumnElement[bool]:
    """Counselors see their own schools' referrals; supervisors, office staff and admins all."""
    if principal.role == Role.ATTENDANCE_COUNSELOR:
        mine = select(CounselorSchool.school_id).where(CounselorSchool.user_id == principal.user_id)
        return Referral.school_id.in_(mine)
    return true()


async def recent(
    session: AsyncSession, principal: Principal, status: str | None, limit: int = 200
) -> Sequence[Referral]:
    query = select(Referral).where(visible_referrals(principal)).order_by(Referral.created_at.desc()).limit(limit)
    if status is not None:
        query = query.where(Referral.status == status)
    return (await session.scalars(query)).all()


async def get(session: AsyncSession, principal: Principal, referral_id: uuid.UUID) -> Referral | None:
    return await session.scalar(select(Referral).where(Referral.id == referral_id, visible_referrals(principal)))
