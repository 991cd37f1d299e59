"""The dashboard's own queries: aggregates over cases, visit logs, conflicts and the school
calendar. Who may see what is ``server.scope``'s, passed in as ``visible`` over each table."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, Date, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cases import CaseStatus
from schemas.conflicts import ConflictStatus
from server.cases.models import Case, VisitLog
from server.schools.models import InstructionalDay, SchoolYear
from server.students.models import Student
from server.sync.models import Conflict


async def cases_by_status(session: AsyncSession, visible: ColumnElement[bool]) -> dict[str, int]:
    """Live cases the reader may see that are not closed, counted by status."""
    query = (
        select(Case.status, func.count())
        .where(visible, Case.deleted_at.is_(None), Case.status != CaseStatus.CLOSED.value)
        .group_by(Case.status)
    )
    return {status: int(n) for status, n in await session.execute(query)}


async def visit_logs_since(session: AsyncSession, visible: ColumnElement[bool], since: datetime) -> int:
    """Live visit logs the reader may see, checked in at ``since`` or later."""
    query = select(func.count()).where(visible, VisitLog.deleted_at.is_(None), VisitLog.checked_in_at >= since)
    return int(await session.scalar(query) or 0)


async def open_conflicts(session: AsyncSession, visible: ColumnElement[bool]) -> int:
    query = select(func.count()).where(visible, Conflict.status == ConflictStatus.OPEN.value)
    return int(await session.scalar(query) or 0)


@dataclass(frozen=True)
class ClosedRow:
    case_id: uuid.UUID
    student_id: uuid.UUID
    school_id: uuid.UUID | None
    """The case's school, or the student's when the case names none."""
    case_manager_id: uuid.UUID | None
    opened_on: date
    """The day it opened, in the district's time zone."""
    closed_at: datetime | None
    outcome: str | None


async def closed_cases(
    session: AsyncSession, visible: ColumnElement[bool], since: datetime, time_zone: str
) -> list[ClosedRow]:
    """Live closed cases the reader may see, closed at ``since`` or later, most recently closed
    first, each with the day it opened in ``time_zone``."""
    query = (
        select(
            Case.id,
            Case.student_id,
            func.coalesce(Case.school_id, Student.school_id),
            Case.case_manager_id,
            cast(func.timezone(time_zone, Case.opened_at), Date),
            Case.closed_at,
            Case.outcome,
        )
        .join(Student, Student.id == Case.student_id)
        .where(
            visible,
            Case.deleted_at.is_(None),
            Case.status == CaseStatus.CLOSED.value,
            Case.closed_at >= since,
        )
        .order_by(Case.closed_at.desc(), Case.id)
    )
    return [ClosedRow(*row) for row in await session.execute(query)]


async def school_days(
    session: AsyncSession, school_ids: Collection[uuid.UUID], first: date, last: date
) -> dict[uuid.UUID, list[date]]:
    """Each school's instructional days in [first, last], in order."""
    if not school_ids:
        return {}
    query = (
        select(InstructionalDay.school_id, InstructionalDay.day)
        .where(
            InstructionalDay.school_id.in_(list(school_ids)),
            InstructionalDay.day >= first,
            InstructionalDay.day <= last,
        )
        .order_by(InstructionalDay.school_id, InstructionalDay.day)
    )
    days: dict[uuid.UUID, list[date]] = defaultdict(list)
    for school_id, day in await session.execute(query):
        days[school_id].append(day)
    return dict(days)


async def school_years_of_days(
    session: AsyncSession, school_ids: Collection[uuid.UUID], first: date, last: date
) -> list[SchoolYear]:
    """The school years of these schools' instructional days in [first, last], oldest first."""
    if not school_ids:
        return []
    used = (
        select(InstructionalDay.school_year_id)
        .where(
            InstructionalDay.school_id.in_(list(school_ids)),
            InstructionalDay.day >= first,
            InstructionalDay.day <= last,
        )
        .distinct()
    )
    query = select(SchoolYear).where(SchoolYear.id.in_(used)).order_by(SchoolYear.starts_on)
    return list((await session.scalars(query)).all())
