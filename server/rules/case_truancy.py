"""A case's truancy summary: what a phone shows about its student offline.

The evaluation (``server.rules.evaluate``) writes every open case's ``truancy`` from the status it
has just computed for all students, in the same transaction: status, the rules that fired,
counts, and absences and unexcused absences by month of the school year through the evaluation's
day (``schemas.truancy.TruancySummary``). A case whose summary changed gets ``version + 1``, like
any change the server makes to it, and the ``case_file`` trigger logs it, so the next pull of
every device that holds the case brings it, however far its cursor is. Only open cases are
written: a closed case keeps the summary it had when it closed.

In three steps, so that a push waits only for the cases whose summary changes: ``stage`` computes
the new summaries and keeps those that differ (reading, locking nothing), ``lock`` locks just the
cases about to be written, in id order as a push locks the cases it touches (``FOR SHARE``, in id
order: no deadlock), and ``write`` writes them. A push on any other case (on a day without news,
all of them) never waits for the evaluation.

A case opened between evaluations takes its student's summary as of its opening day
(``summary_for_student``), so it never waits for the next evaluation to have one.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.rules import Rule
from schemas.truancy import SummaryMonth, TruancyReport, TruancyStatus, TruancySummary
from server.rules import repository as repo
from server.rules import sql
from server.rules.rulesets import effective
from server.schools.models import SchoolYear

_SUMMARY = """
jsonb_build_object(
    'as_of', CAST(:as_of AS date),
    'school_year', CAST(:year_name AS text),
    'status', CASE
        WHEN s.habitual_trigger IS NOT NULL THEN 'habitual'
        WHEN s.monthly_trigger IS NOT NULL OR s.yearly_trigger IS NOT NULL THEN 'truant'
        WHEN s.chronic THEN 'chronic'
        ELSE 'none' END,
    'rules', to_jsonb(array_remove(ARRAY[
        CASE WHEN s.monthly_trigger IS NOT NULL THEN 'monthly' END,
        CASE WHEN s.yearly_trigger IS NOT NULL THEN 'yearly' END,
        CASE WHEN s.habitual_trigger IS NOT NULL THEN 'habitual' END,
        CASE WHEN s.chronic THEN 'chronic' END], NULL)),
    'unexcused', coalesce(s.unexcused, 0),
    'absences', coalesce(s.absences, 0),
    'absence_percent', round(coalesce(s.absence_percent, 0)::numeric, 1),
    'months', (
        SELECT coalesce(jsonb_agg(jsonb_build_object(
            'month', to_char(g.m, 'YYYY-MM'),
            'absences', coalesce((s.months -> to_char(g.m, 'YYYY-MM') ->> 0)::int, 0),
            'unexcused', coalesce((s.months -> to_char(g.m, 'YYYY-MM') ->> 1)::int, 0)) ORDER BY g.m), '[]'::jsonb)
        FROM generate_series(date_trunc('month', CAST(:first_day AS date)), CAST(:as_of AS date),
                             interval '1 month') AS g(m)))
