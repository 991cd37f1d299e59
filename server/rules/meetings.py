"""Parent meetings the rules require: the overdue list, and the deadlines that are no longer required."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from schemas.cases import FollowUpKind
from server.cases.models import Case, FollowUp
from server.students.models import Student

NO_LONGER_REQUIRED = "No longer required: "
"""How the note of a meeting deadline the evaluation closed begins (``server.rules.evaluate``):
the rules no longer require the meeting (the absence that made the student truant was voided, or
excused by documentation). Such a follow-up is ``done`` with no ``completed_by`` (no one held a
meeting; a phone's ``follow_up.complete`` and a recorded meeting always name who), the reason
after this prefix. Phones need nothing new: a done follow-up leaves the case's open list."""


def no_longer_required_sql(alias: str) -> str:
    """SQL: the follow-up ``alias`` is a deadline the evaluation closed as no longer required."""
    return f"({alias}.completed_by IS NULL AND coalesce({alias}.note, '') LIKE '{NO_LONGER_REQUIRED}%')"


NOT_REQUIRED: ColumnElement[bool] = and_(
    FollowUp.completed_by.is_(None), func.coalesce(FollowUp.note, "").startswith(NO_LONGER_REQUIRED, autoescape=True)
)
"""``no_longer_required_sql`` for SQLAlchemy queries, never null (the reports leave such deadlines
out: no meeting was required, none was held)."""


class OverdueMeeting(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    student_id: uuid.UUID
    student_number: str
    student_name: str
    case_id: uuid.UUID | None
    case_manager_id: uuid.UUID | None
    title: str
    trigger_day: date | None
    due_on: date
    days_overdue: int


_CASE = aliased(Case)
"""The meeting's case, aliased: ``visible`` may name ``Case`` in a subquery of its own. Made once:
an alias and its columns cost about a millisecond of Python each time they are made."""


def _overdue(as_of: date, visible: ColumnElement[bool], *columns: Any) -> Select[Any]:
    """Open parent meetings due before ``as_of`` of the students ``visible`` lets the reader see,
    with the student and the case manager (or ``columns`` of them)."""
    return (
        select(
            *(
                columns
                or (FollowUp, Student.student_number, Student.first_name, Student.last_name, _CASE.case_manager_id)
            )
        )
        .select_from(FollowUp)
        .join(Student, Student.id == FollowUp.student_id)
        .outerjoin(_CASE, _CASE.id == FollowUp.case_id)
        .where(
            FollowUp.kind == FollowUpKind.PARENT_MEETING.value,
            FollowUp.completed_at.is_(None),
            FollowUp.due_on < as_of,
            visible,
        )
    )


async def overdue_count(session: AsyncSession, as_of: date, visible: ColumnElement[bool]) -> int:
    """How many meetings ``overdue`` would list."""
    return int(await session.scalar(_overdue(as_of, visible, func.count(FollowUp.id))) or 0)


async def overdue(session: AsyncSession, as_of: date, visible: ColumnElement[bool]) -> list[OverdueMeeting]:
    """Open parent meetings due before ``as_of`` (oldest first) of the students ``visible`` lets the
    reader see (``visible_students``: a case manager's are the students on her cases)."""
    query = _overdue(as_of, visible).order_by(FollowUp.due_on, Student.student_number)
    rows = await session.execute(query)
    return [
        OverdueMeeting(
            id=f.id,
            student_id=f.student_id,
            student_number=number,
            student_name=f"{first} {last}",
            case_id=f.case_id,
            case_manager_id=cm,
            title=f.title,
            trigger_day=f.trigger_day,
            due_on=f.due_on,
            days_overdue=(as_of - f.due_on).days,
        )
        for f, number, first, last, cm in rows
    ]
