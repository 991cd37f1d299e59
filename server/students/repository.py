"""Queries for students, households and guardians."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.students.models import Guardian, Household, Student


async def get(
    session: AsyncSession, student_id: uuid.UUID, visible: ColumnElement[bool] | None = None
) -> Student | None:
    query = select(Student).where(Student.id == student_id)
    if visible is not None:
        query = query.where(visible)
    return await session.scalar(query)


async def by_number(session: AsyncSession, number: str, visible: ColumnElement[bool]) -> Student | None:
    return await session.scalar(select(Student).where(Student.student_number == number, visible))


async def household(session: AsyncSession, household_id: uuid.UUID | None) -> Household | None:
    return None if household_id is None else await session.get(Household, household_id)


async def guardians(session: AsyncSession, household_id: uuid.UUID | None) -> Sequence[Guardian]:
    if household_id is None:
        return []
    query = select(Guardian).where(Guardian.household_id == household_id).order_by(Guardian.name)
    return (await session.scalars(query)).all()


async def many(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, Student]:
    """Students by id (callers pass ids of records already in the caller's scope)."""
    if not ids:
        return {}
    return {s.id: s for s in await session.scalars(select(Student).where(Student.id.in_(ids)))}
