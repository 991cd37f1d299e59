"""The reports, for ``GET /reports`` and the console's Reports page alike: assessment factors by
school and category, referrals by resource and status, and the parent meetings the law requires
against their deadline (``schemas.reports`` says what each number is).

Scoped like the dashboard: a supervisor sees her team's cases (and the unassigned referred ones
she assigns), office staff and admins the district; each report reuses its record kind's
predicate of ``server.scope``. The period is days on the district's clock (``DOORSTEP_TIME_ZONE``),
by default the school year in progress (in a summer, the one just ended).
"""

from __future__ import annotations

import statistics
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from schemas.casework import FACTORS, FactorCategory, ServiceReferralStatus
from schemas.dashboard import DashboardScope
from schemas.reports import (
    CategoryRow,
    FactorRow,
    FactorsReport,
    MeetingCounts,
    MeetingOutcome,
    MeetingSchoolRow,
    MeetingsReport,
    ReferralsReport,
    ReportPeriod,
    Reports,
    ResourceRow,
    SchoolCount,
    SchoolOut,
    StatusCounts,
)
from schemas.rules import PRESETS, RulePreset
from server import scope
from server.auth.service import Principal
from server.errors import Forbidden, InvalidInput
from server.reports import repository as repo
from server.reports.repository import MeetingDeadline
from server.rules import repository as rules_repo
from server.schools.models import School

READERS = (Role.SUPERVISOR, Role.OFFICE_STAFF, Role.ADMIN)
DEFAULT_DUE_DAYS = PRESETS[RulePreset.PROGRAM].meeting_due_days
"""A school year with no rule set of its own has the program's rules (``server.rules.rulesets``)."""
MAX_DAYS = 3 * 366
"""The longest period asked for (three school years)."""


def _check(principal: Principal) -> None:
    if principal.role not in READERS:
        raise Forbidden("The reports are for supervisors, office staff and admins")


# --- the period -----------------------------------------------------------------------------------


async def default_period(session: AsyncSession, today: date) -> ReportPeriod:
    """The school year containing ``today``, or the last one begun before it (a summer); with no
    school year on record, from the July 1st before ``today`` to ``today``."""
    year = await rules_repo.school_year_containing(session, today) or await rules_repo.latest_school_year_started_by(
        session, today
    )
    if year is not None:
        return ReportPeriod(from_=year.starts_on, to=year.ends_on, school_year=year.name)
    july = date(today.year if today.month >= 7 else today.year - 1, 7, 1)
    return ReportPeriod(from_=july, to=today)


async def period(session: AsyncSession, today: date, first: date | None, last: date | None) -> ReportPeriod:
    """The period asked for: a missing end is the default period's; the first day after the last,
    or a period longer than three years, is refused."""
    default = await default_period(session, today)
    if first is None and last is None:
        return default
    chosen = ReportPeriod(from_=first or default.from_, to=last or default.to)
    if chosen.from_ > chosen.to:
        raise InvalidInput(f"The period begins ({chosen.from_}) after it ends ({chosen.to})")
    if (chosen.to - chosen.from_).days > MAX_DAYS:
        raise InvalidInput("A period is at most three years long")
    return chosen


def _bounds(chosen: ReportPeriod, time_zone: str) -> tuple[datetime, datetime]:
    """[start, end): midnight of the first day to midnight after the last, on the district's clock."""
    zone = ZoneInfo(time_zone)
    return (
        datetime.combine(chosen.from_, time(0), tzinfo=zone),
        datetime.combine(chosen.to + timedelta(days=1), time(0), tzinfo=zone),
    )


# --- the reports ----------------------------------------------------------------------------------


async def reports(
    session: AsyncSession,
    principal: Principal,
    now: datetime,
    time_zone: str,
    first: date | None = None,
    last: date | None = None,
) -> Reports:
    """Every report for ``principal`` over the period [first, last] (days in ``time_zone``; by
    default the school year in progress), as of ``now``."""
    _check(principal)
    reader = scope.Reader.of(principal)
    today = now.astimezone(ZoneInfo(time_zone)).date()
    chosen = await period(session, today, first, last)
    start, end = _bounds(chosen, time_zone)
    factors = _factors(await repo.factor_counts(session, scope.assessments(reader), start, end))
    referrals = _referrals(await repo.referral_counts(session, scope.service_referrals(reader), start, end))
    deadlines = await repo.meeting_deadlines(
        session,
        scope.follow_ups(reader),
        time_zone=time_zone,
        default_due_days=DEFAULT_DUE_DAYS,
        first=chosen.from_,
        last=chosen.to,
    )
    meetings = _meetings(deadlines, today)
    named = {c.school_id for c in factors.by_school} | {m.school_id for m in meetings.by_school}
    schools = await repo.schools(session, {s for s in named if s is not None})
    _by_name(schools, factors, meetings)
    return Reports(
        scope=DashboardScope.TEAM if principal.role is Role.SUPERVISOR else DashboardScope.DISTRICT,
        generated_at=now,
        time_zone=time_zone,
        period=chosen,
        schools=[SchoolOut(id=s.id, code=s.code, name=s.name) for s in schools],
        factors=factors,
        referrals=referrals,
        parent_meetings=meetings,
    )