"""

_OPEN = "c.deleted_at IS NULL AND c.status <> 'closed'"
_DAILY = "ARRAY['as_of', 'absence_percent']"
CHANGED = f"(c.truancy - {_DAILY}) IS DISTINCT FROM (summary.truancy - {_DAILY})"
"""A summary that differs only in what moves every day by itself (``sync.case_summary.DAILY``) is
no change: the case is sent to the phones again only when its absences say something new."""


STAGED = "rules_summaries"
"""The open cases whose summary changes, with the new one (``stage``); dropped at commit."""


def _stage_sql(status: str) -> str:
    return (
        f"WITH summary AS (SELECT c.id, {_SUMMARY} AS truancy "
        f"FROM case_file c LEFT JOIN {status} s ON s.student_id = c.student_id WHERE {_OPEN}) "
        f"INSERT INTO {STAGED} (id, truancy) SELECT summary.id, summary.truancy "
        f"FROM summary JOIN case_file c ON c.id = summary.id WHERE {CHANGED}"
    )


_WRITE = (
    f"UPDATE case_file c SET truancy = summary.truancy, version = c.version + 1, updated_at = now() "
    f"FROM {STAGED} summary WHERE c.id = summary.id AND {_OPEN} AND {CHANGED}"
)
"""The staged summaries, each checked again on the locked row (a case closed since is left alone)."""


def _params(year: SchoolYear, day: date) -> dict[str, Any]:
    return {"as_of": day, "year_name": year.name, "first_day": year.starts_on}


async def stage(session: AsyncSession, status: str, params: dict[str, Any]) -> None:
    """Compute each open case's summary from ``status`` (a table or a parenthesised query with one
    row per student, as ``sql.status_sql(months=True)`` answers; a student without a row has no
    absences) and keep in ``STAGED`` those that say something new. Reads; writes no case, locks
    none."""
    await session.execute(
        text(f"CREATE TEMP TABLE IF NOT EXISTS {STAGED} (id uuid PRIMARY KEY, truancy jsonb) ON COMMIT DROP")
    )
    await session.execute(text(f"TRUNCATE {STAGED}"))
    await session.execute(text(_stage_sql(status)), params)


async def lock(session: AsyncSession, also: str = "") -> int:
    """Lock the cases about to be written, in id order, as a push locks the cases it touches
    (``FOR SHARE``, in id order): the staged ones and those ``also`` names (a query of case ids,
    such as the cases of follow-ups about to be written, whose ``follow_ups`` a trigger keeps).
    ``FOR NO KEY UPDATE``, what the writes would take: a new record under one of them (its
    foreign key) does not wait. Returns how many were locked."""
    ids = f"SELECT id FROM {STAGED}" + (f" UNION {also}" if also else "")
    result = await session.execute(
        text(f"SELECT c.id FROM case_file c WHERE c.id IN ({ids}) ORDER BY c.id FOR NO KEY UPDATE OF c")
    )
    return len(result.all())


async def write(session: AsyncSession) -> int:
    """Write the staged summaries (after ``lock``). Returns how many cases changed."""
    result = await session.execute(text(_WRITE))
    return int(getattr(result, "rowcount", 0) or 0)


def params(year: SchoolYear, day: date) -> dict[str, Any]:
    """The parameters ``stage`` needs besides the status's own."""
    return _params(year, day)


async def _year_and_day(session: AsyncSession, as_of: date) -> tuple[SchoolYear, date] | None:
    year = await repo.school_year_containing(session, as_of) or await repo.latest_school_year_started_by(session, as_of)
    return None if year is None else (year, min(as_of, year.ends_on))


async def refresh(session: AsyncSession, as_of: date) -> int:
    """Evaluate every student as of ``as_of`` and write the open cases' summaries (no episodes,
    no meetings: for data loaded after an evaluation, as the demo's cases are)."""
    found = await _year_and_day(session, as_of)
    if found is None:
        return 0
    year, day = found
    rules = await effective(session, year)
    status_params = {k: v for k, v in repo.rule_params(year.id, day, rules.values).items() if k != "meeting_days"}
    await stage(session, f"({sql.status_sql(one_student=False, months=True)})", status_params | _params(year, day))
    await lock(session)
    return await write(session)


async def summary_for_student(session: AsyncSession, student_id: uuid.UUID, as_of: date) -> dict[str, Any] | None:
    """The student's summary as of ``as_of`` (for a case being opened); ``None`` when no school
    year has started by then."""
    found = await _year_and_day(session, as_of)
    if found is None:
        return None
    year, day = found
    rules = await effective(session, year)
    params = {k: v for k, v in repo.rule_params(year.id, day, rules.values).items() if k != "meeting_days"}
    status = f"({sql.status_sql(one_student=True, months=True)})"
    statement = f"SELECT {_SUMMARY} AS truancy FROM (SELECT 1) AS one LEFT JOIN {status} s ON true"
    result = await session.execute(text(statement), params | _params(year, day) | {"student_id": student_id})
    summary: dict[str, Any] = result.scalar_one()
    return summary


def summary_of_report(report: TruancyReport, year_starts_on: date) -> dict[str, Any]:
    """The summary ``summary_for_student`` gives for the report's student and day, made from the
    report (``service.truancy_reports``) instead of one statement a student: the demo's thousand
    closed cases of a big district each keep the summary of the day they closed
    (tests/test_demo_cases.py holds the two equal)."""
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
