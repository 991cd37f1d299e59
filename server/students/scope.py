"""Which students a caller may read (student records are sensitive; every read is audited)."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from server import audit, scope
from server.audit import Actor
from server.auth.service import Principal
from server.students import repository as repo
from server.students.models import Student


def visible_students(principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause over ``Student`` for what ``principal`` may read (``server.scope.students``)."""
    return scope.students(scope.Reader.of(principal))


async def visible_student(session: AsyncSession, principal: Principal, actor: Actor, student_id: uuid.UUID) -> Student:
    """The student, if ``principal`` may read her record; otherwise 404, the same answer as for a
    student who does not exist, and the refused read is kept (``audit.refuse_read``). Every route
    that answers with one student's data goes through here."""
    student = await repo.get(session, student_id, visible_students(principal))
    if student is None:
        exists = await session.scalar(select(Student.id).where(Student.id == student_id))
        await audit.refuse_read(session, actor, "student", student_id, student_id=exists)
    return student
