"""Which students a caller may read (student records are sensitive; every read is audited)."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, exists, false, true
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from server.auth.service import Principal
from server.cases.models import Case
from server.cases.scope import visible_cases
from server.errors import NotFound
from server.schools.models import CounselorSchool
from server.students import repository as repo
from server.students.models import Student


def visible_students(principal: Principal) -> ColumnElement[bool]:
    """Office staff and admins: all. Counselors: students at their schools. Case managers and
    supervisors: students on the cases they can see."""
    match principal.role:
        case Role.OFFICE_STAFF | Role.ADMIN:
            return true()
        case Role.ATTENDANCE_COUNSELOR:
            return exists().where(
                CounselorSchool.user_id == principal.user_id, CounselorSchool.school_id == Student.school_id
            )
        case Role.CASE_MANAGER | Role.SUPERVISOR:
            return exists().where(Case.student_id == Student.id, visible_cases(principal))
    return false()


async def visible_student(session: AsyncSession, principal: Principal, student_id: uuid.UUID) -> Student:
    """The student, if ``principal`` may read her record; otherwise 404, the same answer as for a
    student who does not exist. Every route that answers with a student's data goes through here."""
    student = await repo.get(session, student_id, visible_students(principal))
    if student is None:
        raise NotFound("No such student")
    return student
