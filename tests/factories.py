"""Rows for tests, inserted directly (not through services) so tests set up exactly what they need."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cases import CaseStatus
from server.auth import repository as users
from server.cases.models import Case
from server.schools.models import CounselorSchool, School
from server.students.models import Guardian, Household, Student

_seq = itertools.count(1)


async def user_id(db: AsyncSession, username: str) -> uuid.UUID:
    user = await users.user_by_username(db, username)
    assert user is not None, username
    return user.id


async def school(db: AsyncSession, name: str = "Test School") -> School:
    n = next(_seq)
    row = School(id=uuid.uuid4(), code=f"T{n:05d}", name=f"{name} {n}")
    db.add(row)
    await db.flush()
    return row


async def student(db: AsyncSession, school_row: School | None = None, **fields: object) -> Student:
    n = next(_seq)
    home = Household(
        id=uuid.uuid4(),
        external_id=f"H-T{n:06d}",
        phone="555-0100",
        language="en",
        address=f"{n} Test Street",
        latitude=41.55,
        longitude=-73.04,
    )
    db.add(home)
    await db.flush()
    db.add(Guardian(id=uuid.uuid4(), household_id=home.id, name=f"Guardian {n}", relationship="parent"))
    row = Student(
        id=uuid.uuid4(),
        student_number=str(fields.pop("student_number", f"T{n:07d}")),
        first_name=str(fields.pop("first_name", "Test")),
        last_name=str(fields.pop("last_name", f"Student{n}")),
        grade="7",
        household_id=home.id,
        school_id=school_row.id if school_row else None,
    )
    db.add(row)
    await db.flush()
    return row


async def case(
    db: AsyncSession,
    student_row: Student,
    *,
    manager: uuid.UUID | None = None,
    status: CaseStatus = CaseStatus.ASSIGNED,
    opened_days_ago: int = 0,
) -> Case:
    row = Case(
        id=uuid.uuid4(),
        student_id=student_row.id,
        school_id=student_row.school_id,
        status=status if manager or status != CaseStatus.ASSIGNED else CaseStatus.REFERRED,
        case_manager_id=manager,
        opened_at=datetime.now(UTC) - timedelta(days=opened_days_ago),
    )
    db.add(row)
    await db.flush()
    return row


async def counselor_at(db: AsyncSession, username: str, school_row: School) -> None:
    db.add(CounselorSchool(user_id=await user_id(db, username), school_id=school_row.id))
    await db.flush()
