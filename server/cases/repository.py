"""Queries for cases and the casework under them."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from server.cases.models import (
    Assessment,
    Case,
    ContactAttempt,
    FollowUp,
    ParentMeeting,
    ServiceReferral,
    VisitNote,
)


async def page(
    session: AsyncSession,
    visible: ColumnElement[bool],
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
    status: str | None = None,
    unassigned: bool | None = None,
) -> Sequence[Case]:
    """Cases in (opened_at, id) order, keyset-paginated after ``after``; fetches limit + 1.
    ``unassigned``: only cases with no case manager (True), or only those with one (False)."""
    query = select(Case).where(visible).order_by(Case.opened_at, Case.id).limit(limit + 1)
    if after is not None:
        query = query.where(tuple_(Case.opened_at, Case.id) > tuple_(*after))
    if status is not None:
        query = query.where(Case.status == status)
    if unassigned is not None:
        query = query.where(Case.case_manager_id.is_(None) if unassigned else Case.case_manager_id.is_not(None))
    return (await session.scalars(query)).all()


async def open_for_students(
    session: AsyncSession, visible: ColumnElement[bool], student_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, Case]:
    """The open case (at most one each) of these students, where ``visible`` lets the reader see it."""
    if not student_ids:
        return {}
    query = select(Case).where(Case.student_id.in_(student_ids), Case.status != "closed", visible)
    return {c.student_id: c for c in await session.scalars(query)}


async def get(session: AsyncSession, case_id: uuid.UUID, visible: ColumnElement[bool] | None = None) -> Case | None:
    query = select(Case).where(Case.id == case_id)
    if visible is not None:
        query = query.where(visible)
    return await session.scalar(query)


async def get_for_update(session: AsyncSession, case_id: uuid.UUID) -> Case | None:
    """The case, locked, as it is now: a row already in the session is read again (its version may
    have moved since, e.g. by the follow-up trigger or an evaluation, migration 0011)."""
    return await session.scalar(
        select(Case).where(Case.id == case_id).with_for_update().execution_options(populate_existing=True)
    )


async def open_case_for_student(session: AsyncSession, student_id: uuid.UUID) -> Case | None:
    return await session.scalar(
        select(Case)
        .where(Case.student_id == student_id, Case.status != "closed")
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def contact_attempts(
    session: AsyncSession, case_id: uuid.UUID, visible: ColumnElement[bool]
) -> Sequence[ContactAttempt]:
    query = select(ContactAttempt).where(ContactAttempt.case_id == case_id, visible).order_by(ContactAttempt.at)
    return (await session.scalars(query)).all()


async def follow_ups(session: AsyncSession, case_id: uuid.UUID, visible: ColumnElement[bool]) -> Sequence[FollowUp]:
    query = select(FollowUp).where(FollowUp.case_id == case_id, visible).order_by(FollowUp.due_on, FollowUp.id)
    return (await session.scalars(query)).all()


async def service_referrals(
    session: AsyncSession, case_id: uuid.UUID, visible: ColumnElement[bool]
) -> Sequence[ServiceReferral]:
    query = (
        select(ServiceReferral)
        .where(ServiceReferral.case_id == case_id, visible)
        .order_by(ServiceReferral.referred_on, ServiceReferral.at, ServiceReferral.id)
    )
    return (await session.scalars(query)).all()


async def assessments(session: AsyncSession, case_id: uuid.UUID, visible: ColumnElement[bool]) -> Sequence[Assessment]:
    """The case's assessments, newest first (the latest is the case's current one)."""
    query = (
        select(Assessment)
        .where(Assessment.case_id == case_id, visible)
        .order_by(Assessment.at.desc(), Assessment.created_at.desc(), Assessment.id)
    )
    return (await session.scalars(query)).all()


async def parent_meetings(
    session: AsyncSession, case_id: uuid.UUID, visible: ColumnElement[bool]
) -> Sequence[ParentMeeting]:
    """The case's meetings with the family, newest first."""
    query = (
        select(ParentMeeting)
        .where(ParentMeeting.case_id == case_id, visible)
        .order_by(ParentMeeting.held_at.desc(), ParentMeeting.id)
    )
    return (await session.scalars(query)).all()


async def notes(session: AsyncSession, case_id: uuid.UUID) -> Sequence[VisitNote]:
    query = (
        select(VisitNote)
        .where(VisitNote.case_id == case_id, VisitNote.deleted_at.is_(None))
        .order_by(VisitNote.created_at, VisitNote.id)
    )
    return (await session.scalars(query)).all()
