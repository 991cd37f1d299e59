"""Small school years for the rules tests: one school, a weekday calendar, a few students."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from server.attendance.models import AttendanceRecord
from server.schools.models import InstructionalDay, School, SchoolYear
from server.students.models import Enrollment, Student

YEAR_START = date(2025, 9, 2)  # a Tuesday
YEAR_END = date(2026, 6, 12)


def weekdays(start: date, end: date, skip: set[date] | frozenset[date] = frozenset()) -> list[date]:
    days = []
    d = start
    while d <= end:
        if d.weekday() < 5 and d not in skip:
            days.append(d)
        d += timedelta(days=1)
    return days


@dataclass
class District:
    school: School
    year: SchoolYear
    days: list[date]
    students: list[Student] = field(default_factory=list)

    def school_day(self, on_or_after: date, plus: int = 0) -> date:
        """The school day ``plus`` school days after the first school day on or after ``on_or_after``."""
        i = next(n for n, d in enumerate(self.days) if d >= on_or_after)
        return self.days[i + plus]


_n = 0


async def make_district(
    db: AsyncSession, *, holidays: frozenset[date] = frozenset(), students: int = 1, name: str | None = None
) -> District:
    global _n
    _n += 1
    tag = uuid.uuid4().hex[:6]
    school = School(code=f"T{tag}", name=f"Test School {tag}")
    year = SchoolYear(name=name or "2025-2026", starts_on=YEAR_START, ends_on=YEAR_END)
    db.add_all([school, year])
    await db.flush()
    days = weekdays(YEAR_START, YEAR_END, holidays)
    await db.execute(
        insert(InstructionalDay), [{"school_id": school.id, "day": d, "school_year_id": year.id} for d in days]
    )
    district = District(school=school, year=year, days=days)
    for _ in range(students):
        await add_student(db, district)
    return district


async def add_student(db: AsyncSession, district: District, entered_on: date = YEAR_START) -> Student:
    tag = uuid.uuid4().hex[:8]
    student = Student(
        student_number=f"S{tag}", first_name="Test", last_name=f"Student {tag}", grade="7", school_id=district.school.id
    )
    db.add(student)
    await db.flush()
    db.add(
        Enrollment(
            student_id=student.id,
            school_id=district.school.id,
            school_year_id=district.year.id,
            grade="7",
            entered_on=entered_on,
        )
    )
    await db.flush()
    district.students.append(student)
    return student


async def absent(db: AsyncSession, district: District, student: Student, *days: date, **fields: Any) -> None:
    """Record full-day absences (0 of 360 minutes) unless ``fields`` say otherwise."""
    rows = []
    for d in days:
        row: dict[str, Any] = {
            "student_id": student.id,
            "day": d,
            "school_id": district.school.id,
            "minutes_present": 0,
            "minutes_scheduled": 360,
            "present_half_day": None,
            "tardy": False,
            "reason_code": None,
            "documentation_received_on": None,
        }
        row.update(fields)
        rows.append(row)
    await db.execute(insert(AttendanceRecord), rows)
