"""The reports' queries: a few set-based statements each, grouped in SQL. Who may see what is
``server.scope``'s, passed in as ``visible`` over each table (``Assessment``, ``ServiceReferral``,
``FollowUp``); the case and the student are joined under aliases, since a scope predicate may name
``Case`` or ``Student`` in a subquery of its own.

A case's school is the case's, or the student's when the case names none (as on the dashboard).
A meeting's school is the one whose calendar counts its deadline: the school of the student's
attendance record on the trigger day (as the evaluation that made it, ``server.rules.evaluate``).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Date, and_, case, cast, func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from schemas.cases import FollowUpKind
from schemas.casework import FACTORS
from server.attendance.models import AttendanceRecord
from server.cases.models import Assessment, Case, FollowUp, ServiceReferral
from server.resources.models import Resource
from server.rules.meetings import NOT_REQUIRED
from server.rules.models import RuleSet
from server.schools.models import InstructionalDay, School
from server.students.models import Student

_CASE = aliased(Case, name="report_case")
_STUDENT = aliased(Student, name="report_student")
_SCHOOL = func.coalesce(_CASE.school_id, _STUDENT.school_id)


# --- factors ----------------------------------------------------------------------------------------


def _latest_assessments(visible: ColumnElement[bool], start: datetime, end: datetime) -> Any:
    """Per live case, its latest assessment made in [start, end): the case, its school, the
    factors and the primary one (``DISTINCT ON`` the case, newest first)."""
    return (
        select(
            Assessment.case_id,
            _SCHOOL.label("school_id"),
            Assessment.factors,
            Assessment.primary_factor,
        )
        .join(_CASE, _CASE.id == Assessment.case_id)
        .join(_STUDENT, _STUDENT.id == _CASE.student_id)
        .where(visible, _CASE.deleted_at.is_(None), Assessment.at >= start, Assessment.at < end)
        .ext(distinct_on(Assessment.case_id))
        .order_by(Assessment.case_id, Assessment.at.desc(), Assessment.created_at.desc(), Assessment.id)
        .cte("latest")
    )


@dataclass(frozen=True)
class FactorCount:
    factor: str
    school_id: uuid.UUID | None
    cases: int
    primary: int


@dataclass(frozen=True)
class CategoryCount:
    category: str
    school_id: uuid.UUID | None
    cases: int


@dataclass(frozen=True)
class FactorCounts:
    assessed: dict[uuid.UUID | None, int]
    """Cases with an assessment in the period, by school."""
    factors: list[FactorCount]
    categories: list[CategoryCount]


async def factor_counts(
    session: AsyncSession, visible: ColumnElement[bool], start: datetime, end: datetime
) -> FactorCounts:
    """Cases whose latest assessment in [start, end) names each factor, by school (and how many
    of them as the primary one); cases naming at least one factor of each category, by school;
    and the cases assessed, by school. Three grouped statements over one ``latest`` CTE each."""
    latest = _latest_assessments(visible, start, end)
    named = select(
        latest.c.case_id,
        latest.c.school_id,
        latest.c.primary_factor,
        func.jsonb_array_elements_text(latest.c.factors).label("factor"),
    ).subquery("named")
    by_factor = (
        select(
            named.c.factor,
            named.c.school_id,
            func.count(named.c.case_id.distinct()),
            func.count(named.c.case_id.distinct()).filter(named.c.primary_factor == named.c.factor),
        )
        .group_by(named.c.factor, named.c.school_id)
        .order_by(named.c.factor, named.c.school_id)
    )
    category = case(
        *((named.c.factor == code.value, cat.value) for code, (cat, _label) in FACTORS.items()),
        else_="other",
    ).label("category")
    by_category = (
        select(category, named.c.school_id, func.count(named.c.case_id.distinct()))
        .group_by(category, named.c.school_id)
        .order_by(category, named.c.school_id)
    )
    assessed = select(latest.c.school_id, func.count()).group_by(latest.c.school_id)
    return FactorCounts(
        assessed={school: int(n) for school, n in await session.execute(assessed)},
        factors=[FactorCount(f, s, int(n), int(p)) for f, s, n, p in await session.execute(by_factor)],
        categories=[CategoryCount(c, s, int(n)) for c, s, n in await session.execute(by_category)],
    )


# --- referrals --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferralCount:
    resource_id: uuid.UUID | None
    resource_name: str
    """The directory's name for it now, or the name typed by hand."""
    status: str
    referrals: int


async def referral_counts(
    session: AsyncSession, visible: ColumnElement[bool], start: datetime, end: datetime
) -> list[ReferralCount]:
    """Referrals to services made in [start, end) on live cases, by resource (the directory's by
    id, the ones named by hand by name) and current status."""
    hand_named = case((ServiceReferral.resource_id.is_(None), ServiceReferral.resource_name))
    query = (
        select(
            ServiceReferral.resource_id,
            func.coalesce(Resource.name, hand_named),
            ServiceReferral.status,
            func.count(),
        )
        .join(_CASE, _CASE.id == ServiceReferral.case_id)
        .outerjoin(Resource, Resource.id == ServiceReferral.resource_id)
        .where(visible, _CASE.deleted_at.is_(None), ServiceReferral.at >= start, ServiceReferral.at < end)
        .group_by(ServiceReferral.resource_id, Resource.name, hand_named, ServiceReferral.status)
    )
    return [ReferralCount(rid, name, status, int(n)) for rid, name, status, n in await session.execute(query)]


