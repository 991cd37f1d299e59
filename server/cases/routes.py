"""Case routes: list and read (scoped by role), assign, move through the lifecycle, add casework.

Reading a case shows its student: the read is audited with the student's id, and a refused read
(``case.read_refused``) is kept too, though it answers what a missing case answers."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

import msgspec
from litestar import Router, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sqlalchemy import select

from schemas.attendance import AbsenceClass
from schemas.auth import Role
from schemas.cases import (
    AssignRequest,
    CaseDetail,
    CaseOut,
    CasePage,
    CaseStatus,
    CaseTruancy,
    ContactAttemptOut,
    FollowUpIn,
    FollowUpOut,
    ServiceReferralIn,
    ServiceReferralOut,
    StudentSummary,
    TransitionRequest,
)
from schemas.rules import Rule
from server import audit
from server.auth.guards import ALL_ROLES, allow
from server.cases import repository as repo
from server.cases import service
from server.cases.models import Case
from server.cases.scope import visible_cases
from server.deps import AuthRequest, Db, actor_of
from server.pagination import decode_cursor, encode_cursor
from server.rules import service as rules
from server.students import repository as students

CASEWORKERS = allow(Role.CASE_MANAGER, Role.SUPERVISOR, Role.ADMIN)


def case_out(case: object) -> CaseOut:
    return msgspec.convert(case, CaseOut, from_attributes=True)


@get("/cases", opt=allow(*ALL_ROLES))
async def list_cases(
    request: AuthRequest,
    db: Db,
    limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    cursor: FromQuery[str | None] = None,
    status: FromQuery[CaseStatus | None] = None,
) -> CasePage:
    after = decode_cursor(cursor) if cursor else None
    rows = await repo.page(db, visible_cases(request.user), limit=limit, after=after, status=status)
    items = [case_out(c) for c in rows[:limit]]
    more = len(rows) > limit
    return CasePage(items=items, next_cursor=encode_cursor(items[-1].opened_at, items[-1].id) if more else None)


@get("/cases/{case_id:uuid}", opt=allow(*ALL_ROLES))
async def read_case(request: AuthRequest, db: Db, case_id: FromPath[uuid.UUID]) -> CaseDetail:
    case = await repo.get(db, case_id, visible_cases(request.user))
    if case is None:
        student_id = await db.scalar(select(Case.student_id).where(Case.id == case_id))
        await audit.refuse_read(db, actor_of(request), "case", case_id, student_id=student_id)
    student = await students.get(db, case.student_id)
    audit.record(db, actor_of(request), "case.read", "case", case.id, student_id=case.student_id)
    return CaseDetail(
        case=case_out(case),
        student=msgspec.convert(student, StudentSummary, from_attributes=True),
        contact_attempts=[
            msgspec.convert(c, ContactAttemptOut, from_attributes=True)
            for c in await repo.contact_attempts(db, case.id)
        ],
        follow_ups=[msgspec.convert(f, FollowUpOut, from_attributes=True) for f in await repo.follow_ups(db, case.id)],
        truancy=await _truancy(db, case),
        service_referrals=[
            msgspec.convert(s, ServiceReferralOut, from_attributes=True)
            for s in await repo.service_referrals(db, case.id)
        ],
    )


async def _truancy(db: Db, case: Case) -> CaseTruancy | None:
    report = await rules.report_near(db, case.student_id, date.today())
    if report is None:
        return None
    opened = case.opened_at.date()
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
    )


@post("/cases/{case_id:uuid}/assign", opt=allow(Role.SUPERVISOR, Role.ADMIN), status_code=200)
async def assign_case(
    request: AuthRequest, db: Db, case_id: FromPath[uuid.UUID], data: JSONBody[AssignRequest]
) -> CaseOut:
    case = await service.assign(db, request.user, actor_of(request), case_id, data.case_manager_id)
    return case_out(case)


@post("/cases/{case_id:uuid}/transition", opt=CASEWORKERS, status_code=200)
async def transition_case(
    request: AuthRequest, db: Db, case_id: FromPath[uuid.UUID], data: JSONBody[TransitionRequest]
) -> CaseOut:
    return case_out(await service.transition(db, request.user, actor_of(request), case_id, data))


@post("/cases/{case_id:uuid}/service-referrals", opt=CASEWORKERS, status_code=201)
async def add_service_referral(
    request: AuthRequest, db: Db, case_id: FromPath[uuid.UUID], data: JSONBody[ServiceReferralIn]
) -> ServiceReferralOut:
    row = await service.add_service_referral(db, request.user, actor_of(request), case_id, data)
    return msgspec.convert(row, ServiceReferralOut, from_attributes=True)


@post("/cases/{case_id:uuid}/follow-ups", opt=CASEWORKERS, status_code=201)
async def add_follow_up(
    request: AuthRequest, db: Db, case_id: FromPath[uuid.UUID], data: JSONBody[FollowUpIn]
) -> FollowUpOut:
    row = await service.add_follow_up(db, request.user, actor_of(request), case_id, data)
    return msgspec.convert(row, FollowUpOut, from_attributes=True)


router = Router(
    path="/",
    route_handlers=[
        list_cases,
        read_case,
        assign_case,
        transition_case,
        add_service_referral,
        add_follow_up,
    ],
)
