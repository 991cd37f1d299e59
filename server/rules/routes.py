"""Routes of the rules engine: a student's truancy status, rule sets, overdue parent meetings."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from litestar import Request, Router, get, put
from litestar.params import FromPath, FromQuery, JSONBody

from schemas.auth import Role
from schemas.rules import RuleSetChange, RuleSetOut
from schemas.truancy import TruancyReport
from server import audit, clock
from server.auth.guards import ALL_ROLES, allow
from server.auth.service import Principal
from server.deps import Config, Db
from server.logging import request_id_of
from server.rules import meetings, rulesets, service
from server.students.scope import visible_student, visible_students

AuthRequest = Request[Principal, str, Any]
READERS = (Role.ADMIN, Role.SUPERVISOR, Role.OFFICE_STAFF)


@get("/students/{student_id:uuid}/truancy", opt=allow(*ALL_ROLES))
async def student_truancy(
    request: AuthRequest,
    db: Db,
    settings: Config,
    student_id: FromPath[uuid.UUID],
    as_of: FromQuery[date | None] = None,
) -> TruancyReport:
    """A student's truancy report: every absence with its reason, so it is her record: scoped
    like the student (404 outside the reader's caseload) and every read is audited."""
    actor = request.user.actor(request_id_of(request.scope))
    student = await visible_student(db, request.user, actor, student_id)
    day = as_of or clock.today(settings)
    report = await service.student_truancy(db, student.id, day)
    audit.record(db, actor, "student.truancy.read", "student", student.id, as_of=day.isoformat())
    return report


@get("/school-years/{school_year_id:uuid}/rules", opt=allow(*READERS))
async def current_rules(db: Db, school_year_id: FromPath[uuid.UUID]) -> RuleSetOut:
    return await rulesets.effective(db, await rulesets.year_or_404(db, school_year_id))


@get("/school-years/{school_year_id:uuid}/rules/versions", opt=allow(*READERS))
async def rule_versions(db: Db, school_year_id: FromPath[uuid.UUID]) -> list[RuleSetOut]:
    return await rulesets.history(db, school_year_id)


@put("/school-years/{school_year_id:uuid}/rules", opt=allow(Role.ADMIN))
async def change_rules(
    request: AuthRequest, db: Db, school_year_id: FromPath[uuid.UUID], data: JSONBody[RuleSetChange]
) -> RuleSetOut:
    actor = request.user.actor(request_id_of(request.scope))
    return await rulesets.change(db, actor, school_year_id, data)


@get("/parent-meetings/overdue", opt=allow(Role.ADMIN, Role.SUPERVISOR, Role.OFFICE_STAFF, Role.CASE_MANAGER))
async def overdue_meetings(
    request: AuthRequest, db: Db, settings: Config, as_of: FromQuery[date | None] = None
) -> list[meetings.OverdueMeeting]:
    """Open parent meetings past due, of the students the reader may see (a case manager: those
    on her own cases). Each student named is an audited read."""
    found = await meetings.overdue(db, as_of or clock.today(settings), visible_students(request.user))
    actor = request.user.actor(request_id_of(request.scope))
    for student_id in dict.fromkeys(m.student_id for m in found):
        audit.record(db, actor, "student.listed", "student", student_id, via="parent_meetings_overdue")
    return found


router = Router(
    path="/", route_handlers=[student_truancy, current_rules, rule_versions, change_rules, overdue_meetings]
)
