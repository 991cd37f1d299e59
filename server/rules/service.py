"""A student's truancy status on any date, explained. The entry point for referrals and routes."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.attendance import AbsenceClass, AbsenceWhy, WellnessStatus
from schemas.rules import MonthReading, Rule, RuleSetOut, RuleValues
from schemas.truancy import Absence, Episode, MonthCount, RuleResult, TruancyReport, TruantStatus
from server.errors import NotFound, OutsideSchoolYear
from server.rules import repository as repo
from server.rules.models import TruancyEpisode
from server.rules.rulesets import effective
from server.schools.models import SchoolYear
from server.students.models import Student


async def school_year_for(session: AsyncSession, as_of: date) -> SchoolYear:
    year = await repo.school_year_containing(session, as_of)
    if year is None:
        raise OutsideSchoolYear(f"no school year contains {as_of.isoformat()}", as_of=as_of.isoformat())
    return year


async def report_near(session: AsyncSession, student_id: uuid.UUID, day: date) -> TruancyReport | None:
    """The student's report on ``day``, or on the last day of the latest school year before it
    (a day in summer); None when no school year starts on or before ``day``."""
    try:
        return await student_truancy(session, student_id, day)
    except OutsideSchoolYear:
        last_day = await repo.last_school_day_before(session, day)
        return None if last_day is None else await student_truancy(session, student_id, last_day)


async def truancy_on(session: AsyncSession, student_id: uuid.UUID, as_of: date) -> TruancyReport | None:
    """What ``GET /students/{id}/truancy?as_of=`` answers, or ``None`` where it answers a problem
    instead (no school year contains the day, no such student): for callers that must not fail
    for want of a report (a visit log's context)."""
    try:
        return await student_truancy(session, student_id, as_of)
    except (OutsideSchoolYear, NotFound):
        return None


async def student_truancy(session: AsyncSession, student_id: uuid.UUID, as_of: date) -> TruancyReport:
    """Classify the student's absences and apply the school year's rules, as they stood on ``as_of``.

    Reads only; documentation received after ``as_of`` is not known on ``as_of``.
    Raises NotFound (unknown student) or OutsideSchoolYear.
    """
    if await session.get(Student, student_id) is None:
        raise NotFound(f"no student {student_id}")
    year = await school_year_for(session, as_of)
    rules = await effective(session, year)
    params = repo.rule_params(year.id, as_of, rules.values)
    rows = await repo.classified_absences(session, student_id, params)
    status = await repo.student_status(session, student_id, params)
    episodes = await repo.episodes_for(session, student_id, year.id)
    return build_report(student_id, as_of, year, rules, rows, status, episodes)


async def truancy_reports(
    session: AsyncSession, wanted: Iterable[tuple[uuid.UUID, date]]
) -> dict[tuple[uuid.UUID, date], TruancyReport | None]:
    """For each (student, day): what ``truancy_on`` answers (``None`` on a day no school year
    contains), set-based: a day at a time, the classification and statuses of every student
    wanted that day in one statement each, then ``build_report`` for each. ``truancy_on`` takes
    17 to 40 ms a student; the demo's thousands of visits and closed cases ask for many at once
    (tests/test_demo_visits.py holds the two answers equal)."""
    by_day: dict[date, set[uuid.UUID]] = defaultdict(set)
    for student, day in wanted:
        by_day[day].add(student)
    out: dict[tuple[uuid.UUID, date], TruancyReport | None] = {}
    episodes: dict[uuid.UUID, dict[uuid.UUID, list[TruancyEpisode]]] = {}
    for day, students in sorted(by_day.items()):
        year = await repo.school_year_containing(session, day)
        if year is None:
            out |= {(s, day): None for s in students}
            continue
        if year.id not in episodes:
            episodes[year.id] = await repo.episodes_of_year(session, year.id)
        rule_set = await effective(session, year)
        params = repo.rule_params(year.id, day, rule_set.values)
        ids = sorted(students)
        statuses = await repo.statuses(session, params, ids)
        absences = await repo.classified_absences_of(session, ids, params)
        for student in ids:
            out[(student, day)] = build_report(
                student,
                day,
                year,
                rule_set,
                absences.get(student, []),
                statuses.get(student),
                episodes[year.id].get(student, []),
            )
    return out


def build_report(
    student_id: uuid.UUID,
    as_of: date,
    year: SchoolYear,
    rules: RuleSetOut,
    rows: list[RowMapping],
    status: RowMapping | None,
    episodes: list[Any],
) -> TruancyReport:
    absences = [_absence(r) for r in rows]
    unexcused = [a.day for a in absences if a.classification == AbsenceClass.UNEXCUSED]
    s: dict[str, Any] = dict(status) if status is not None else {}
    v = rules.values
    monthly_trigger: date | None = s.get("monthly_trigger")
    yearly_trigger: date | None = s.get("yearly_trigger")
    habitual_trigger: date | None = s.get("habitual_trigger")
    percent = round(float(s.get("absence_percent", 0.0)), 2)
    chronic = bool(s.get("chronic", False))
    results = [
        *_truancy_rules(
            v,
            month_max=int(s.get("month_max", 0)),
            unexcused=len(unexcused),
            triggers={Rule.MONTHLY: monthly_trigger, Rule.YEARLY: yearly_trigger, Rule.HABITUAL: habitual_trigger},
            dates={
                Rule.MONTHLY: _monthly_dates(unexcused, monthly_trigger, v.month_reading),
                Rule.YEARLY: unexcused[: v.yearly_threshold] if yearly_trigger else unexcused,
                Rule.HABITUAL: unexcused[: v.habitual_threshold] if habitual_trigger else unexcused,
            },
        ),
        RuleResult(
            rule=Rule.CHRONIC,
            fired=chronic,
            threshold=v.chronic_percent,
            count=percent,
            dates=[a.day for a in absences],
            explanation=(
                f"{len(absences)} absences of any kind in {s.get('enrolled_days', 0)} enrolled school days "
                f"({percent}%); chronic from {v.chronic_percent}%"
            ),
        ),
    ]
    return TruancyReport(
        student_id=student_id,
        as_of=as_of,
        school_year=year.name,
        truant=monthly_trigger is not None or yearly_trigger is not None,
        habitual=habitual_trigger is not None,
        chronic=chronic,
        rules=results,
        absences=absences,
        months=_months(absences),
        enrolled_days=int(s.get("enrolled_days", 0)),
        absence_count=len(absences),
        unexcused_count=len(unexcused),
        absence_percent=percent,
        rule_set=rules,
        episodes=[
            Episode(
                rule=Rule(e.rule),
                became_on=e.became_on,
                detected_on=e.detected_on,
                ended_on=e.ended_on,
                end_reason=e.end_reason,
            )
            for e in episodes
        ],
    )


def _truancy_rules(
    v: RuleValues,
    *,
    month_max: int,
    unexcused: int,
    triggers: dict[Rule, date | None],
    dates: dict[Rule, list[date]] | None = None,
) -> list[RuleResult]:
    """The monthly, yearly and habitual rules' results, each with its explanation (one wording for
    a student's report and for the list of truant students)."""
    month_word = "calendar month" if v.month_reading == MonthReading.CALENDAR else "30 days"
    monthly = triggers.get(Rule.MONTHLY)
    explained = {
        Rule.MONTHLY: (
            v.monthly_threshold,
            month_max,
            f"{v.monthly_threshold} unexcused absences within one {month_word}, "
            + (f"reached on {monthly}" if monthly else f"at most {month_max} so far"),
        ),
        Rule.YEARLY: (
            v.yearly_threshold,
            unexcused,
            f"{v.yearly_threshold} unexcused absences in the school year, {unexcused} so far",
        ),
        Rule.HABITUAL: (
            v.habitual_threshold,
            unexcused,
            f"{v.habitual_threshold} unexcused absences in the school year (habitual truancy)",
        ),
    }
    return [
        RuleResult(
            rule=rule,
            fired=triggers.get(rule) is not None,
            threshold=threshold,
            count=count,
            trigger_day=triggers.get(rule),
            dates=(dates or {}).get(rule, []),
            explanation=explanation,
        )
        for rule, (threshold, count, explanation) in explained.items()
    ]


async def truant_students(
    session: AsyncSession,
    visible: ColumnElement[bool],
    as_of: date,
    *,
    limit: int,
    after: tuple[date, uuid.UUID] | None = None,
) -> tuple[list[TruantStatus], bool]:
    """The students ``visible`` lets the reader see (a scope over ``Student``) who are truant, or
    habitually truant, on ``as_of``: what ``student_truancy`` would answer for each of them, and
    what makes a referral eligible. In the summer (no school year contains ``as_of``) the last day
    of the latest school year counts, as for a referral. Ordered by the day each became truant,
    then id; up to ``limit`` after ``after`` (that day and id), and whether more follow. Raises
    OutsideSchoolYear when no school year starts on or before ``as_of``."""
    year = await repo.school_year_containing(session, as_of) or await repo.latest_school_year_started_by(session, as_of)
    if year is None:
        raise OutsideSchoolYear(f"no school year on or before {as_of.isoformat()}", as_of=as_of.isoformat())
    day = min(as_of, year.ends_on)
    rules = await effective(session, year)
    params = repo.rule_params(year.id, day, rules.values)
    rows = await repo.truant(session, visible, params, limit=limit + 1, after=after)
    found = [
        TruantStatus(
            student_id=r["student_id"],
            as_of=day,
            school_year=year.name,
            became_truant_on=r["became_on"],
            unexcused_count=int(r["unexcused"]),
            rules=[
                result
                for result in _truancy_rules(
                    rules.values,
                    month_max=int(r["month_max"]),
                    unexcused=int(r["unexcused"]),
                    triggers={
                        Rule.MONTHLY: r["monthly_trigger"],
                        Rule.YEARLY: r["yearly_trigger"],
                        Rule.HABITUAL: r["habitual_trigger"],
                    },
                )
                if result.fired
            ],
        )
        for r in rows[:limit]
    ]
    return found, len(rows) > limit


def _absence(r: RowMapping) -> Absence:
    return Absence(
        day=r["day"],
        school_id=r["school_id"],
        classification=AbsenceClass(r["classification"]),
        why=AbsenceWhy(r["why"]),
        reason_code=r["reason_code"],
        number=r["number"],
        minutes_present=r["minutes_present"],
        minutes_scheduled=r["minutes_scheduled"],
        present_half_day=r["present_half_day"],
        tardy=bool(r["tardy"]),
        documentation_received_on=r["documentation_received_on"],
        documentation_deadline=r["deadline"],
        wellness=WellnessStatus(r["wellness"]) if r["wellness"] else None,
    )


def _monthly_dates(unexcused: list[date], trigger: date | None, reading: MonthReading) -> list[date]:
    if trigger is None:
        return []
    if reading == MonthReading.CALENDAR:
        return [d for d in unexcused if (d.year, d.month) == (trigger.year, trigger.month) and d <= trigger]
    return [d for d in unexcused if trigger - timedelta(days=29) <= d <= trigger]


async def months_of_year(session: AsyncSession, report: TruancyReport) -> list[MonthCount]:
    """The report's absences by month, with every month of its school year up to ``as_of``: a
    month without an absence is a row of zeros (what a chart of the year shows)."""
    year = await school_year_for(session, report.as_of)
    counted = {m.month: m for m in report.months}
    months: list[MonthCount] = []
    y, m = year.starts_on.year, year.starts_on.month
    while (y, m) <= (report.as_of.year, report.as_of.month):
        key = f"{y:04d}-{m:02d}"
        none = MonthCount(month=key, absences=0, unexcused=0, excused=0, pending=0, disciplinary=0)
        months.append(counted.get(key, none))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return months


def _months(absences: list[Absence]) -> list[MonthCount]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for a in absences:
        month = counts[f"{a.day.year:04d}-{a.day.month:02d}"]
        month["absences"] += 1
        month[a.classification.value] += 1
    return [
        MonthCount(
            month=m,
            absences=c["absences"],
            unexcused=c["unexcused"],
            excused=c["excused"],
            pending=c["pending"],
            disciplinary=c["disciplinary"],
        )
        for m, c in sorted(counts.items())
    ]
