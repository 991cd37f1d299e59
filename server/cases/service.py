"""Decisions about cases: opening, assignment, the lifecycle, and casework added from the office."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.attendance import AbsenceClass
from schemas.auth import Role
from schemas.cases import (
    CaseDetail,
    CaseOut,
    CaseStatus,
    CaseTruancy,
    ContactAttemptOut,
    FollowUpIn,
    FollowUpKind,
    FollowUpOut,
    ServiceReferralIn,
    ServiceReferralOut,
    StudentSummary,
    TransitionRequest,
)
from schemas.casework import AssessmentOut, ParentMeetingOut, ServiceReferralStatus
from schemas.rules import Rule
from server import audit, clock, scope
from server.audit import Actor
from server.auth import repository as users
from server.auth.service import Principal
from server.cases import repository as repo
from server.cases.models import Case, FollowUp, ServiceReferral, VisitNote
from server.cases.scope import visible_cases
from server.errors import Forbidden, InvalidInput, InvalidTransition, NotFound
from server.rules import case_truancy
from server.rules import service as rules
from server.settings import Settings
from server.students import repository as students

S = CaseStatus
LIFECYCLE: dict[CaseStatus, frozenset[CaseStatus]] = {
    S.REFERRED: frozenset({S.ASSIGNED, S.CLOSED}),
    S.ASSIGNED: frozenset({S.CONTACTING, S.CLOSED}),
    S.CONTACTING: frozenset({S.ACTIVE, S.CLOSED}),
    S.ACTIVE: frozenset({S.MONITORING, S.CLOSED}),
    S.MONITORING: frozenset({S.ACTIVE, S.CLOSED}),
    S.CLOSED: frozenset(),
}
"""Allowed moves. ``referred → assigned`` happens by assignment; a closed case stays closed
(a new referral opens a new case)."""


def _now() -> datetime:
    return datetime.now(UTC)


def _touch(case: Case) -> None:
    case.version += 1
    case.updated_at = _now()


async def visible_case(session: AsyncSession, principal: Principal, case_id: uuid.UUID) -> Case:
    case = await repo.get(session, case_id, visible_cases(principal))
    if case is None:
        raise NotFound("No such case")
    return case


async def open_case(session: AsyncSession, actor: Actor, student_id: uuid.UUID, school_id: uuid.UUID | None) -> Case:
    opened = _now()
    case = Case(
        id=uuid.uuid4(),
        student_id=student_id,
        school_id=school_id,
        status=CaseStatus.REFERRED,
        opened_at=opened,
        version=1,
        truancy=await case_truancy.summary_for_student(session, student_id, opened.date()),
    )
    session.add(case)
    await session.flush()
    audit.record(session, actor, "case.open", "case", case.id, student_id=student_id)
    return case


async def assign(
    session: AsyncSession, principal: Principal, actor: Actor, case_id: uuid.UUID, cm_id: uuid.UUID
) -> Case:
    """Assign or reassign a case to a case manager on the supervisor's team (admins: anyone's)."""
    await visible_case(session, principal, case_id)
    case = await repo.get_for_update(session, case_id)
    assert case is not None
    manager = await users.user_by_id(session, cm_id)
    if manager is None or manager.role != Role.CASE_MANAGER or not manager.is_active:
        raise NotFound("No such active case manager")
    if principal.role == Role.SUPERVISOR and manager.supervisor_id != principal.user_id:
        raise Forbidden("Supervisors assign cases to their own team")
    if case.status == CaseStatus.CLOSED:
        raise InvalidTransition("A closed case cannot be assigned")
    previous = case.case_manager_id
    if previous == cm_id:
        return case
    case.case_manager_id = cm_id
    if case.status == CaseStatus.REFERRED:
        case.status = CaseStatus.ASSIGNED
    _touch(case)
    audit.record(
        session,
        actor,
        "case.reassign" if previous else "case.assign",
        "case",
        case.id,
        student_id=case.student_id,
        case_manager_id=str(cm_id),
        previous_case_manager_id=str(previous) if previous else None,
    )
    return case


async def transition(
    session: AsyncSession, principal: Principal, actor: Actor, case_id: uuid.UUID, change: TransitionRequest
) -> Case:
    await visible_case(session, principal, case_id)
    case = await repo.get_for_update(session, case_id)
    assert case is not None
    current = CaseStatus(case.status)
    if change.status not in LIFECYCLE[current]:
        allowed = ", ".join(sorted(LIFECYCLE[current])) or "none"
        raise InvalidTransition(f"A {current} case cannot move to {change.status} (allowed: {allowed})")
    if change.status == CaseStatus.ASSIGNED:
        raise InvalidTransition("Assign a case with POST /cases/{id}/assign")
    if change.status == CaseStatus.CLOSED:
        if change.outcome is None or not (change.reason or "").strip():
            raise InvalidInput("Closing a case needs an outcome and a reason")
        case.outcome = change.outcome
        case.close_reason = change.reason
        case.closed_at = _now()
    case.status = change.status
    _touch(case)
    audit.record(
        session,
        actor,
        "case.transition",
        "case",
        case.id,
        student_id=case.student_id,
        status_from=current,
        status_to=change.status,
    )
    return case


async def add_service_referral(
    session: AsyncSession, principal: Principal, actor: Actor, case_id: uuid.UUID, body: ServiceReferralIn
) -> ServiceReferral:
    case = await visible_case(session, principal, case_id)
    row = ServiceReferral(
        id=uuid.uuid4(),
        case_id=case.id,
        resource_name=body.resource,
        category=body.category,
        at=datetime.now(UTC),
        referred_on=body.referred_on,
        note=body.note,
        status=ServiceReferralStatus.MADE,
        created_by=principal.user_id,
        version=1,
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        actor,
        "service_referral.create",
        "service_referral",
        row.id,
        student_id=case.student_id,
        case_id=str(case.id),
    )
    return row


async def add_follow_up(
    session: AsyncSession, principal: Principal, actor: Actor, case_id: uuid.UUID, body: FollowUpIn
) -> FollowUp:
    case = await visible_case(session, principal, case_id)
    row = FollowUp(
        id=uuid.uuid4(),
        student_id=case.student_id,
        case_id=case.id,
        kind=FollowUpKind.FOLLOW_UP,
        title=body.title,
        due_on=body.due_on,
        note=body.note,
        version=1,
    )
    session.add(row)
    await session.flush()
    audit.record(
        session, actor, "follow_up.create", "follow_up", row.id, student_id=case.student_id, case_id=str(case.id)
    )
    return row


def case_out(case: object) -> CaseOut:
    return msgspec.convert(case, CaseOut, from_attributes=True)


async def page(
    session: AsyncSession,
    principal: Principal,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
    status: CaseStatus | None = None,
    unassigned: bool | None = None,
) -> tuple[list[Case], bool]:
    """Up to ``limit`` cases the principal may see, in (opened_at, id) order, and whether more follow
    (``unassigned``: only those with no case manager, or with False only those with one)."""
    rows = await repo.page(
        session, visible_cases(principal), limit=limit, after=after, status=status, unassigned=unassigned
    )
    return list(rows[:limit]), len(rows) > limit


async def read(
    session: AsyncSession, principal: Principal, actor: Actor, case_id: uuid.UUID, settings: Settings
) -> CaseDetail:
    """The case with its student and casework (contacts, follow-ups, referrals to services, the
    assessments and the parent meetings, each through its record kind's scope), if the principal
    may see it (``case.read``, naming the student); otherwise 404, as for no case, and the refusal
    kept (``case.read_refused``)."""
    case = await repo.get(session, case_id, visible_cases(principal))
    if case is None:
        student_id = await session.scalar(select(Case.student_id).where(Case.id == case_id))
        await audit.refuse_read(session, actor, "case", case_id, student_id=student_id)
    student = await students.get(session, case.student_id)
    audit.record(session, actor, "case.read", "case", case.id, student_id=case.student_id)
    reader = scope.Reader.of(principal)
    return CaseDetail(
        case=case_out(case),
        student=msgspec.convert(student, StudentSummary, from_attributes=True),
        contact_attempts=[
            msgspec.convert(c, ContactAttemptOut, from_attributes=True)
            for c in await repo.contact_attempts(session, case.id, scope.contact_attempts(reader))
        ],
        follow_ups=[
            msgspec.convert(f, FollowUpOut, from_attributes=True)
            for f in await repo.follow_ups(session, case.id, scope.follow_ups(reader))
        ],
        truancy=await _truancy(session, case, settings),
        service_referrals=[
            msgspec.convert(s, ServiceReferralOut, from_attributes=True)
            for s in await repo.service_referrals(session, case.id, scope.service_referrals(reader))
        ],
        assessments=[
            msgspec.convert(a, AssessmentOut, from_attributes=True)
            for a in await repo.assessments(session, case.id, scope.assessments(reader))
        ],
        parent_meetings=[
            msgspec.convert(m, ParentMeetingOut, from_attributes=True)
            for m in await repo.parent_meetings(session, case.id, scope.parent_meetings(reader))
        ],
    )


async def _truancy(session: AsyncSession, case: Case, settings: Settings) -> CaseTruancy | None:
    """The student's truancy as of the district's today, split at the district's date the case opened."""
    report = await rules.report_near(session, case.student_id, clock.today(settings))
    if report is None:
        return None
    opened = clock.day_of(case.opened_at, settings)
    unexcused = [a.day for a in report.absences if a.classification == AbsenceClass.UNEXCUSED]
    truant_rules = (Rule.MONTHLY, Rule.YEARLY, Rule.HABITUAL)
    return CaseTruancy(
        as_of=report.as_of,
        school_year=report.school_year,
        truant=report.truant,
        habitual=report.habitual,
        chronic=report.chronic,
        became_truant_on=min((e.became_on for e in report.episodes if e.rule in truant_rules), default=None),
        episodes=report.episodes,
        unexcused_before_case=sum(1 for day in unexcused if day < opened),
        unexcused_since_case=sum(1 for day in unexcused if day >= opened),
        absences_since_case=sum(1 for a in report.absences if a.day >= opened),
        rules=[r for r in report.rules if r.rule in truant_rules],
        months=await rules.months_of_year(session, report),
    )


async def notes(session: AsyncSession, case_id: uuid.UUID) -> Sequence[VisitNote]:
    """The live notes of a case the caller has already been shown (``read``), oldest first."""
    return await repo.notes(session, case_id)
