"""The truancy report of many students on many days at once, for the demo's visit logs.

A visit log carries, as context, what ``GET /students/{id}/truancy?as_of=<visit date>`` answers
for the case's student (``server.visits.context.truancy``, one ``rules.truancy_on`` per visit).
That is 17 to 40 ms a visit on this machine: the default demo's 270 visits took 10 s, and the
16,000 of ``--case-managers 500`` would take most of ten minutes. Here the same report is built by
the rules engine's own pieces, a day at a time for every student visited that day: its
classification of absences (``server.rules.sql``) and its statuses (``repository.statuses``)
for all of them in one statement each, then ``service.build_report`` for each, as
``service.student_truancy`` builds it for one. tests/test_demo_visits.py holds the two answers
equal.

A closed case keeps the summary its student had the day it closed (the evaluation writes open
cases only). ``case_truancy.summary_for_student`` answers it for one student, in 45 to 180 ms;
``summary`` makes the same from a report, for the thousand closed cases of a big demo;
tests/test_demo_cases.py holds the two equal.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import msgspec
from sqlalchemy import RowMapping, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.rules import Rule
from schemas.truancy import SummaryMonth, TruancyReport, TruancyStatus, TruancySummary
from server.rules import repository as repo
from server.rules import service as rules
from server.rules import sql
from server.rules.models import TruancyEpisode
from server.rules.rulesets import effective
from server.schools.models import SchoolYear

_CLASSIFIED = (
    "WITH "
    + sql._CLASSIFY.format(student_filter="AND a.student_id = ANY(CAST(:student_ids AS uuid[]))")
    + "\nSELECT * FROM cls ORDER BY student_id, day"
)
"""``sql.classify_sql(one_student=True)`` for a set of students: the same classification."""
_CLASSIFY_KEYS = ("year_id", "as_of", "window", "tier", "wellness")


async def reports(
    session: AsyncSession, wanted: Iterable[tuple[uuid.UUID, date]]
) -> dict[tuple[uuid.UUID, date], TruancyReport | None]:
    """For each (student, day): what ``rules.truancy_on`` answers (``None`` on a day no school year
    contains), computed a day at a time."""
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
            episodes[year.id] = await _episodes(session, year)
        rule_set = await effective(session, year)
        params = repo.rule_params(year.id, day, rule_set.values)
        ids = sorted(students)
        statuses = await repo.statuses(session, params, ids)
        absences: dict[uuid.UUID, list[RowMapping]] = defaultdict(list)
        bind: dict[str, Any] = {k: params[k] for k in _CLASSIFY_KEYS} | {"student_ids": ids}
        for row in (await session.execute(text(_CLASSIFIED), bind)).mappings():
            absences[row["student_id"]].append(row)
        for student in ids:
            out[(student, day)] = rules.build_report(
                student,
                day,
                year,
                rule_set,
                absences.get(student, []),
                statuses.get(student),
                episodes[year.id].get(student, []),
            )
    return out


def summary(report: TruancyReport, year_starts_on: date) -> dict[str, Any]:
    """The case summary (``schemas.truancy.TruancySummary``, as JSON values) that
    ``case_truancy.summary_for_student`` gives for the report's student and day."""
    fired = {r.rule for r in report.rules if r.fired}
    status = TruancyStatus.NONE
    if report.habitual:
        status = TruancyStatus.HABITUAL
    elif report.truant:
        status = TruancyStatus.TRUANT
    elif report.chronic:
        status = TruancyStatus.CHRONIC
    percent = Decimal(0)
    if report.enrolled_days:  # 100.0 * absences / enrolled_days, to one decimal, as PostgreSQL rounds
        percent = (Decimal(100 * report.absence_count) / report.enrolled_days).quantize(Decimal("0.1"), ROUND_HALF_UP)
    counted = {m.month: m for m in report.months}
    months = []
    month = date(year_starts_on.year, year_starts_on.month, 1)
    while month <= report.as_of:
        key = f"{month.year:04d}-{month.month:02d}"
        found = counted.get(key)
        months.append(
            SummaryMonth(month=key, absences=found.absences if found else 0, unexcused=found.unexcused if found else 0)
        )
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    built: dict[str, Any] = msgspec.to_builtins(
        TruancySummary(
            as_of=report.as_of,
            school_year=report.school_year,
            status=status,
            rules=[r for r in Rule if r in fired],
            unexcused=report.unexcused_count,
            absences=report.absence_count,
            absence_percent=float(percent),
            months=months,
        )
    )
    return built


async def _episodes(session: AsyncSession, year: SchoolYear) -> dict[uuid.UUID, list[TruancyEpisode]]:
    """Every student's episodes of the year, in ``repository.episodes_for``'s order."""
    found: dict[uuid.UUID, list[TruancyEpisode]] = defaultdict(list)
    rows = await session.scalars(
        select(TruancyEpisode)
        .where(TruancyEpisode.school_year_id == year.id)
        .order_by(TruancyEpisode.student_id, TruancyEpisode.became_on, TruancyEpisode.rule, TruancyEpisode.created_at)
    )
    for episode in rows:
        found[episode.student_id].append(episode)
    return found
