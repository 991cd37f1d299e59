"""A parent-meeting deadline the rules made closes, with the reason, when the rules no longer
require it (``server.rules.evaluate.close_stale_meetings``): its absence voided or excused. A
deadline whose meeting was held, or one still required, is left alone."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, date, datetime

import msgspec
from sqlalchemy import select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from schemas.cases import FollowUpKind, OpenFollowUp
from schemas.sync import Put, RecordType
from server.attendance.imports import import_attendance
from server.attendance.models import AttendanceRecord
from server.audit import Actor, AuditEntry
from server.cases.models import Case, FollowUp
from server.db import create_engine, create_session_factory
from server.reports import repository as reports
from server.rules import meetings
from server.rules.evaluate import evaluate_all
from server.sync.pg_store import PgStore
from sync.store import Principal
from tests import factories
from tests.rules_fixtures import District, absent, make_district
from tests.sync.pg_backend import PgSeeder

SEPTEMBER = (date(2025, 9, 8), date(2025, 9, 10), date(2025, 9, 12), date(2025, 9, 15))
"""Four unexcused absences in September: truant on the 15th, the meeting due ten school days later."""
LATER = date(2025, 10, 15)
"""Every window of September has closed."""


async def _void(db: AsyncSession, d: District, student_number: str, *days: date) -> None:
    """Void these days' records through the attendance import, as a clerk does."""
    rows = "".join(f"{student_number},{d.school.code},{day},true\n" for day in days)
    lines = io.StringIO("student_number,school_code,day,void\n" + rows, newline="")
    result = await import_attendance(db, Actor.system(), lines, source_name="void.csv")
    assert (result.applied, result.deleted) == (True, len(days)), result


async def _deadlines(db: AsyncSession, student_id: uuid.UUID) -> list[FollowUp]:
    query = (
        select(FollowUp)
        .where(FollowUp.student_id == student_id, FollowUp.kind == FollowUpKind.PARENT_MEETING)
        .order_by(FollowUp.trigger_day)
        .execution_options(populate_existing=True)
    )
    return list((await db.scalars(query)).all())


async def test_an_absence_voided_closes_its_meeting_deadline_with_the_reason(db: AsyncSession) -> None:
    d = await make_district(db)
    (student,) = d.students
    await absent(db, d, student, *SEPTEMBER)
    case = await factories.case(db, student)
    await evaluate_all(db, LATER)
    (deadline,) = await _deadlines(db, student.id)
    await db.refresh(case)
    assert [f.id for f in msgspec.convert(case.follow_ups, list[OpenFollowUp])] == [deadline.id]
    versions = (deadline.version, case.version)

    await _void(db, d, student.student_number, SEPTEMBER[-1])
    result = await evaluate_all(db, date(2025, 10, 16))
    assert (result.meetings_closed, result.meetings_created) == (1, 0)
    (closed,) = await _deadlines(db, student.id)
    assert (closed.status, closed.completed_by, closed.completed_at is not None) == ("done", None, True)
    assert closed.note == (
        "No longer required: as of 2025-10-16 the student is not truant (at most 3 unexcused absences in one "
        "month, truant at 4; 3 in the school year, truant at 11), so the truancy of 2025-09-15 no longer holds "
        "(an absence voided, excused or corrected, or the rules changed)"
    )
    assert closed.version == versions[0] + 1  # a phone holding the follow-up hears of it
    await db.refresh(case)
    assert (case.follow_ups, case.version > versions[1]) == ([], True)
    (audited,) = (await db.scalars(select(AuditEntry).where(AuditEntry.action == "follow_up.no_longer_required"))).all()
    assert (audited.entity_id, audited.student_id, audited.actor_role) == (str(closed.id), student.id, "system")
    assert audited.detail is not None
    assert (audited.detail["trigger_day"], audited.detail["truant_on"], audited.detail["note"]) == (
        "2025-09-15",
        None,
        closed.note,
    )
    # Not overdue, and not a meeting the reports count as required (nor as held).
    assert await meetings.overdue(db, date(2025, 12, 1), true()) == []
    found = await reports.meeting_deadlines(
        db, true(), time_zone="America/New_York", default_due_days=10, follow_up_ids=[closed.id]
    )
    assert found == []
    # The next evaluation leaves it be.
    again = await evaluate_all(db, date(2025, 10, 17))
    assert (again.meetings_closed, again.meetings_created) == (0, 0)


async def test_documentation_that_excuses_the_absence_closes_it_too(db: AsyncSession) -> None:
    d = await make_district(db)
    (student,) = d.students
    await absent(db, d, student, *SEPTEMBER)
    await evaluate_all(db, LATER)
    await db.execute(
        update(AttendanceRecord)
        .where(AttendanceRecord.student_id == student.id, AttendanceRecord.day == SEPTEMBER[0])
        .values(reason_code="illness", documentation_received_on=date(2025, 9, 9))
    )
    assert (await evaluate_all(db, date(2025, 10, 16))).meetings_closed == 1
    (closed,) = await _deadlines(db, student.id)
    assert closed.status == "done" and (closed.note or "").startswith("No longer required: as of 2025-10-16")


