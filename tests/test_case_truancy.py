"""A case carries its student's truancy as of the last evaluation, and its open follow-ups
(``server.rules.case_truancy``, migration 0011), and a device's next pull brings them."""

from __future__ import annotations

import uuid
from datetime import date

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from schemas.cases import CaseStatus, OpenFollowUp
from schemas.sync import Put, RecordType
from schemas.truancy import TruancySummary
from server.audit import Actor
from server.cases import service as cases
from server.cases.models import Case
from server.db import create_engine, create_session_factory
from server.rules.evaluate import evaluate_all
from server.rules.jobs import run_evaluation
from server.rules.service import student_truancy
from server.sync.models import RecordVersion
from server.sync.pg_store import PgStore
from sync.store import Principal
from tests import factories
from tests.rules_fixtures import absent, make_district
from tests.sync.pg_backend import PgSeeder

TRUANT_DAYS = (date(2025, 9, 8), date(2025, 9, 10), date(2025, 9, 12), date(2025, 9, 15))


async def test_the_evaluation_writes_each_open_case_its_students_summary(db: AsyncSession) -> None:
    d = await make_district(db, students=3)
    truant, fine, closed_one = d.students
    await absent(db, d, truant, *TRUANT_DAYS, date(2025, 10, 2))
    await absent(db, d, fine, date(2025, 9, 8))
    case = await factories.case(db, truant)
    quiet = await factories.case(db, fine)
    closed = await factories.case(db, closed_one, status=CaseStatus.CLOSED)

    result = await evaluate_all(db, date(2025, 10, 15))
    assert result.cases_changed == 2
    await db.refresh(case)
    summary = msgspec.convert(case.truancy, TruancySummary)
    assert (summary.as_of, summary.school_year, summary.status, summary.rules) == (
        date(2025, 10, 15),
        "2025-2026",
        "truant",
        ["monthly", "chronic"],
    )
    assert (summary.unexcused, summary.absences) == (4, 5)  # October's is pending: its window is open
    assert [(m.month, m.absences, m.unexcused) for m in summary.months] == [("2025-09", 4, 4), ("2025-10", 1, 0)]
    report = await student_truancy(db, truant.id, date(2025, 10, 15))
    assert [(m.month, m.unexcused) for m in summary.months] == [(m.month, m.unexcused) for m in report.months]
    # the parent meeting the evaluation made is on the case too; each change counted in the version
    (meeting,) = msgspec.convert(case.follow_ups, list[OpenFollowUp])
    assert (meeting.kind, meeting.due_on) == ("parent_meeting", date(2025, 9, 29))
    assert case.version == 3
    await db.refresh(quiet)
    assert msgspec.convert(quiet.truancy, TruancySummary).status == "none"
    assert quiet.follow_ups == []
    await db.refresh(closed)
    assert (closed.truancy, closed.version) == (None, 1)

    again = await evaluate_all(db, date(2025, 10, 15))
    assert again.cases_changed == 0
    later = await evaluate_all(db, date(2025, 10, 16))  # a day later, nothing new: not sent again
    assert later.cases_changed == 0
    await db.refresh(case)
    assert (case.version, (case.truancy or {}).get("as_of")) == (3, "2025-10-15")
    await absent(db, d, fine, date(2025, 10, 16))
    changed = await evaluate_all(db, date(2025, 10, 17))  # a new absence: the quiet case is sent again
    assert changed.cases_changed == 1


async def test_a_case_opened_between_evaluations_takes_its_students_summary(db: AsyncSession) -> None:
    d = await make_district(db)
    (student,) = d.students
    await absent(db, d, student, *TRUANT_DAYS)
    case = await cases.open_case(db, Actor.system(), student.id, d.school.id)
    summary = msgspec.convert(case.truancy, TruancySummary)
    assert (summary.status, summary.unexcused) == ("truant", 4)
    assert summary.as_of == min(date.today(), d.year.ends_on)
    assert case.version == 1


async def test_a_device_past_the_case_hears_of_a_new_evaluation(fresh_database: str) -> None:
    engine = create_engine(fresh_database)
    factory = create_session_factory(engine)
    try:
        async with factory() as s:
            d = await make_district(s)
            (student,) = d.students
            await s.commit()
        manager = Principal(uuid.uuid4(), uuid.uuid4(), Role.CASE_MANAGER)
        supervisor = uuid.uuid4()
        await PgSeeder(factory).user(supervisor, Role.SUPERVISOR)
        await PgSeeder(factory).user(manager.user_id, Role.CASE_MANAGER, supervisor)
        async with factory() as s:
            case = await factories.case(s, student, manager=manager.user_id)
            await s.commit()
        async with factory() as s:
            first = await PgStore(s).changes(manager, None, 500, 512_000)
            await s.commit()
        assert [c.type for c in first.changes] == ["student", "case"]
        async with factory() as s:
            await absent(s, d, student, *TRUANT_DAYS)
            await evaluate_all(s, date(2025, 10, 15))
            await s.commit()
        async with factory() as s:
            page = await PgStore(s).changes(manager, first.cursor, 500, 512_000)
            await s.commit()
        (change,) = [c for c in page.changes if c.type == RecordType.CASE]
        assert isinstance(change, Put) and change.id == case.id
        assert change.data["truancy"]["status"] == "truant"
        assert [f["kind"] for f in change.data["follow_ups"]] == ["parent_meeting"]
        async with factory() as s:
            assert change.version == await s.scalar(select(Case.version).where(Case.id == case.id))
    finally:
        await engine.dispose()


async def test_the_versions_the_evaluation_job_writes_name_the_job(fresh_database: str) -> None:
    """The history says who wrote each version: the evaluation's name the job, not no one."""
    engine = create_engine(fresh_database)
    factory = create_session_factory(engine)
    try:
        async with factory() as s:
            d = await make_district(s)
            (student,) = d.students
            await absent(s, d, student, *TRUANT_DAYS)
            case = await factories.case(s, student)
            await s.commit()
        await run_evaluation(fresh_database, date(2025, 10, 15))
        async with factory() as s:
            kept = (
                await s.scalars(
                    select(RecordVersion)
                    .where(RecordVersion.record_type.in_(("case", "follow_up")))
                    .order_by(RecordVersion.record_type, RecordVersion.version)
                )
            ).all()
        by_job = [(v.record_type, v.record_id) for v in kept if v.via == "job rules.evaluate"]
        assert ("case", case.id) in by_job, [(v.record_type, v.version, v.via) for v in kept]
        assert any(t == "follow_up" for t, _ in by_job), "the meeting deadline it made"
        assert all(v.written_by is None for v in kept if v.via == "job rules.evaluate")
    finally:
        await engine.dispose()
