"""The demo caseloads: every case manager gets about 25 open cases across the lifecycle, and photos."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import User
from server.blobs import Blobs
from server.cases.models import Case, ContactAttempt, FollowUp, FormPhoto, Referral, VisitNote
from server.demo.cases import OPEN_PER_MANAGER, load_cases
from server.demo.district import DemoYear
from server.demo.photos import PHOTOS, load_photos
from server.photos.models import PhotoFile
from server.schools.models import CounselorSchool, School
from server.students.models import Student
from tests.conftest import make_settings


async def test_demo_cases_give_every_case_manager_a_caseload_once(db: AsyncSession, tmp_path: Path) -> None:
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

    year = DemoYear.containing(date(2026, 12, 1))
    assert await load_cases(db, year) == 8 * (OPEN_PER_MANAGER + 2) + 12
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
    assert await load_cases(db, year) == 0

    # Everything happened before the demo's day, within its school year.
    today = datetime(2026, 12, 1, tzinfo=UTC)
    start = datetime.combine(year.first_day, datetime.min.time(), tzinfo=UTC)
    for column in (Case.opened_at, Case.closed_at, ContactAttempt.at, VisitNote.submitted_at):
        low, high = (await db.execute(select(func.min(column), func.max(column)))).one()
        assert low is not None and high is not None and start <= low and high < today, column
    due = (await db.scalars(select(FollowUp.due_on))).all()
    assert min(due) < today.date() < max(due)  # a few overdue, most ahead

    # Photos of signed forms, as an upload leaves them: received, stored once, copies made.
    blobs = Blobs.from_settings(make_settings(data_dir=tmp_path))
    assert await load_photos(db, blobs) == PHOTOS
    assert await load_photos(db, blobs) == 0
    photos = (await db.scalars(select(FormPhoto))).all()
    assert {p.upload_status for p in photos} == {"received"}
    assert {p.content_type for p in photos} == {"image/jpeg", "application/pdf"}
    stored = (await db.scalars(select(PhotoFile))).all()
    assert len(stored) == PHOTOS and all(f.processed_at is not None for f in stored)
    assert sorted(await blobs.keys("thumbs/")) == sorted(f"thumbs/{f.sha256}" for f in stored)


def test_the_demo_year_is_the_one_containing_the_day_it_is_loaded() -> None:
    autumn = DemoYear.containing(date(2026, 12, 1))
    assert (autumn.name, autumn.first_day) == ("2026-2027", date(2026, 8, 26))
    assert autumn.attended_days()[-1] == date(2026, 11, 30)  # through the school day before today
    assert len(autumn.calendar_days()) == 180
    for summer in (date(2026, 7, 15), date(2026, 8, 25)):  # the break: the year just ended, all of it
        year = DemoYear.containing(summer)
        assert year.name == "2025-2026" and len(year.attended_days()) == 180
    spring = DemoYear.containing(date(2026, 3, 2))
    assert (spring.first_day, spring.calendar_days()[-1]) == (date(2025, 8, 27), date(2026, 6, 12))
    assert date(2025, 11, 27) not in spring.calendar_days()  # Thanksgiving
    assert date(2026, 1, 19) not in spring.calendar_days()  # Martin Luther King Jr. Day
