"""Queries of letters, their batches and the households whose letters came back."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.letters import LetterStatus
from server.letters.models import Letter, LetterBatch
from server.students.models import Household, Student


async def get(session: AsyncSession, letter_id: uuid.UUID, visible: ColumnElement[bool]) -> Letter | None:
    return await session.scalar(select(Letter).where(Letter.id == letter_id, Letter.deleted_at.is_(None), visible))


async def get_for_update(session: AsyncSession, letter_id: uuid.UUID) -> Letter | None:
    return await session.scalar(select(Letter).where(Letter.id == letter_id).with_for_update())


async def any_with_id(session: AsyncSession, letter_id: uuid.UUID) -> Letter | None:
    """The letter whatever its scope (an id is global: a POST may not take another's)."""
    return await session.get(Letter, letter_id)


async def of_case(session: AsyncSession, case_id: uuid.UUID, visible: ColumnElement[bool]) -> Sequence[Letter]:
    rows = await session.scalars(
        select(Letter)
        .where(Letter.case_id == case_id, Letter.deleted_at.is_(None), visible)
        .order_by(Letter.created_at.desc(), Letter.id)
    )
    return rows.all()


async def waiting(session: AsyncSession) -> Sequence[Letter]:
    """Requested letters no batch has made yet, oldest first, locked for the batch taking them."""
    rows = await session.scalars(
        select(Letter)
        .where(Letter.status == LetterStatus.REQUESTED, Letter.deleted_at.is_(None))
        .order_by(Letter.created_at, Letter.id)
        .with_for_update(skip_locked=True)
    )
    return rows.all()


async def of_batch(session: AsyncSession, batch_id: uuid.UUID) -> Sequence[Letter]:
    rows = await session.scalars(select(Letter).where(Letter.batch_id == batch_id).order_by(Letter.id))
    return rows.all()


async def ids_of_batch(session: AsyncSession, batch_id: uuid.UUID) -> list[uuid.UUID]:
    return list(await session.scalars(select(Letter.id).where(Letter.batch_id == batch_id).order_by(Letter.id)))


async def batch(session: AsyncSession, batch_id: uuid.UUID) -> LetterBatch | None:
    return await session.get(LetterBatch, batch_id)


async def batches(session: AsyncSession, limit: int = 20) -> Sequence[LetterBatch]:
    rows = await session.scalars(select(LetterBatch).order_by(LetterBatch.created_at.desc()).limit(limit))
    return rows.all()


async def progress(session: AsyncSession, batch_id: uuid.UUID, *, done: int, total: int | None = None) -> None:
    values: dict[str, object] = {"done": done, "updated_at": func.now()}
    if total is not None:
        values["total"] = total
    await session.execute(update(LetterBatch).where(LetterBatch.id == batch_id).values(**values))


async def flagged_households(session: AsyncSession, visible: ColumnElement[bool]) -> Sequence[Household]:
    """Households whose letter came back, longest flagged first."""
    rows = await session.scalars(
        select(Household)
        .where(Household.address_flagged_at.is_not(None), Household.deleted_at.is_(None), visible)
        .order_by(Household.address_flagged_at, Household.id)
    )
    return rows.all()


async def students_of_household(session: AsyncSession, household_id: uuid.UUID) -> list[uuid.UUID]:
    return list(await session.scalars(select(Student.id).where(Student.household_id == household_id)))
