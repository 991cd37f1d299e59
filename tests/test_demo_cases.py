"""The demo caseloads tell a true story: each case is one the program would have opened, on the day
its referral was made, shortly after the rules found its student truant; every case manager has
about 25 open cases across the lifecycle; closed cases keep the summary they closed with; the
counselor's list of truant students offers Refer only where there is no open case."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server import demo
from server.auth.models import User
from server.blobs import Blobs
from server.cases.models import Case, ContactAttempt, FollowUp, FormPhoto, Referral, VisitNote
from server.db import create_engine, create_session_factory
from server.demo.cases import CLOSED_PER_MANAGER, OPEN_PER_MANAGER, load_cases
from server.demo.district import DemoYear
from server.demo.photos import PHOTOS, load_photos
from server.photos.models import PhotoFile
from server.referrals import eligibility
from server.rules import case_truancy
from server.rules import service as rules
from server.schools.models import CounselorSchool
from server.students.models import Student
from tests.conftest import DEMO_TODAY, PASSWORD, app_for, client_for, make_settings, own_database
from tests.test_console import _sign_in

WATERBURY = ZoneInfo("America/New_York")


def _day(moment: datetime) -> date:
    return moment.astimezone(WATERBURY).date()


async def test_every_case_manager_has_about_25_open_cases_across_the_lifecycle(demo_db: AsyncSession) -> None:
    rows = (await demo_db.execute(select(User.username, Case.status).join(Case, Case.case_manager_id == User.id))).all()
    open_cases = Counter(name for name, status in rows if status != "closed")
    closed = Counter(name for name, status in rows if status == "closed")
    managers = {f"cm{i}" for i in range(1, 9)}
    assert open_cases == dict.fromkeys(managers, OPEN_PER_MANAGER)
    assert closed == dict.fromkeys(managers, CLOSED_PER_MANAGER)
    states = Counter((await demo_db.scalars(select(Case.status))).all())
    assert set(states) == {"referred", "assigned", "contacting", "active", "monitoring", "closed"}
    assert states["referred"] == 12
    assert not await demo_db.scalar(
        select(func.count()).select_from(Case).where(Case.status == "referred", Case.case_manager_id.is_not(None))
    )
    counselors = Counter((await demo_db.scalars(select(CounselorSchool.user_id))).all())
    assert sorted(counselors.values()) == [2, 2, 2], "three counselors, two schools each"

    # The cases opened first are the furthest along: each case manager's oldest were closed, her
    # newest just assigned, and the newest referrals of all wait to be assigned.
    opened: dict[str, list[datetime]] = {status: [] for status in states}
    for status, at in (await demo_db.execute(select(Case.status, Case.opened_at))).all():
        opened[status].append(at)
    order = ["closed", "monitoring", "active", "contacting", "assigned", "referred"]
    medians = [sorted(opened[s])[len(opened[s]) // 2] for s in order]
    assert medians == sorted(medians)


async def test_every_case_was_opened_by_an_eligible_referral_on_a_day_its_student_was_truant(
    demo_db: AsyncSession,
) -> None:
    """What ``POST /referrals`` checks on its day (``server.referrals.eligibility``), asked for
    every case on the day it opened: the student was truant then, so the referral opened it."""
    rows = (
        await demo_db.execute(
            select(Case, Referral, Student.school_id)
            .join(Referral, Referral.case_id == Case.id)
            .join(Student, Student.id == Case.student_id)
        )
    ).all()
    assert len(rows) == await demo_db.scalar(select(func.count()).select_from(Case)) == 228
    counselor_of = dict((await demo_db.execute(select(CounselorSchool.school_id, CounselorSchool.user_id))).all())
    for case, referral, school_id in rows:
        day = _day(case.opened_at)
        assert referral.created_at <= case.opened_at, "no referral dated after its case opened"
        assert _day(referral.created_at) == day, "the eligible referral opened the case that day"
        assert (referral.status, referral.student_id) == ("eligible", case.student_id)
        assert school_id is not None and referral.counselor_id == counselor_of[school_id]
        verdict = await eligibility.check(demo_db, case.student_id, day)
        assert verdict.eligible, (case.student_id, day, verdict.reasons)
        assert DemoYear.containing(DEMO_TODAY).first_day < day < DEMO_TODAY
        assert referral.reason.startswith("Truant by the ")


async def test_a_case_opens_a_few_school_days_after_the_rules_first_say_its_student_is_truant(
    demo_db: AsyncSession,
) -> None:
    """Shortly after: the first school day the rules said so, or a few school days later; never
    on the day of the absence that made her truant (its documentation window was still open)."""
    school_days = DemoYear.containing(DEMO_TODAY).attended_days()
    cases = (await demo_db.scalars(select(Case).order_by(Case.opened_at))).all()
    for case in cases[::4]:
        day = _day(case.opened_at)
        report = await rules.student_truancy(demo_db, case.student_id, day)
        became = min(r.trigger_day for r in report.rules if r.fired and r.trigger_day)
        assert became < day
        earlier = school_days[max(0, school_days.index(day) - 8)]
        assert not (await eligibility.check(demo_db, case.student_id, earlier)).eligible, "not truant yet then"


async def test_closed_cases_keep_the_summary_they_had_when_they_closed(demo_db: AsyncSession) -> None:
    closed = (await demo_db.scalars(select(Case).where(Case.status == "closed"))).all()
    assert len(closed) == 16
    for case in closed:
        assert case.closed_at is not None and case.truancy is not None, "no 'No evaluation yet' on a closed case"
        day = _day(case.closed_at)
        assert case.truancy == await case_truancy.summary_for_student(demo_db, case.student_id, day)
        assert case.truancy["as_of"] == day.isoformat() and case.truancy["status"] in ("truant", "habitual")
    open_cases = (await demo_db.scalars(select(Case).where(Case.status != "closed"))).all()
    assert all(c.truancy is not None and c.truancy["as_of"] == "2026-11-30" for c in open_cases)


async def test_everything_happened_before_the_demo_day_within_its_school_year(demo_db: AsyncSession) -> None:
    year = DemoYear.containing(DEMO_TODAY)
    today = datetime(2026, 12, 1, tzinfo=UTC)
    start = datetime.combine(year.first_day, datetime.min.time(), tzinfo=UTC)
    for column in (Case.opened_at, Case.closed_at, ContactAttempt.at, VisitNote.submitted_at, Referral.created_at):
        low, high = (await demo_db.execute(select(func.min(column), func.max(column)))).one()
        assert low is not None and high is not None and start <= low and high < today, column
    contacts = (await demo_db.execute(select(ContactAttempt.at, Case).join(Case))).all()
    assert contacts and all(case.opened_at < at < (case.closed_at or today) for at, case in contacts), "while open"
    due = (await demo_db.scalars(select(FollowUp.due_on).where(FollowUp.created_by.is_not(None)))).all()
    assert min(due) < DEMO_TODAY < max(due)  # a few overdue, most ahead
    assert await load_cases(demo_db, year) == 0, "loading again adds nothing"


@pytest.fixture
async def console(demo_db: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    """The console on the demo district (its writes rolled back with ``demo_db``'s)."""
    connection = await demo_db.connection()
    app = app_for(make_settings(), create_session_factory(connection, join_transaction_mode="create_savepoint"))
    async with client_for(app) as client:
        yield client


async def test_the_truant_students_page_offers_refer_only_for_students_without_an_open_case(
    console: httpx.AsyncClient, demo_db: AsyncSession
) -> None:
    assert (await _sign_in(console, "counselor1")).status_code == 303
    open_case = dict((await demo_db.execute(select(Case.student_id, Case.id).where(Case.status != "closed"))).all())
    opened = dict((await demo_db.execute(select(Case.id, Case.opened_at))).all())
    url: str | None = f"/console/truant-students?as_of={DEMO_TODAY}"
    with_case = without = 0
    while url:
        page = await console.get(url)
        assert page.status_code == 200, page.text
        for row in re.findall(r"<tr>(.*?)</tr>", page.text, re.S)[1:]:
            student = uuid.UUID(_student(row, open_case))
            case_id = open_case.get(student)
            if case_id is None:
                without += 1
                assert ">Refer<" in row
                continue
            with_case += 1
            assert ">Refer<" not in row and "/console/referrals/new" not in row, row
            assert f'href="/console/cases/{case_id}">See the case' in row
            referred = re.search(r"Referred (\d{4}-\d\d-\d\d)", row)
            assert referred and referred.group(1) == _day(opened[case_id]).isoformat(), row
        found = re.search(r'<a rel="next" href="([^"]+)">Next</a>', page.text)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert with_case > 20 and without > 5, "her students on cases, and some still to refer"


def _student(row: str, open_case: dict[uuid.UUID, uuid.UUID]) -> str:
    """The student a row of the truant students' list is about: the one its Refer link names, or
    the one whose open case it links to."""
    refer = re.search(r"student_id=([0-9a-f-]{36})", row)
    if refer:
        return refer.group(1)
    linked = re.search(r'/console/cases/([0-9a-f-]{36})"', row)
    assert linked, row
    return str(next(s for s, c in open_case.items() if str(c) == linked.group(1)))


async def test_demo_photos_are_stored_as_an_upload_leaves_them(demo_db: AsyncSession, tmp_path: Path) -> None:
    blobs = Blobs.from_settings(make_settings(data_dir=tmp_path))
    assert await load_photos(demo_db, blobs) == PHOTOS
    assert await load_photos(demo_db, blobs) == 0
    photos = (await demo_db.scalars(select(FormPhoto))).all()
    assert {p.upload_status for p in photos} == {"received"}
    assert {p.content_type for p in photos} == {"image/jpeg", "application/pdf"}
    stored = (await demo_db.scalars(select(PhotoFile))).all()
    assert len(stored) == PHOTOS and all(f.processed_at is not None for f in stored)
    assert sorted(await blobs.keys("thumbs/")) == sorted(f"thumbs/{f.sha256}" for f in stored)


async def test_a_district_of_40_case_managers_gives_each_about_25_open_cases(
    server_url: str, template_url: str
) -> None:
    """``doorstep demo load --case-managers 40``: five teams of 8 past the default two, 2,400
    students at 12 schools, six counselors; every caseload full."""
    async with own_database(server_url) as url:
        engine = create_engine(url)
        try:
            async with create_session_factory(engine)() as db:
                result = await demo.load(db, PASSWORD, today=DEMO_TODAY, case_managers=40)
                assert (result.students, result.cases) == (2400, 40 * 27 + 60)
                users = Counter((await db.scalars(select(User.role))).all())
                assert users == {
                    "case_manager": 40,
                    "supervisor": 6,
                    "attendance_counselor": 6,
                    "admin": 1,
                    "office_staff": 1,
                }
                supervisor = User.__table__.alias("supervisor")
                teams = Counter(
                    await db.scalars(
                        select(supervisor.c.username)
                        .join(User, User.supervisor_id == supervisor.c.id)
                        .where(User.role == "case_manager")
                    )
                )
                assert teams == {"sup1": 4, "sup2": 4, "sup3": 8, "sup4": 8, "sup5": 8, "sup6": 8}
                assert await db.scalar(select(func.count(func.distinct(CounselorSchool.school_id)))) == 12
                caseloads = Counter(
                    (
                        await db.scalars(
                            select(User.username)
                            .join(Case, Case.case_manager_id == User.id)
                            .where(Case.status != "closed")
                        )
                    ).all()
                )
                assert len(caseloads) == 40 and set(caseloads.values()) == {OPEN_PER_MANAGER}
        finally:
            await engine.dispose()


def test_the_command_takes_the_number_of_case_managers_the_default_demo_s_eight_at_least() -> None:
    from typer.testing import CliRunner

    from server.cli import app

    refused = CliRunner().invoke(app, ["demo", "load", "--case-managers", "7"])
    said = " ".join(refused.output.replace("│", " ").split())
    assert refused.exit_code == 2 and "'--case-managers': Input should be greater than or equal to 8" in said
    assert "--case-managers" in CliRunner().invoke(app, ["demo", "load", "--help"]).output