def _by_name(schools: list[School], factors: FactorsReport, meetings: MeetingsReport) -> None:
    """Every list by school in the schools' order (by name), cases with no school last."""
    order = {school.id: n for n, school in enumerate(schools)}

    def key(row: SchoolCount | MeetingSchoolRow) -> int:
        return order.get(row.school_id, len(order)) if row.school_id is not None else len(order) + 1

    for rows in (
        factors.by_school,
        *(r.by_school for r in factors.factors),
        *(c.by_school for c in factors.categories),
    ):
        rows.sort(key=key)
    meetings.by_school.sort(key=key)


def _by_school(counts: dict[uuid.UUID | None, int]) -> list[SchoolCount]:
    return [SchoolCount(school_id=s, cases=n) for s, n in counts.items() if n]


def _factors(found: repo.FactorCounts) -> FactorsReport:
    per_factor: dict[str, dict[uuid.UUID | None, int]] = defaultdict(dict)
    primary: dict[str, int] = defaultdict(int)
    for row in found.factors:
        per_factor[row.factor][row.school_id] = row.cases
        primary[row.factor] += row.primary
    per_category: dict[str, dict[uuid.UUID | None, int]] = defaultdict(dict)
    for c in found.categories:
        per_category[c.category][c.school_id] = c.cases
    return FactorsReport(
        cases_assessed=sum(found.assessed.values()),
        by_school=_by_school(found.assessed),
        factors=[
            FactorRow(
                factor=code,
                category=category,
                label=label,
                cases=sum(per_factor[code.value].values()),
                primary=primary[code.value],
                by_school=_by_school(per_factor[code.value]),
            )
            for code, (category, label) in FACTORS.items()
        ],
        categories=[
            CategoryRow(
                category=category,
                cases=sum(per_category[category.value].values()),
                by_school=_by_school(per_category[category.value]),
            )
            for category in FactorCategory
        ],
    )


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _referrals(found: list[repo.ReferralCount]) -> ReferralsReport:
    names: dict[tuple[uuid.UUID | None, str], str] = {}
    counts: dict[tuple[uuid.UUID | None, str], StatusCounts] = defaultdict(StatusCounts)
    for row in found:
        key = (row.resource_id, "" if row.resource_id else row.resource_name)
        names[key] = row.resource_name
        setattr(counts[key], ServiceReferralStatus(row.status).value, row.referrals)
    rows = [
        ResourceRow(
            resource_id=key[0],
            resource_name=names[key],
            statuses=c,
            total=c.total,
            connected_share=_share(c.connected, c.total),
        )
        for key, c in counts.items()
    ]
    rows.sort(key=lambda r: (-r.total, r.resource_name.casefold()))
    totals = StatusCounts(
        made=sum(r.statuses.made for r in rows),
        connected=sum(r.statuses.connected for r in rows),
        not_connected=sum(r.statuses.not_connected for r in rows),
        declined=sum(r.statuses.declined for r in rows),
    )
    return ReferralsReport(
        resources=rows, statuses=totals, total=totals.total, connected_share=_share(totals.connected, totals.total)
    )


def outcome(meeting: MeetingDeadline, today: date) -> MeetingOutcome:
    """Held by the deadline, held after it, not held with the deadline past, or not yet due. The
    deadline day itself is still in time."""
    if meeting.held_on is not None:
        return MeetingOutcome.ON_TIME if meeting.held_on <= meeting.deadline else MeetingOutcome.LATE
    return MeetingOutcome.OVERDUE if meeting.deadline < today else MeetingOutcome.PENDING


def _tally(meetings: Iterable[MeetingDeadline], today: date) -> MeetingCounts:
    found = list(meetings)
    outcomes = [outcome(m, today) for m in found]
    on_time, late, overdue = (
        outcomes.count(o) for o in (MeetingOutcome.ON_TIME, MeetingOutcome.LATE, MeetingOutcome.OVERDUE)
    )
    days = [m.school_days for m in found if m.held_on is not None and m.school_days is not None]
    return MeetingCounts(
        required=len(found),
        on_time=on_time,
        late=late,
        overdue=overdue,
        pending=outcomes.count(MeetingOutcome.PENDING),
        on_time_share=_share(on_time, on_time + late + overdue),
        median_school_days=float(statistics.median(days)) if days else None,
    )


def _meetings(found: list[MeetingDeadline], today: date) -> MeetingsReport:
    by_school: dict[uuid.UUID | None, list[MeetingDeadline]] = defaultdict(list)
    for m in found:
        by_school[m.school_id].append(m)
    overall = _tally(found, today)
    return MeetingsReport(
        **msgspec.structs.asdict(overall),
        meeting_due_days=sorted({m.meeting_due_days for m in found}),
        by_school=[
            MeetingSchoolRow(school_id=school, **msgspec.structs.asdict(_tally(rows, today)))
            for school, rows in by_school.items()
        ],
    )


# --- for the case page ----------------------------------------------------------------------------


async def meeting_deadlines(
    session: AsyncSession, principal: Principal, follow_up_ids: Collection[uuid.UUID], time_zone: str
) -> dict[uuid.UUID, MeetingDeadline]:
    """The legal deadline of each of these follow-ups the rules made, by id (a case page shows
    whether the meeting that completed one was in time); those the principal may not see, or
    that no rule made, are left out."""
    if not follow_up_ids:
        return {}
    found = await repo.meeting_deadlines(
        session,
        scope.follow_ups(scope.Reader.of(principal)),
        time_zone=time_zone,
        default_due_days=DEFAULT_DUE_DAYS,
        follow_up_ids=follow_up_ids,
    )
    return {m.follow_up_id: m for m in found}
