"""Casework rows for the reports and case-page tests, inserted directly (as ``tests.factories``
does), so a test sets up exactly the assessments, referrals, meetings and follow-ups it counts."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cases import FollowUpKind
from server.cases.models import Assessment, Case, FollowUp, ParentMeeting, ServiceReferral
from server.resources.models import Resource


async def assessment(
    db: AsyncSession,
    case: Case,
    at: datetime,
    factors: list[str],
    primary: str | None = None,
    author: uuid.UUID | None = None,
    **fields: Any,
) -> Assessment:
    row = Assessment(
        id=uuid.uuid4(),
        case_id=case.id,
        author_id=author or case.case_manager_id,
        at=at,
        factors=factors,
        primary_factor=primary,
        flags=fields.pop("flags", []),
        **fields,
    )
    db.add(row)
    await db.flush()
    return row


async def resource(db: AsyncSession, name: str, *factors: str, active: bool = True) -> Resource:
    row = Resource(id=uuid.uuid4(), name=name, factors=list(factors), languages=["en", "es"], active=active)
    db.add(row)
    await db.flush()
    return row


async def referral(
    db: AsyncSession,
    case: Case,
    at: datetime,
    status: str,
    to: Resource | str,
    factor: str | None = None,
    **fields: Any,
) -> ServiceReferral:
    row = ServiceReferral(
        id=uuid.uuid4(),
        case_id=case.id,
        resource_id=to.id if isinstance(to, Resource) else None,
        resource_name=to.name if isinstance(to, Resource) else to,
        factor=factor,
        at=at,
        referred_on=at.date(),
        status=status,
        status_at=fields.pop("status_at", None),
        created_by=case.case_manager_id,
        flags=fields.pop("flags", []),
        **fields,
    )
    db.add(row)
    await db.flush()
    return row


async def meeting_deadline(
    db: AsyncSession,
    student_id: uuid.UUID,
    case: Case | None,
    trigger_day: date | None,
    due_on: date,
    *,
    completed_at: datetime | None = None,
    rescheduled: list[dict[str, Any]] | None = None,
    kind: FollowUpKind = FollowUpKind.PARENT_MEETING,
    title: str = "Parent meeting: 4 unexcused absences in one month",
    created_by: uuid.UUID | None = None,
) -> FollowUp:
    """A follow-up; with a ``trigger_day``, the kind the rules make for a truant student."""
    row = FollowUp(
        id=uuid.uuid4(),
        student_id=student_id,
        case_id=case.id if case else None,
        kind=kind,
        title=title,
        due_on=due_on,
        trigger_day=trigger_day,
        completed_at=completed_at,
        rescheduled=rescheduled or [],
        created_by=created_by,
    )
    db.add(row)
    await db.flush()
    return row


async def parent_meeting(db: AsyncSession, case: Case, held_at: datetime, **fields: Any) -> ParentMeeting:
    row = ParentMeeting(
        id=uuid.uuid4(),
        case_id=case.id,
        author_id=case.case_manager_id,
        held_at=held_at,
        place=fields.pop("place", "home"),
        attendees=fields.pop("attendees", ["Rosa Alvarez (mother)"]),
        interpreter=fields.pop("interpreter", False),
        policy_discussed=fields.pop("policy_discussed", True),
        flags=fields.pop("flags", []),
        **fields,
    )
    db.add(row)
    await db.flush()
    return row
