"""The rules on month and school-year boundaries, episodes, and parent meetings in school days."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Update, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cases import FollowUpKind
from schemas.rules import MonthReading, RulePreset, RuleSetChange
from server.attendance.models import AttendanceRecord
from server.audit import Actor
from server.cases.models import FollowUp
from server.rules import meetings, rulesets
from server.rules.evaluate import evaluate_all
from server.rules.models import TruancyEpisode
from server.rules.service import student_truancy
from server.schools.models import InstructionalDay, SchoolYear
from server.students.models import Enrollment
from tests.rules_fixtures import absent, make_district, weekdays

LATER = date(2025, 12, 1)  # every window of September and October has closed


async def test_calendar_month_reading_does_not_join_september_and_october(db: AsyncSession) -> None:
    d = await make_district(db)
    s = d.students[0]
    await absent(db, d, s, date(2025, 9, 24), date(2025, 9, 26), date(2025, 9, 29), date(2025, 10, 1))
    report = await student_truancy(db, s.id, LATER)
    assert report.unexcused_count == 4
    monthly = report.rules[0]
    assert (monthly.rule, monthly.fired, monthly.count) == ("monthly", False, 3)
    assert report.truant is False
    assert [(m.month, m.unexcused) for m in report.months] == [("2025-09", 3), ("2025-10", 1)]


async def test_rolling_30_day_reading_joins_them(db: AsyncSession) -> None:
    d = await make_district(db)
    await rulesets.change(db, Actor.system(), d.year.id, RuleSetChange(month_reading=MonthReading.ROLLING30))
    s = d.students[0]
    await absent(db, d, s, date(2025, 9, 24), date(2025, 9, 26), date(2025, 9, 29), date(2025, 10, 1))
    report = await student_truancy(db, s.id, LATER)
    monthly = report.rules[0]
    assert (monthly.fired, monthly.trigger_day) == (True, date(2025, 10, 1))
    assert monthly.dates == [date(2025, 9, 24), date(2025, 9, 26), date(2025, 9, 29), date(2025, 10, 1)]
    assert report.truant is True


async def test_rolling_window_is_thirty_days_not_thirty_one(db: AsyncSession) -> None:
    d = await make_district(db)
    await rulesets.change(db, Actor.system(), d.year.id, RuleSetChange(month_reading=MonthReading.ROLLING30))
    s = d.students[0]
    # Sep 8 to Oct 8 spans 31 days: the first drops out of the window of the last.
    await absent(db, d, s, date(2025, 9, 8), date(2025, 9, 18), date(2025, 9, 30), date(2025, 10, 8))
    assert (await student_truancy(db, s.id, LATER)).truant is False


async def test_four_in_one_calendar_month_is_truant_on_the_fourth(db: AsyncSession) -> None:
    d = await make_district(db)
    s = d.students[0]
    days = [date(2025, 10, 1), date(2025, 10, 3), date(2025, 10, 7), date(2025, 10, 31)]
    await absent(db, d, s, *days)
    report = await student_truancy(db, s.id, LATER)
    assert (report.truant, report.rules[0].trigger_day, report.rules[0].dates) == (True, days[3], days)
    # Before the last absence's window closed it was pending: not truant yet.
    assert (await student_truancy(db, s.id, date(2025, 11, 3))).truant is False


async def test_yearly_threshold_program_eleven_state_ten(db: AsyncSession) -> None:
    d = await make_district(db)
    s = d.students[0]
    ten = [d.days[i] for i in range(0, 100, 10)]  # never 4 in a month
    await absent(db, d, s, *ten)
    report = await student_truancy(db, s.id, date(2026, 3, 2))
    assert (report.unexcused_count, report.truant, report.rule_set.version) == (10, False, 0)
    await rulesets.change(db, Actor.system(), d.year.id, RuleSetChange(preset=RulePreset.CONNECTICUT))
    report = await student_truancy(db, s.id, date(2026, 3, 2))
    assert (report.truant, report.rules[1].trigger_day, report.rule_set.version) == (True, ten[-1], 1)


async def test_habitual_at_twenty(db: AsyncSession) -> None:
    d = await make_district(db)
    s = d.students[0]
    twenty = [d.days[i] for i in range(0, 160, 8)]
    await absent(db, d, s, *twenty[:19])
    assert (await student_truancy(db, s.id, date(2026, 6, 12))).habitual is False
    await absent(db, d, s, twenty[19])
    report = await student_truancy(db, s.id, date(2026, 6, 12))
    assert (report.habitual, report.truant, report.rules[2].trigger_day) == (True, True, twenty[19])


async def test_chronic_counts_every_absence_against_enrolled_days_so_far(db: AsyncSession) -> None:
    d = await make_district(db, students=2)
    sick, late_entry = d.students
    await absent(db, d, sick, d.days[3], d.days[7], reason_code="illness", documentation_received_on=d.days[9])
    report = await student_truancy(db, sick.id, d.days[19])  # 2 of 20 days
    assert (report.enrolled_days, report.absence_percent, report.chronic, report.truant) == (20, 10.0, True, False)
    assert (await student_truancy(db, sick.id, d.days[20])).chronic is False  # 2 of 21
    # Enrolled days start at entry, not at the start of the year.
    await db.execute(update_entry(late_entry.id, d.days[10]))
    await absent(db, d, late_entry, d.days[12])
    report = await student_truancy(db, late_entry.id, d.days[19])
    assert (report.enrolled_days, report.chronic) == (10, True)


def update_entry(student_id: object, day: date) -> Update:
    return update(Enrollment).where(Enrollment.student_id == student_id).values(entered_on=day)


async def test_school_year_boundary_counts_start_again(db: AsyncSession) -> None:
    d = await make_district(db)
    s = d.students[0]
    previous = SchoolYear(name="2024-2025", starts_on=date(2024, 9, 3), ends_on=date(2025, 6, 13))
    db.add(previous)
    await db.flush()
    old_days = weekdays(date(2025, 5, 1), date(2025, 6, 13))
    await db.execute(
        insert(InstructionalDay),
        [{"school_id": d.school.id, "day": x, "school_year_id": previous.id} for x in old_days],
    )
    await absent(db, d, s, *old_days[-12:])  # truant at the end of last year
    await absent(db, d, s, d.days[0])
    assert (await student_truancy(db, s.id, date(2025, 6, 13))).habitual is False
    assert (await student_truancy(db, s.id, date(2025, 6, 13))).absence_count == 12
    report = await student_truancy(db, s.id, LATER)
    assert (report.school_year, report.absence_count, report.truant) == ("2025-2026", 1, False)


async def test_evaluation_records_episodes_and_one_meeting_due_ten_school_days_later(db: AsyncSession) -> None:
    holiday = date(2025, 9, 22)
    d = await make_district(db, holidays=frozenset({holiday}), students=2)
    truant, fine = d.students
    await absent(db, d, truant, date(2025, 9, 8), date(2025, 9, 10), date(2025, 9, 12), date(2025, 9, 15))
    await absent(db, d, fine, date(2025, 9, 8))

    result = await evaluate_all(db, date(2025, 10, 15))
    assert (result.school_year, result.truant, result.episodes_opened, result.meetings_created) == (
        "2025-2026",
        1,
        2,
        1,
    )
    episodes = (await db.scalars(select(TruancyEpisode).order_by(TruancyEpisode.rule))).all()
    assert [(e.student_id, e.rule, e.became_on, e.detected_on, e.ended_on) for e in episodes] == [
        (truant.id, "chronic", date(2025, 10, 15), date(2025, 10, 15), None),  # 4 of 31 days
        (truant.id, "monthly", date(2025, 9, 15), date(2025, 10, 15), None),
    ]
    meeting = (await db.scalars(select(FollowUp).where(FollowUp.kind == FollowUpKind.PARENT_MEETING))).one()
    # Ten school days after Monday 15 September, skipping the 22nd: Tuesday 30 September.
    assert (meeting.student_id, meeting.trigger_day, meeting.due_on) == (
        truant.id,
        date(2025, 9, 15),
        date(2025, 9, 30),
    )

    again = await evaluate_all(db, date(2025, 10, 16))
    assert (again.episodes_opened, again.episodes_ended, again.meetings_created) == (0, 0, 0)

    overdue = await meetings.overdue(db, date(2025, 10, 1), true())
    assert [(m.student_id, m.days_overdue) for m in overdue] == [(truant.id, 1)]
    assert await meetings.overdue(db, date(2025, 9, 30), true()) == []
    await db.execute(update(FollowUp).where(FollowUp.id == meeting.id).values(completed_at=date(2025, 9, 29)))
    assert await meetings.overdue(db, date(2025, 10, 1), true()) == []


async def test_documentation_arriving_ends_an_episode(db: AsyncSession) -> None:
    d = await make_district(db)
    s = d.students[0]
    days = [date(2025, 9, 8), date(2025, 9, 10), date(2025, 9, 12), date(2025, 9, 15)]
    await absent(db, d, s, *days)
    await evaluate_all(db, date(2025, 10, 15))
    await db.execute(
        update(AttendanceRecord)
        .where(AttendanceRecord.student_id == s.id, AttendanceRecord.day == days[0])
        .values(reason_code="illness", documentation_received_on=date(2025, 9, 9))
    )
    result = await evaluate_all(db, date(2025, 10, 16))
    assert result.episodes_ended == 1
    episode = (await db.scalars(select(TruancyEpisode).where(TruancyEpisode.rule == "monthly"))).one()
    assert (episode.ended_on, episode.end_reason) == (date(2025, 10, 16), "no_longer_met")
    report = await student_truancy(db, s.id, date(2025, 10, 16))
    assert report.truant is False
    assert [(e.rule, e.end_reason) for e in report.episodes if e.rule == "monthly"] == [("monthly", "no_longer_met")]
    # Asked about the past, the answer is what it was then... with what is known now.
    assert (await student_truancy(db, s.id, date(2025, 9, 20))).truant is False


async def test_evaluation_runs_as_days_pass_pending_becomes_unexcused(db: AsyncSession) -> None:
    d = await make_district(db)
    s = d.students[0]
    await absent(db, d, s, *d.days[0:4])
    early = await evaluate_all(db, d.days[5])
    assert (early.truant, early.chronic) == (0, 1)  # pending absences count toward chronic
    later = await evaluate_all(db, d.days[15])
    assert (later.truant, later.episodes_opened) == (1, 1)  # monthly; chronic was open already