async def test_a_deadline_whose_meeting_was_held_is_not_touched(db: AsyncSession) -> None:
    d = await make_district(db)
    (student,) = d.students
    await absent(db, d, student, *SEPTEMBER)
    await evaluate_all(db, LATER)
    (deadline,) = await _deadlines(db, student.id)
    manager = await factories.user_id(db, "cm1")
    held = datetime(2025, 9, 25, 15, tzinfo=UTC)
    await db.execute(
        update(FollowUp)
        .where(FollowUp.id == deadline.id)
        .values(completed_at=held, completed_by=manager, note="Parent meeting held (home)", version=2)
    )
    await _void(db, d, student.student_number, SEPTEMBER[-1])
    result = await evaluate_all(db, date(2025, 10, 16))
    assert (result.meetings_closed, result.meetings_created) == (0, 0)
    (same,) = await _deadlines(db, student.id)
    assert (same.status, same.completed_by, same.note, same.version) == (
        "done",
        manager,
        "Parent meeting held (home)",
        2,
    )


async def test_a_deadline_still_required_stays_open(db: AsyncSession) -> None:
    d = await make_district(db)
    (student,) = d.students
    fifth = date(2025, 9, 17)
    await absent(db, d, student, *SEPTEMBER, fifth)
    await evaluate_all(db, LATER)
    (deadline,) = await _deadlines(db, student.id)
    await _void(db, d, student.student_number, fifth)  # truant on the 15th all the same
    result = await evaluate_all(db, date(2025, 10, 16))
    assert (result.meetings_closed, result.meetings_created) == (0, 0)
    (same,) = await _deadlines(db, student.id)
    assert (same.id, same.status, same.version, same.note) == (deadline.id, "open", deadline.version, None)


async def test_a_student_truant_from_another_day_gets_a_deadline_from_that_day(db: AsyncSession) -> None:
    d = await make_district(db)
    (student,) = d.students
    october = (date(2025, 10, 6), date(2025, 10, 8), date(2025, 10, 10), date(2025, 10, 14))
    await absent(db, d, student, *SEPTEMBER, *october)
    await evaluate_all(db, date(2025, 11, 14))
    (first,) = await _deadlines(db, student.id)
    assert first.trigger_day == SEPTEMBER[-1]

    await _void(db, d, student.student_number, SEPTEMBER[0])
    result = await evaluate_all(db, date(2025, 11, 17))
    assert (result.meetings_closed, result.meetings_created) == (1, 1)
    closed, new = await _deadlines(db, student.id)
    assert (closed.id, closed.status, new.status, new.trigger_day) == (first.id, "done", "open", october[-1])
    assert closed.note == (
        "No longer required: as of 2025-11-17 the student became truant on 2025-10-14, not on 2025-09-15 "
        "(an absence voided, excused, corrected or added, or the rules changed): the meeting is due from "
        "2025-10-14 instead"
    )
    # Ten school days after Tuesday 14 October.
    assert new.due_on == d.school_day(october[-1], 10)


async def test_a_phone_hears_that_the_deadline_closed(fresh_database: str) -> None:
    engine = create_engine(fresh_database)
    factory = create_session_factory(engine)
    try:
        manager = Principal(uuid.uuid4(), uuid.uuid4(), Role.CASE_MANAGER)
        supervisor = uuid.uuid4()
        await PgSeeder(factory).user(supervisor, Role.SUPERVISOR)
        await PgSeeder(factory).user(manager.user_id, Role.CASE_MANAGER, supervisor)
        async with factory() as s:
            d = await make_district(s)
            (student,) = d.students
            await absent(s, d, student, *SEPTEMBER)
            case = await factories.case(s, student, manager=manager.user_id)
            await evaluate_all(s, LATER)
            await s.commit()
        async with factory() as s:
            first = await PgStore(s).changes(manager, None, 500, 512_000)
            await s.commit()
        (held,) = [c for c in first.changes if c.type == RecordType.FOLLOW_UP]
        assert isinstance(held, Put) and held.data["status"] == "open"
        async with factory() as s:
            await _void(s, d, student.student_number, SEPTEMBER[-1])
            await evaluate_all(s, date(2025, 10, 16))
            await s.commit()
        async with factory() as s:
            page = await PgStore(s).changes(manager, first.cursor, 500, 512_000)
            await s.commit()
        by_type = {c.type: c for c in page.changes}
        follow_up, case_change = by_type[RecordType.FOLLOW_UP], by_type[RecordType.CASE]
        assert isinstance(follow_up, Put) and follow_up.id == held.id
        assert (follow_up.data["status"], follow_up.data["completed_by"]) == ("done", None)
        assert str(follow_up.data["note"]).startswith(meetings.NO_LONGER_REQUIRED)
        assert isinstance(case_change, Put) and case_change.id == case.id
        assert case_change.data["follow_ups"] == []
        async with factory() as s:
            assert case_change.version == await s.scalar(select(Case.version).where(Case.id == case.id))
    finally:
        await engine.dispose()
