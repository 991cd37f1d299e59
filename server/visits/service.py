"""Reading visit logs: scoped by ``server.scope`` and audited with their students.

A visit log is a student's record (where her family lives, what happened at the door, her
truancy report as of the visit), so every read names the student in the audit log: a listing one
row per student shown (``student.listed``, with the visit logs), a single read one row
(``visit_log.read``), and a refused one answers what a missing one does and is kept
(``visit_log.read_refused``).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from server import audit, scope
from server.audit import Actor
from server.auth.service import Principal
from server.cases.models import VisitLog
from server.visits import repository as repo


async def page(
    session: AsyncSession,
    principal: Principal,
    actor: Actor,
    filters: repo.Filters,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> tuple[list[VisitLog], bool]:
    """Up to ``limit`` visit logs the principal may see, and whether more follow."""
    rows = await repo.page(session, scope.visit_logs(scope.Reader.of(principal)), filters, limit=limit, after=after)
    shown = rows[:limit]
    by_student: dict[uuid.UUID, list[str]] = {}
    for visit, student_id in shown:
        by_student.setdefault(student_id, []).append(str(visit.id))
    for student_id, visit_logs in by_student.items():
        audit.record(
            session, actor, "student.listed", "student", student_id, via="visit_logs", visit_log_ids=visit_logs
        )
    return [visit for visit, _ in shown], len(rows) > limit


async def read(session: AsyncSession, principal: Principal, actor: Actor, visit_log_id: uuid.UUID) -> VisitLog:
    """The visit log, if the principal may see it; otherwise 404, as for none, and the refusal kept."""
    found = await repo.get(session, visit_log_id, scope.visit_logs(scope.Reader.of(principal)))
    if found is None:
        student_id = await repo.student_of(session, visit_log_id)
        await audit.refuse_read(session, actor, "visit_log", visit_log_id, student_id=student_id)
    visit, student_id = found
    audit.record(
        session, actor, "visit_log.read", "visit_log", visit.id, student_id=student_id, case_id=str(visit.case_id)
    )
    return visit
