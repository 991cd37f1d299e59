"""The dashboard: how the program is doing, in the reader's scope, for ``GET /dashboard`` and the
console's Dashboard page alike.

A supervisor sees her team's (the cases, visits and conflicts ``server.scope`` gives her: her
case managers' and the unassigned referred cases she assigns); office staff and admins the
district. Every count reuses its record kind's scope predicate, and where a list already exists
its own query: the approvals queue's (``visits.repository.visit_count``), the overdue parent
meetings' (``rules.meetings``), the turnaround's (``visits.approvals.turnaround``), the
absence classification of the rules engine (``rules.repository.unexcused_days``). A handful of
aggregate statements, none per case.

Days and weeks are the district's (``DOORSTEP_TIME_ZONE``): the week begins Monday 00:00 there,
"today" is its date there, and a case opened on the date its opening had there.
"""

from __future__ import annotations

import uuid
from bisect import bisect_left
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from schemas.cases import CaseOutcome, CaseStatus
from schemas.dashboard import (
    TURNAROUND_DAYS,
    WINDOW_SCHOOL_DAYS,
    BeforeAfter,
    ClosedCase,
    Dashboard,
    DashboardScope,
    StatusCount,
)
from schemas.visits import VisitStatus
from server import audit, scope
from server.audit import Actor
from server.auth.service import Principal
from server.dashboard import repository as repo
from server.errors import Forbidden
from server.rules import meetings
from server.rules import repository as rules_repo
from server.rules.rulesets import effective
from server.students.scope import visible_students
from server.visits import approvals
from server.visits import repository as visit_repo

READERS = (Role.SUPERVISOR, Role.OFFICE_STAFF, Role.ADMIN)
CALENDAR_LOOKBACK = timedelta(days=400)
"""How far before the earliest opening to read school calendars: 30 school days and a summer fit."""


def _check(principal: Principal) -> None:
    if principal.role not in READERS:
        raise Forbidden("The dashboard is for supervisors, office staff and admins")


def week_start(now: datetime, time_zone: str) -> datetime:
    """Monday 00:00 of ``now``'s week in ``time_zone`` (an aware time in that zone)."""
    zone = ZoneInfo(time_zone)
    today = now.astimezone(zone).date()
    return datetime.combine(today - timedelta(days=today.weekday()), time(0), tzinfo=zone)


async def dashboard(session: AsyncSession, principal: Principal, now: datetime, time_zone: str) -> Dashboard:
    """Every figure of the dashboard for ``principal``, as of ``now``, days and weeks in
    ``time_zone`` (the district's, ``Settings.time_zone``)."""
    _check(principal)
    reader = scope.Reader.of(principal)
    today = now.astimezone(ZoneInfo(time_zone)).date()
    by_status = await repo.cases_by_status(session, scope.cases(reader))
    open_states = [s for s in CaseStatus if s is not CaseStatus.CLOSED]
    monday = week_start(now, time_zone)
    waiting, oldest = await visit_repo.visit_count(
        session, scope.visits(reader), visit_repo.QueueFilters(status=VisitStatus.SUBMITTED)
    )
    since = now - timedelta(days=TURNAROUND_DAYS)
    return Dashboard(
        scope=DashboardScope.TEAM if principal.role is Role.SUPERVISOR else DashboardScope.DISTRICT,
        generated_at=now,
        time_zone=time_zone,
        open_cases=[StatusCount(status=s, cases=by_status.get(s.value, 0)) for s in open_states],
        open_cases_total=sum(by_status.values()),
        week_starts=monday,
        visits_this_week=await repo.visit_logs_since(session, scope.visit_logs(reader), monday),
        approvals_waiting=waiting,
        oldest_waiting_since=oldest,
        turnaround_since=since,
        turnaround=await approvals.turnaround(session, principal, since=since),
        conflicts_open=await repo.open_conflicts(session, scope.conflicts(reader)),
        overdue_parent_meetings=await meetings.overdue_count(session, today, visible_students(principal)),
        before_after=await before_after(session, reader, today, time_zone),
    )


