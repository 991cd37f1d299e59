"""The demo caseloads: every case manager gets about 25 open cases across the lifecycle."""

from __future__ import annotations

import uuid
from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import User
from server.cases.models import Case, Referral
from server.demo.cases import OPEN_PER_MANAGER, load_cases
from server.schools.models import CounselorSchool, School
from server.students.models import Student


async def test_demo_cases_give_every_case_manager_a_caseload_once(db: AsyncSession) -> None:
    schools = [School(id=uuid.uuid4(), code=f"DEMO{n}", name=f"Demo {n}") for n in range(6)]
    db.add_all(schools)
    await db.flush()
    db.add_all(
        Student(
            id=uuid.uuid4(),
            student_number=f"D{n:05d}",
            first_name="Demo",
            last_name=f"Student {n}",
            school_id=schools[n % 6].id,
        )
        for n in range(260)
    )
    await db.flush()

    assert await load_cases(db) == 8 * (OPEN_PER_MANAGER + 2) + 12
    open_per_manager = Counter(
        (
            await db.execute(
                select(User.username).join(Case, Case.case_manager_id == User.id).where(Case.status != "closed")
            )
        ).scalars()
    )
    assert open_per_manager == {f"cm{i}": OPEN_PER_MANAGER for i in range(1, 9)}
    states = set((await db.scalars(select(Case.status))).all())
    assert states == {"referred", "assigned", "contacting", "active", "monitoring", "closed"}
    assert await db.scalar(select(func.count()).select_from(Referral)) == await db.scalar(
        select(func.count()).select_from(Case)
    )
    assert await db.scalar(select(func.count(func.distinct(CounselorSchool.user_id)))) == 3
    assert await load_cases(db) == 0
