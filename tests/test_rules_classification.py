"""How each absence is classified: half days, the documentation window, tiers, discipline, wellness days."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.attendance import AbsenceClass, AbsenceWhy, WellnessStatus
from schemas.truancy import TruancyReport
from server.rules.service import student_truancy
from tests.rules_fixtures import absent, make_district


def by_day(report: TruancyReport) -> dict[date, tuple[AbsenceClass, AbsenceWhy]]:
    return {a.day: (a.classification, a.why) for a in report.absences}


async def test_half_day_line_and_half_day_flag(db: AsyncSession) -> None:
    d = await make_district(db)
    s = d.students[0]
    days = d.days[:5]
    await absent(db, d, s, days[0], minutes_present=180, minutes_scheduled=360)  # exactly half: present
    await absent(db, d, s, days[1], minutes_present=179, minutes_scheduled=360)  # under half: absent
    await absent(db, d, s, days[2], minutes_present=None, minutes_scheduled=None, present_half_day=True)
    await absent(db, d, s, days[3], minutes_present=None, minutes_scheduled=None, present_half_day=False)
    await absent(db, d, s, days[4], minutes_present=300, minutes_scheduled=360, tardy=True)  # tardy, present
    report = await student_truancy(db, s.id, d.days[40])
    assert sorted(by_day(report)) == [days[1], days[3]]


async def test_documentation_window_opens_on_return_and_closes_after_ten_school_days(db: AsyncSession) -> None:
    d = await make_district(db)
    s = d.students[0]
    await absent(db, d, s, d.days[0], reason_code="illness")
    first = d.days[0]
    assert by_day(await student_truancy(db, s.id, first))[first] == (AbsenceClass.PENDING, AbsenceWhy.NOT_RETURNED)
    report = await student_truancy(db, s.id, d.days[1])
    assert by_day(report)[first] == (AbsenceClass.PENDING, AbsenceWhy.WINDOW_OPEN)
    assert report.absences[0].documentation_deadline == d.days[11]
    assert by_day(await student_truancy(db, s.id, d.days[11]))[first] == (AbsenceClass.PENDING, AbsenceWhy.WINDOW_OPEN)
    closed = await student_truancy(db, s.id, d.days[12])
    assert by_day(closed)[first] == (AbsenceClass.UNEXCUSED, AbsenceWhy.NO_DOCUMENTATION)


async def test_window_counts_school_days_from_the_end_of_a_run_of_absences(db: AsyncSession) -> None:
    d = await make_district(db)
    s = d.students[0]
    await absent(db, d, s, *d.days[0:3])
    report = await student_truancy(db, s.id, d.days[3])
    assert {a.documentation_deadline for a in report.absences} == {d.days[13]}
    assert {a.why for a in report.absences} == {AbsenceWhy.WINDOW_OPEN}


async def test_documentation_on_the_deadline_excuses_and_a_day_late_does_not(db: AsyncSession) -> None:
    d = await make_district(db, students=2)
    on_time, late = d.students
    await absent(db, d, on_time, d.days[0], reason_code="illness", documentation_received_on=d.days[11])
    await absent(db, d, late, d.days[0], reason_code="illness", documentation_received_on=d.days[12])
    assert by_day(await student_truancy(db, on_time.id, d.days[30]))[d.days[0]] == (
        AbsenceClass.EXCUSED,
        AbsenceWhy.DOCUMENTED,
    )
    assert by_day(await student_truancy(db, late.id, d.days[30]))[d.days[0]] == (
        AbsenceClass.UNEXCUSED,
        AbsenceWhy.DOCUMENTED_LATE,
    )


async def test_documentation_received_after_as_of_is_not_known_then(db: AsyncSession) -> None:
    d = await make_district(db)
    s = d.students[0]
    await absent(db, d, s, d.days[0], reason_code="illness", documentation_received_on=d.days[8])
    assert by_day(await student_truancy(db, s.id, d.days[5]))[d.days[0]][0] == AbsenceClass.PENDING
    assert by_day(await student_truancy(db, s.id, d.days[8]))[d.days[0]][0] == AbsenceClass.EXCUSED


async def test_ninth_absence_excused_for_any_reason_tenth_only_for_the_states_reasons(db: AsyncSession) -> None:
    d = await make_district(db, students=2)
    family, medical = d.students
    # Ten single-day absences, two school days apart, each documented the day the student returns.
    days = [d.days[i] for i in range(0, 40, 2)][:10]
    for s, reason in ((family, "family"), (medical, "illness_verified")):
        for day in days:
            nxt = d.days[d.days.index(day) + 1]
            await absent(db, d, s, day, reason_code=reason, documentation_received_on=nxt)
    fam = {a.number: (a.classification, a.why) for a in (await student_truancy(db, family.id, d.days[60])).absences}
    assert fam[9] == (AbsenceClass.EXCUSED, AbsenceWhy.DOCUMENTED)
    assert fam[10] == (AbsenceClass.UNEXCUSED, AbsenceWhy.REASON_NOT_ACCEPTED)
    med = {a.number: a.classification for a in (await student_truancy(db, medical.id, d.days[60])).absences}
    assert med[10] == AbsenceClass.EXCUSED


async def test_disciplinary_absences_are_apart_count_for_chronic_not_for_truancy(db: AsyncSession) -> None:
    d = await make_district(db)
    s = d.students[0]
    await absent(db, d, s, *d.days[0:5], reason_code="suspension")
    report = await student_truancy(db, s.id, d.days[30])
    assert {a.classification for a in report.absences} == {AbsenceClass.DISCIPLINARY}
    assert {a.number for a in report.absences} == {None}
    assert report.unexcused_count == 0
    assert (report.truant, report.chronic) == (False, True)  # 5 of 31 enrolled days
    assert report.months[0].disciplinary == 5


async def test_disciplinary_absences_do_not_move_the_tenth_absence(db: AsyncSession) -> None:
    d = await make_district(db)
    s = d.students[0]
    await absent(db, d, s, d.days[0], reason_code="expulsion")
    await absent(db, d, s, d.days[2], reason_code="illness")
    report = await student_truancy(db, s.id, d.days[30])
    assert [(a.day, a.number) for a in report.absences] == [(d.days[0], None), (d.days[2], 1)]


async def test_two_wellness_days_are_excused_the_third_is_an_ordinary_absence(db: AsyncSession) -> None:
    d = await make_district(db)
    s = d.students[0]
    await absent(db, d, s, d.days[0], d.days[5], d.days[10], reason_code="mental_health_day")
    report = await student_truancy(db, s.id, d.days[40])
    got = {a.day: (a.classification, a.wellness) for a in report.absences}
    assert got[d.days[0]] == (AbsenceClass.EXCUSED, WellnessStatus.ALLOWED)
    assert got[d.days[5]] == (AbsenceClass.EXCUSED, WellnessStatus.ALLOWED)
    assert got[d.days[10]] == (AbsenceClass.UNEXCUSED, WellnessStatus.OVER_LIMIT)


async def test_wellness_day_on_the_next_school_day_even_over_a_weekend_is_ordinary(db: AsyncSession) -> None:
    d = await make_district(db)
    s = d.students[0]
    friday, monday = d.days[3], d.days[4]
    assert (friday.weekday(), monday.weekday()) == (4, 0)
    await absent(db, d, s, friday, monday, reason_code="mental_health_day")
    got = {a.day: (a.classification, a.wellness) for a in (await student_truancy(db, s.id, d.days[40])).absences}
    assert got[friday] == (AbsenceClass.EXCUSED, WellnessStatus.ALLOWED)
    assert got[monday] == (AbsenceClass.UNEXCUSED, WellnessStatus.CONSECUTIVE)


async def test_an_ordinary_wellness_day_can_still_be_excused_with_documentation(db: AsyncSession) -> None:
    d = await make_district(db)
    s = d.students[0]
    await absent(db, d, s, d.days[0], reason_code="mental_health_day")
    await absent(db, d, s, d.days[1], reason_code="mental_health_day", documentation_received_on=d.days[2])
    got = {a.day: a.classification for a in (await student_truancy(db, s.id, d.days[40])).absences}
    assert got == {d.days[0]: AbsenceClass.EXCUSED, d.days[1]: AbsenceClass.EXCUSED}


async def test_tardies_are_not_absences(db: AsyncSession) -> None:
    d = await make_district(db)
    s = d.students[0]
    await absent(db, d, s, *d.days[0:6], minutes_present=340, tardy=True)
    report = await student_truancy(db, s.id, d.days[30])
    assert report.absences == [] and report.absence_count == 0


async def test_days_outside_the_calendar_are_ignored(db: AsyncSession) -> None:
    holiday = date(2025, 10, 13)
    d = await make_district(db, holidays=frozenset({holiday}))
    s = d.students[0]
    saturday = date(2025, 9, 6)
    await absent(db, d, s, saturday, holiday, date(2025, 8, 29))
    report = await student_truancy(db, s.id, date(2025, 12, 1))
    assert report.absences == []
    assert holiday not in d.days
