"""Student records: by id or by district student number. Every read is audited, and so is every
refused one (``student.read_refused``: the caller gets what a missing student gets)."""

from __future__ import annotations

import uuid

import msgspec
from litestar import Router, get
from litestar.params import FromPath, FromQuery
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cases import GuardianOut, HouseholdOut, StudentOut
from server import audit
from server.auth.guards import ALL_ROLES, allow
from server.deps import AuthRequest, Db, actor_of
from server.students import repository as repo
from server.students.models import Student
from server.students.scope import visible_student, visible_students


async def _student_out(db: AsyncSession, student: Student) -> StudentOut:
    household = await repo.household(db, student.household_id)
    return StudentOut(
        id=student.id,
        student_number=student.student_number,
        first_name=student.first_name,
        last_name=student.last_name,
        birth_date=student.birth_date,
        grade=student.grade,
        school_id=student.school_id,
        household=msgspec.convert(household, HouseholdOut, from_attributes=True) if household else None,
        guardians=[
            msgspec.convert(g, GuardianOut, from_attributes=True)
            for g in await repo.guardians(db, student.household_id)
        ],
        version=student.version,
    )


@get("/students/{student_id:uuid}", opt=allow(*ALL_ROLES))
async def read_student(request: AuthRequest, db: Db, student_id: FromPath[uuid.UUID]) -> StudentOut:
    student = await visible_student(db, request.user, actor_of(request), student_id)
    audit.record(db, actor_of(request), "student.read", "student", student.id)
    return await _student_out(db, student)


@get("/students", opt=allow(*ALL_ROLES))
async def find_students(request: AuthRequest, db: Db, student_number: FromQuery[str]) -> list[StudentOut]:
    student = await repo.by_number(db, student_number, visible_students(request.user))
    if student is None:
        # A student the caller may not see answers as no student; the refusal is kept.
        hidden = await db.scalar(select(Student.id).where(Student.student_number == student_number))
        if hidden is not None:
            audit.record(db, actor_of(request), "student.read_refused", "student", hidden, via="student_number")
        return []
    audit.record(db, actor_of(request), "student.read", "student", student.id, via="student_number")
    return [await _student_out(db, student)]


router = Router(path="/", route_handlers=[read_student, find_students])
