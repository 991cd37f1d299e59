"""Demo caseloads: referrals and about 25 open cases per case manager, across every lifecycle state.

Deterministic (seeded) and idempotent: students that already have a case are left alone, and
nothing is added once every case manager has a caseload.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from schemas.cases import CaseOutcome, CaseStatus, ContactMethod, ContactOutcome, FollowUpKind, ReferralStatus
from server.auth.models import User
from server.cases.models import Case, ContactAttempt, FollowUp, Referral, VisitNote
from server.demo.district import DemoYear
from server.rules import case_truancy
from server.rules.models import TruancyEpisode
from server.schools.models import CounselorSchool, School
from server.students.models import Student

Progress = Callable[[str, int, int], None]

OPEN_PER_MANAGER = 25
OPEN_STATES = (CaseStatus.ASSIGNED, CaseStatus.CONTACTING, CaseStatus.ACTIVE, CaseStatus.MONITORING)
OPENED_WITHIN_DAYS = 120
"""Cases open over the weeks before the demo's day (no earlier than its school year's start)."""


async def assign_counselor_schools(session: AsyncSession) -> None:
    """counselor1..3 each work at two of the district's schools (by school code)."""
    if await session.scalar(select(func.count()).select_from(CounselorSchool)):
        return
    schools = (await session.scalars(select(School).order_by(School.code))).all()
    counselors = (
        await session.scalars(select(User).where(User.role == Role.ATTENDANCE_COUNSELOR).order_by(User.username))
    ).all()
    if not counselors:
        return
    for n, school in enumerate(schools):
        session.add(CounselorSchool(user_id=counselors[n * len(counselors) // len(schools)].id, school_id=school.id))
    await session.flush()


async def load_cases(session: AsyncSession, year: DemoYear, progress: Progress | None = None) -> int:
    """Open demo cases for students without one; returns how many cases were created. Every date
    lies before ``year.today``: cases opened over the weeks before, their casework after that."""
    await assign_counselor_schools(session)
    managers = (await session.scalars(select(User).where(User.role == Role.CASE_MANAGER).order_by(User.username))).all()
    if not managers or await session.scalar(select(func.count()).select_from(Case)):
        return 0
    counselor_of = dict((await session.execute(select(CounselorSchool.school_id, CounselorSchool.user_id))).all())
    fallback_counselor = await session.scalar(select(User.id).where(User.role == Role.ATTENDANCE_COUNSELOR))
    wanted = len(managers) * (OPEN_PER_MANAGER + 2) + 12  # + a few closed each + unassigned referrals
    # Truant students first: they are the ones counselors refer.
    truant = exists().where(TruancyEpisode.student_id == Student.id)
    query = select(Student).order_by(truant.desc(), Student.student_number).limit(wanted)
    students = (await session.scalars(query)).all()
    rng = random.Random(20251001)
    created = 0
    plan: list[tuple[User | None, CaseStatus]] = []
    for manager in managers:
        plan += [(manager, OPEN_STATES[i % len(OPEN_STATES)]) for i in range(OPEN_PER_MANAGER)]
        plan += [(manager, CaseStatus.CLOSED)] * 2
    plan += [(None, CaseStatus.REFERRED)] * 12
    now = datetime.combine(year.today, time(8, 0), tzinfo=UTC)
    window = max(14, min(OPENED_WITHIN_DAYS, (year.today - year.first_day).days))
    for n, (student, (owner, status)) in enumerate(zip(students, plan, strict=False)):
        opened = now - timedelta(days=rng.randrange(7, window), minutes=rng.randrange(0, 480))
        counselor = counselor_of.get(student.school_id) if student.school_id else None
        counselor = counselor or fallback_counselor
        case = Case(
            id=_uuid("case", student.student_number),
            student_id=student.id,
            school_id=student.school_id,
            status=status,
            case_manager_id=owner.id if owner else None,
            opened_at=opened,
        )
        if status == CaseStatus.CLOSED:
            case.closed_at = opened + (now - opened) / 2
            case.outcome = rng.choice([CaseOutcome.IMPROVED, CaseOutcome.NOT_IMPROVED, CaseOutcome.MOVED])
            case.close_reason = "Demo: attendance reviewed at closing"
        session.add(case)
        if counselor is not None:
            reason = "Demo referral: unexcused absences reported by the school"
            session.add(
                Referral(
                    id=_uuid("referral", student.student_number),
                    student_id=student.id,
                    school_id=student.school_id,
                    counselor_id=counselor,
                    reason=reason,
                    status=ReferralStatus.ELIGIBLE,
                    case_id=case.id,
                    content_hash=hashlib.sha256(f"{student.id}|{reason}".encode()).hexdigest(),
                )
            )
        _casework(session, rng, case, owner, status, opened, now)
        created += 1
        if progress is not None:
            progress("cases", n + 1, min(len(students), len(plan)))
    await session.flush()
    attended = year.attended_days()
    if attended:  # the district was evaluated before these cases opened: they take its summaries
        await case_truancy.refresh(session, attended[-1])
    return created


def _casework(
    session: AsyncSession,
    rng: random.Random,
    case: Case,
    manager: User | None,
    status: CaseStatus,
    opened: datetime,
    now: datetime,
) -> None:
    """Contacts, a note and a follow-up in keeping with how far along the case is, spread over the
    time between the case's opening and ``now`` (assessments, referrals to resources and meetings
    come with ``server.demo.casework``)."""
    if manager is None or status == CaseStatus.ASSIGNED:
        return
    key = str(case.id)
    span = (now - opened) / 8  # the casework fills the case's life so far, nothing in the future
    steps = {CaseStatus.CONTACTING: 2, CaseStatus.ACTIVE: 4, CaseStatus.MONITORING: 5, CaseStatus.CLOSED: 5}[status]
    for i in range(steps):
        method = [ContactMethod.PHONE, ContactMethod.LETTER, ContactMethod.HOME_VISIT][min(i, 2)]
        outcome = {
            ContactMethod.PHONE: rng.choice(
                [ContactOutcome.NO_ANSWER, ContactOutcome.LEFT_MESSAGE, ContactOutcome.REACHED]
            ),
            ContactMethod.LETTER: ContactOutcome.LETTER_SENT,
            ContactMethod.HOME_VISIT: rng.choice([ContactOutcome.FAMILY_MET, ContactOutcome.NO_ONE_HOME]),
        }[method]
        session.add(
            ContactAttempt(
                id=_uuid("contact", f"{key}-{i}"),
                case_id=case.id,
                method=method,
                outcome=outcome,
                at=opened + span * (i + 1) + timedelta(minutes=rng.randrange(0, 120)),
                created_by=manager.id,
            )
        )
    if status in (CaseStatus.ACTIVE, CaseStatus.MONITORING, CaseStatus.CLOSED):
        session.add(
            VisitNote(
                id=_uuid("note", key),
                case_id=case.id,
                author_id=manager.id,
                body="Demo note: met with the family at home; discussed the attendance policy and morning routine.",
                status="submitted",
                submitted_at=opened + span * 6,
            )
        )
    if status != CaseStatus.CLOSED:
        session.add(
            FollowUp(
                id=_uuid("follow", key),
                student_id=case.student_id,
                case_id=case.id,
                kind=FollowUpKind.FOLLOW_UP,
                title="Check in with the family about attendance",
                due_on=now.date() + timedelta(days=rng.randrange(-14, 45)),  # a few overdue
                created_by=manager.id,
            )
        )


def _uuid(kind: str, key: str) -> uuid.UUID:
    """Stable ids, so the demo is the same on every machine."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"doorstep-demo:{kind}:{key}")