# --- parent meetings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeetingDeadline:
    """A parent meeting the rules required, against the deadline the law sets."""

    follow_up_id: uuid.UUID
    case_id: uuid.UUID | None
    student_id: uuid.UUID
    school_id: uuid.UUID | None
    trigger_day: date
    meeting_due_days: int
    deadline: date
    """The ``meeting_due_days``-th school day after the trigger day at the school (the year's last
    school day when the year ends first; the rules' first due date when the school has no calendar
    for the trigger day)."""
    held_on: date | None
    """The district's date the follow-up was completed (by a parent meeting, which completes it at
    the meeting's ``held_at``, or marked done by hand)."""
    school_days: int | None
    """School days from the trigger day to ``held_on`` (the trigger day not counted)."""


async def meeting_deadlines(
    session: AsyncSession,
    visible: ColumnElement[bool],
    *,
    time_zone: str,
    default_due_days: int,
    first: date | None = None,
    last: date | None = None,
    follow_up_ids: Collection[uuid.UUID] | None = None,
) -> list[MeetingDeadline]:
    """The rules' parent-meeting follow-ups ``visible`` lets the reader see (with a trigger day in
    [first, last], or these ids), each with its legal deadline and when it was met, in one
    statement. The deadline counts school days as ``server.rules.evaluate`` does (the school's
    instructional days of the trigger day's school year, numbered in order): the rule set in force
    for that year (its latest version, else ``default_due_days``, the program's)."""
    required = (
        select(
            FollowUp.id,
            FollowUp.case_id,
            FollowUp.student_id,
            FollowUp.trigger_day,
            FollowUp.completed_at,
            FollowUp.due_on,
            FollowUp.rescheduled,
            func.coalesce(AttendanceRecord.school_id, _STUDENT.school_id).label("school_id"),
        )
        .join(_STUDENT, _STUDENT.id == FollowUp.student_id)
        .outerjoin(
            AttendanceRecord,
            and_(AttendanceRecord.student_id == FollowUp.student_id, AttendanceRecord.day == FollowUp.trigger_day),
        )
        .where(
            visible,
            FollowUp.kind == FollowUpKind.PARENT_MEETING.value,
            FollowUp.trigger_day.is_not(None),
            ~NOT_REQUIRED,  # closed by the evaluation: no meeting was required, none was held
        )
    )
    if first is not None:
        required = required.where(FollowUp.trigger_day >= first)
    if last is not None:
        required = required.where(FollowUp.trigger_day <= last)
    if follow_up_ids is not None:
        required = required.where(FollowUp.id.in_(list(follow_up_ids)))
    req = required.cte("required")

    cal = (
        select(
            InstructionalDay.school_id,
            InstructionalDay.day,
            InstructionalDay.school_year_id,
            func.row_number()
            .over(
                partition_by=(InstructionalDay.school_id, InstructionalDay.school_year_id),
                order_by=InstructionalDay.day,
            )
            .label("seq"),
        )
        .where(InstructionalDay.school_id.in_(select(req.c.school_id)))
        .cte("cal")
    )
    trig, due = cal.alias("trig"), cal.alias("due")
    in_force = (
        select(RuleSet.meeting_due_days)
        .where(RuleSet.school_year_id == trig.c.school_year_id)
        .order_by(RuleSet.version.desc())
        .limit(1)
        .scalar_subquery()
    )
    step = (
        select(
            req,
            trig.c.school_year_id,
            trig.c.seq,
            func.coalesce(in_force, default_due_days).label("due_days"),
        )
        .select_from(req.outerjoin(trig, and_(trig.c.school_id == req.c.school_id, trig.c.day == req.c.trigger_day)))
        .cte("step")
    )
    year_end = (
        select(func.max(InstructionalDay.day))
        .where(InstructionalDay.school_year_id == step.c.school_year_id)
        .scalar_subquery()
    )
    first_due = func.coalesce(cast(step.c.rescheduled[0]["from"].astext, Date), step.c.due_on)
    held_on = cast(func.timezone(time_zone, step.c.completed_at), Date)
    school_days = (
        select(func.count())
        .select_from(InstructionalDay)
        .where(
            InstructionalDay.school_id == step.c.school_id,
            InstructionalDay.day > step.c.trigger_day,
            InstructionalDay.day <= held_on,
        )
        .scalar_subquery()
    )
    query = (
        select(
            step.c.id,
            step.c.case_id,
            step.c.student_id,
            step.c.school_id,
            step.c.trigger_day,
            step.c.due_days,
            func.coalesce(due.c.day, year_end, first_due),
            held_on,
            case((step.c.completed_at.is_not(None), school_days)),
        )
        .select_from(
            step.outerjoin(
                due,
                and_(
                    due.c.school_id == step.c.school_id,
                    due.c.school_year_id == step.c.school_year_id,
                    due.c.seq == step.c.seq + step.c.due_days,
                ),
            )
        )
        .order_by(step.c.trigger_day, step.c.id)
    )
    return [MeetingDeadline(*row) for row in await session.execute(query)]


# --- names --------------------------------------------------------------------------------------------


async def schools(session: AsyncSession, ids: Collection[uuid.UUID]) -> list[School]:
    """These schools, by name."""
    if not ids:
        return []
    return list((await session.scalars(select(School).where(School.id.in_(list(ids))).order_by(School.name))).all())
