"""Which students a caller may read (student records are sensitive; every read is audited)."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from server import scope
from server.auth.service import Principal
from server.errors import NotFound
from server.students import repository as repo
from server.students.models import Student


def visible_students(principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause over ``Student`` for what ``principal`` may read (``server.scope.students``)."""
    return scope.students(scope.Reader.of(principal))


async def visible_student(session: AsyncSession, principal: Principal, student_id: uuid.UUID) -> Student:
    """The student, if ``principal`` may read her record; otherwise 404, the same answer as for a
    student who does not exist. Every route that answers with a student's data goes through here."""
    student = await repo.get(session, student_id, visible_students(principal))
    if student is None:
        raise NotFound("No such student")
    return student