async def before_after(session: AsyncSession, reader: scope.Reader, today: date, time_zone: str) -> BeforeAfter:
    """Cases closed in the school year in progress (or the last one, in a summer), each with the
    student's unexcused absences in the ``WINDOW_SCHOOL_DAYS`` school days of the case's school
    before the day it opened, and in as many from that day on (the split of the case page's
    "before the case opened" and "since"; after: the school days before ``today`` so far).
    Unexcused is the rules engine's classification, as of today (as of the year's end for a past
    year): an absence whose documentation window is still open is not unexcused yet."""
    year = await rules_repo.school_year_containing(session, today) or await rules_repo.latest_school_year_started_by(
        session, today
    )
    if year is None:
        return BeforeAfter(
            window_school_days=WINDOW_SCHOOL_DAYS,
            school_year=None,
            since=None,
            cases=[],
            unexcused_before=0,
            unexcused_after=0,
            mean_before=None,
            mean_after=None,
            complete_after=0,
        )
    since = datetime.combine(year.starts_on, time(0), tzinfo=ZoneInfo(time_zone))
    rows = await repo.closed_cases(session, scope.cases(reader), since, time_zone)
    schools = {r.school_id for r in rows if r.school_id is not None}
    first = min((r.opened_on for r in rows), default=today) - CALENDAR_LOOKBACK
    calendar = await repo.school_days(session, schools, first, today - timedelta(days=1))

    windows: dict[uuid.UUID, tuple[list[date], list[date]]] = {}
    for r in rows:
        days = calendar.get(r.school_id, []) if r.school_id is not None else []
        split = bisect_left(days, r.opened_on)
        windows[r.case_id] = (
            days[max(0, split - WINDOW_SCHOOL_DAYS) : split],
            days[split : split + WINDOW_SCHOOL_DAYS],
        )

    spanned = [d for before, after in windows.values() for d in (before + after)]
    unexcused: set[tuple[uuid.UUID, date]] = set()
    if spanned:
        students = sorted({r.student_id for r in rows})
        for y in await repo.school_years_of_days(session, schools, min(spanned), max(spanned)):
            rules = await effective(session, y)
            params = rules_repo.rule_params(y.id, min(today, y.ends_on), rules.values)
            unexcused.update(await rules_repo.unexcused_days(session, students, params))

    cases = []
    for r in rows:
        before, after = windows[r.case_id]
        cases.append(
            ClosedCase(
                case_id=r.case_id,
                student_id=r.student_id,
                case_manager_id=r.case_manager_id,
                opened_on=r.opened_on,
                closed_at=r.closed_at,
                outcome=CaseOutcome(r.outcome) if r.outcome else None,
                school_days_before=len(before),
                unexcused_before=sum((r.student_id, d) in unexcused for d in before),
                school_days_after=len(after),
                unexcused_after=sum((r.student_id, d) in unexcused for d in after),
            )
        )
    total_before = sum(c.unexcused_before for c in cases)
    total_after = sum(c.unexcused_after for c in cases)
    return BeforeAfter(
        window_school_days=WINDOW_SCHOOL_DAYS,
        school_year=year.name,
        since=year.starts_on,
        cases=cases,
        unexcused_before=total_before,
        unexcused_after=total_after,
        mean_before=total_before / len(cases) if cases else None,
        mean_after=total_after / len(cases) if cases else None,
        complete_after=sum(c.school_days_after == WINDOW_SCHOOL_DAYS for c in cases),
    )


async def overdue_meetings(
    session: AsyncSession, principal: Principal, actor: Actor, as_of: date
) -> list[meetings.OverdueMeeting]:
    """The list behind the dashboard's overdue count: ``GET /parent-meetings/overdue``'s, each
    student named an audited read (``student.listed``, ``via`` ``console_dashboard``)."""
    _check(principal)
    found = await meetings.overdue(session, as_of, visible_students(principal))
    for student_id in dict.fromkeys(m.student_id for m in found):
        audit.record(session, actor, "student.listed", "student", student_id, via="console_dashboard")
    return found


def listed(session: AsyncSession, actor: Actor, cases: list[ClosedCase]) -> None:
    """Record that a page names the students of these closed cases (``student.listed``)."""
    for case in cases:
        audit.record(
            session,
            actor,
            "student.listed",
            "student",
            case.student_id,
            via="console_dashboard",
            case_id=str(case.case_id),
        )
