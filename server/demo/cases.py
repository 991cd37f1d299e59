"""Demo caseloads: each truant student referred shortly after the rules found her truant, her case
opened by the referral that day, and about 25 open cases per case manager across the lifecycle.

The story each case tells is the program's own:

- Who: only students the rules engine finds truant (``server.rules.service.truant_students``, the
  set-based answer of what ``student_truancy`` says of each, and what makes a referral eligible,
  ``server.referrals.eligibility``). The attendance generator makes enough of them
  (``server.demo.district``); the demo never picks a student the rules do not.
- When: an absence without a note counts as unexcused only once its documentation window has
  closed, so a student is truant from the first school day the rules say so on that day, not
  from the day of the absence that made her so. The demo asks the rules for each school day in
  turn; a counselor refers the student on a school day shortly after that (the same day, or up
  to a week later), and the referral is checked on its own day, as ``POST /referrals`` checks
  it on the district's today: an eligible referral opens the case at once (``server.referrals
  .service``), so the case opens on the referral's day, at the same moment.
- How far along: the cases opened first are the furthest along. Each case manager's two oldest
  were closed, then come the cases she monitors, those she works (active), those where she is
  still trying to reach the family (contacting) and the newest, just assigned; the newest
  referrals of all wait for a supervisor to assign them.

Cases and referrals are written set-based (at 500 case managers there are 14,000 of each), with
stable ids. Deterministic (seeded) and idempotent: nothing is added once any case exists.
"""

from __future__ import annotations

import random
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import ARRAY, Table, any_, func, inspect, literal, select
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from schemas.auth import Role
from schemas.cases import (
    CaseOutcome,
    CaseStatus,
    ContactMethod,
    ContactOutcome,
    FollowUpKind,
    ReferralIn,
    ReferralStatus,
)
from schemas.truancy import TruantStatus
from server.auth.models import User
from server.cases.models import Case, ContactAttempt, FollowUp, Referral
from server.demo.district import DemoYear
from server.orm import Base
from server.referrals.service import content_hash
from server.rules import case_truancy
from server.rules import repository as rules_repo
from server.rules import service as rules
from server.schools.models import CounselorSchool, School
from server.students.models import Student

Progress = Callable[[str, int, int], None]

OPEN_PER_MANAGER = 25
CLOSED_PER_MANAGER = 2
UNASSIGNED_PER_MANAGER = 1.5
"""Referred cases waiting for a supervisor to assign them: 12 for the default 8 case managers."""
BY_AGE = (CaseStatus.MONITORING, CaseStatus.ACTIVE, CaseStatus.CONTACTING, CaseStatus.ASSIGNED)
"""A case manager's open cases, oldest first: the states they have reached by now."""
REFERRED_AFTER = (0, 0, 1, 1, 1, 2, 2, 3, 4, 5)
"""School days from the first day the rules say a student is truant to her referral: counselors
read the list of truant students most days."""
WATERBURY = ZoneInfo("America/New_York")


def cases_for(case_managers: int) -> int:
    """How many cases the demo opens for ``case_managers``: open and closed caseloads, and the
    referrals waiting to be assigned."""
    return case_managers * (OPEN_PER_MANAGER + CLOSED_PER_MANAGER) + unassigned_for(case_managers)


def unassigned_for(case_managers: int) -> int:
    return round(case_managers * UNASSIGNED_PER_MANAGER)


def natural(name: str) -> tuple[str, int]:
    """``cm2`` before ``cm10``: the name's letters, then its number."""
    found = re.fullmatch(r"(.*?)(\d+)", name)
    return (found.group(1), int(found.group(2))) if found else (name, 0)


async def assign_counselor_schools(session: AsyncSession) -> None:
    """The attendance counselors share the district's schools, two each in the default district
    (by school code: counselor1 has DEMO-E1 and DEMO-E2)."""
    if await session.scalar(select(func.count()).select_from(CounselorSchool)):
        return
    schools = (await session.scalars(select(School).order_by(School.code))).all()
    counselors = sorted(
        (await session.scalars(select(User).where(User.role == Role.ATTENDANCE_COUNSELOR))).all(),
        key=lambda u: natural(u.username),
    )
    if not counselors:
        return
    for n, school in enumerate(schools):
        session.add(CounselorSchool(user_id=counselors[n * len(counselors) // len(schools)].id, school_id=school.id))
    await session.flush()


@dataclass(frozen=True)
class Eligible:
    """A referral the rules found eligible on its day: the student truant then, and why."""

    student_id: uuid.UUID
    school_id: uuid.UUID | None
    number: str
    day: date
    truancy: TruantStatus


async def referrals_the_rules_allow(
    session: AsyncSession, school_days: Sequence[date], seed: int = 20251001, progress: Progress | None = None
) -> list[Eligible]:
    """Every student truant on the last of ``school_days`` (the school days held so far), referred
    on a school day shortly after the first day the rules said she was truant, and eligible on
    the referral's day by the rules' own answer for that day. In referral order.

    The rules are asked about each school day in turn (``rules.truant_students``, for the
    students not known to be truant yet): that is what finding the first day takes.
    """
    if not school_days:
        return []
    last = school_days[-1]
    everyone = await session.scalar(select(func.count()).select_from(Student)) or 0
    now_truant, _ = await rules.truant_students(session, Student.id.is_not(None), last, limit=everyone + 1)
    # Nobody is truant before the absence that made her so: the rules are asked from then on (an
    # absence without a note counts only once its documentation window closes, one with a note the
    # state does not accept as soon as the note arrives; the rules decide).
    ask_from = {t.student_id: t.became_truant_on for t in now_truant}
    ids = literal(list(ask_from), ARRAY(UUID(as_uuid=True)))
    rows = await session.execute(
        select(Student.id, Student.school_id, Student.student_number).where(Student.id == any_(ids))
    )
    student = {sid: (school, number) for sid, school, number in rows}
    rng = random.Random(seed)
    known: set[uuid.UUID] = set()
    planned: dict[date, list[uuid.UUID]] = defaultdict(list)
    found: dict[uuid.UUID, tuple[date, TruantStatus]] = {}
    for n, day in enumerate(school_days):
        new = sorted(
            (s for s, first in ask_from.items() if first <= day and s not in known), key=lambda s: student[s][1]
        )
        due = planned.pop(day, [])
        if not new and not due:
            continue
        truant = {t.student_id: t for t in await _truant_on(session, [*new, *due], day)}
        for sid in new:  # in student number order: the same referral days on every machine
            if sid not in truant:
                continue
            known.add(sid)
            referred = school_days[min(n + rng.choice(REFERRED_AFTER), len(school_days) - 1)]
            if referred == day:
                found[sid] = (day, truant[sid])
            else:
                planned[referred].append(sid)
        for sid in due:  # the referral's own day: eligible then (the rules never forget a truancy)
            if sid in truant:
                found[sid] = (day, truant[sid])
        if progress is not None:
            progress("referrals", n + 1, len(school_days))
    out = [Eligible(sid, *student[sid], *found[sid]) for sid in found]
    return sorted(out, key=lambda e: (e.day, e.number))


async def _truant_on(session: AsyncSession, students: list[uuid.UUID], day: date) -> list[TruantStatus]:
    ids = literal(students, ARRAY(UUID(as_uuid=True)))
    found, _ = await rules.truant_students(session, Student.id == any_(ids), day, limit=len(students))
    return found


async def load_cases(
    session: AsyncSession, year: DemoYear, progress: Progress | None = None, case_managers: int | None = None
) -> int:
    """Refer truant students and open their cases (``case_managers`` caseloads: default, one for
    every case manager); returns how many cases were opened. Every date lies before
    ``year.today``: cases opened over the weeks before, their casework after that."""
    await assign_counselor_schools(session)
    managers = sorted(
        (await session.scalars(select(User).where(User.role == Role.CASE_MANAGER))).all(),
        key=lambda u: natural(u.username),
    )[:case_managers]
    if not managers or await session.scalar(select(func.count()).select_from(Case)):
        return 0
    school_days = year.attended_days()
    eligible = await referrals_the_rules_allow(session, school_days, progress=progress)
    rng = random.Random(20251001)
    wanted = cases_for(len(managers))
    if len(eligible) > wanted:  # the rest are on the counselors' lists, not referred yet
        eligible = sorted(rng.sample(eligible, wanted), key=lambda e: (e.day, e.number))
    counselor_of = dict((await session.execute(select(CounselorSchool.school_id, CounselorSchool.user_id))).all())
    fallback = await session.scalar(select(User.id).where(User.role == Role.ATTENDANCE_COUNSELOR).order_by(User.id))
    now = datetime.combine(year.today, time(8, 0), tzinfo=UTC)

    waiting = min(unassigned_for(len(managers)), len(eligible))
    plan: list[tuple[Eligible, User | None, CaseStatus]] = [
        (e, None, CaseStatus.REFERRED) for e in eligible[len(eligible) - waiting :]
    ]
    worked = eligible[: len(eligible) - waiting]
    for n, manager in enumerate(managers):
        hers = worked[n :: len(managers)]  # each case manager's cases opened over the whole span
        closed = min(CLOSED_PER_MANAGER, len(hers) // 4)
        plan += [(e, manager, CaseStatus.CLOSED) for e in hers[:closed]]
        still = hers[closed:]
        plan += [(e, manager, BY_AGE[i * len(BY_AGE) // len(still)]) for i, e in enumerate(still)]

    cases: list[dict[str, Any]] = []
    referrals: list[dict[str, Any]] = []
    work = _Casework()
    for n, (e, owner, status) in enumerate(plan, start=1):
        opened = _local(e.day, rng.randrange(8 * 60 + 30, 15 * 60 + 30))
        case_id = _uuid("case", e.number)
        case: dict[str, Any] = {
            "id": case_id,
            "student_id": e.student_id,
            "school_id": e.school_id,
            "status": status.value,
            "case_manager_id": owner.id if owner else None,
            "opened_at": opened,
            "created_at": opened,
        }
        if status == CaseStatus.CLOSED:
            case["closed_at"] = opened + (now - opened) / 2
            case["outcome"] = rng.choice([CaseOutcome.IMPROVED, CaseOutcome.NOT_IMPROVED, CaseOutcome.MOVED]).value
            case["close_reason"] = "Demo: attendance reviewed at closing"
        cases.append(case)
        counselor = (counselor_of.get(e.school_id) if e.school_id else None) or fallback
        if counselor is not None:
            referral_id = _uuid("referral", e.number)
            reason = _reason(rng, e.truancy)
            referrals.append(
                {
                    "id": referral_id,
                    "student_id": e.student_id,
                    "school_id": e.school_id,
                    "counselor_id": counselor,
                    "reason": reason,
                    "status": ReferralStatus.ELIGIBLE.value,
                    "case_id": case_id,
                    "content_hash": content_hash(ReferralIn(id=referral_id, student_id=e.student_id, reason=reason)),
                    "created_at": opened,
                    "updated_at": opened,
                }
            )
        if owner is not None:
            work.add(rng, case, e.student_id, owner.id, status, opened, case.get("closed_at") or now, now)
        if progress is not None:
            progress("cases", n, len(plan))
    await _closing_summaries(session, [c for c in cases if c.get("closed_at")])
    await insert_rows(session, Case, cases)
    await insert_rows(session, Referral, referrals)
    await insert_rows(session, ContactAttempt, work.contacts)
    await insert_rows(session, FollowUp, work.follow_ups)
    if school_days:  # the district was evaluated before these cases opened: they take its summaries
        await case_truancy.refresh(session, school_days[-1])
    return len(cases)


def _reason(rng: random.Random, truancy: TruantStatus) -> str:
    """What a counselor writes: the rule the student met (as the list of truant students says it),
    and what the school saw."""
    rule = (
        f"Truant by the {truancy.rules[0].rule.value} rule: {truancy.rules[0].explanation}"
        if truancy.rules
        else "Truant"
    )
    seen = rng.choice(
        (
            "The school could not reach the family by phone.",
            "The teacher says mornings are the problem; the family asked for help.",
            "Calls home went unanswered; the letter came back.",
            "The parent says the child refuses to go some days.",
            "Older sibling is also missing days; the family moved this fall.",
        )
    )
    return f"{rule}. {seen}"


async def _closing_summaries(session: AsyncSession, closed: list[dict[str, Any]]) -> None:
    """A closed case keeps the summary it had when it closed (the evaluation writes open cases
    only): its student's as of the day it closed (``case_truancy.summary_of_report``), set on the
    case's row before it is written."""
    wanted = {case["id"]: (case["student_id"], case["closed_at"].astimezone(WATERBURY).date()) for case in closed}
    reports = await rules.truancy_reports(session, wanted.values())
    years: dict[str, date] = {}
    for case in closed:
        report = reports[wanted[case["id"]]]
        if report is None:
            continue
        if report.school_year not in years:
            year = await rules_repo.school_year_by_name(session, report.school_year)
            assert year is not None
            years[report.school_year] = year.starts_on
        case["truancy"] = case_truancy.summary_of_report(report, years[report.school_year])


@dataclass
class _Casework:
    """The contacts and follow-ups of the cases, as rows."""

    contacts: list[dict[str, Any]] = field(default_factory=list)
    follow_ups: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        rng: random.Random,
        case: dict[str, Any],
        student_id: uuid.UUID,
        manager: uuid.UUID,
        status: CaseStatus,
        opened: datetime,
        ends: datetime,
        now: datetime,
    ) -> None:
        """Contacts and a follow-up in keeping with how far along the case is, spread over the
        case's life so far (it ends at ``ends``: its closing, or ``now``). Home visits become
        visit logs with their notes (``server.demo.visits``); assessments, referrals to resources
        and meetings come with ``server.demo.casework``."""
        if status in (CaseStatus.REFERRED, CaseStatus.ASSIGNED):
            return
        key = str(case["id"])
        span = (ends - opened) / 8  # the contacts fill the first part of the case's life
        steps = {CaseStatus.CONTACTING: 2, CaseStatus.ACTIVE: 4, CaseStatus.MONITORING: 5, CaseStatus.CLOSED: 5}[status]
        for i in range(steps):
            method = [ContactMethod.PHONE, ContactMethod.LETTER, ContactMethod.HOME_VISIT][min(i, 2)]
            outcome = {
                ContactMethod.PHONE: rng.choice(
                    [ContactOutcome.NO_ANSWER, ContactOutcome.LEFT_MESSAGE, ContactOutcome.REACHED]
                ),
                ContactMethod.LETTER: ContactOutcome.LETTER_SENT,
                ContactMethod.HOME_VISIT: rng.choice([ContactOutcome.FAMILY_MET, ContactOutcome.NO_ONE_HOME]),
            }[method]
            at = opened + span * (i + 1) + timedelta(minutes=rng.randrange(0, 120))
            self.contacts.append(
                {
                    "id": _uuid("contact", f"{key}-{i}"),
                    "case_id": case["id"],
                    "method": method.value,
                    "outcome": outcome.value,
                    "at": at,
                    "created_by": manager,
                    "created_at": at,
                }
            )
        if status != CaseStatus.CLOSED:
            self.follow_ups.append(
                {
                    "id": _uuid("follow", key),
                    "student_id": student_id,
                    "case_id": case["id"],
                    "kind": FollowUpKind.FOLLOW_UP.value,
                    "title": "Check in with the family about attendance",
                    "due_on": now.date() + timedelta(days=rng.randrange(-14, 45)),  # a few overdue
                    "created_by": manager,
                    "created_at": opened + span * steps,
                }
            )


async def insert_rows(session: AsyncSession, model: type[Base], rows: Iterable[dict[str, Any]]) -> None:
    """``COPY`` the rows into the model's table (rows with the same columns together), on the
    session's connection, in its transaction; a column a row leaves out takes the model's Python
    default, else the table's. Not an executemany: that runs the INSERT once per row, and so the
    tables' statement-level triggers (the sync log, a case's list of follow-ups) once per row too
    (the 14,000 cases of 500 case managers took a minute); ``COPY`` fires them once."""
    table = model.__table__
    assert isinstance(table, Table)
    json = {c.key for c in table.columns if isinstance(c.type, JSONB)}
    defaults = {
        c.key: c.default.arg
        for c in table.columns
        if isinstance(c.default, ScalarElementColumnDefault) and c.server_default is None
    }
    groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        full = defaults | row
        columns = tuple(sorted(full))
        groups[columns].append(tuple(_encode(full[c]) if c in json else full[c] for c in columns))
    if not groups:
        return
    connection = await (await session.connection()).get_raw_connection()
    driver: Any = connection.driver_connection
    for columns, records in groups.items():
        await driver.copy_records_to_table(table.name, records=records, columns=list(columns))


def _encode(value: Any) -> str | None:
    """A JSONB value as its text, what the connection's codec sends (``msgspec``: dates, ids)."""
    return None if value is None else msgspec.json.encode(value).decode()


def row_of(record: Base) -> dict[str, Any]:
    """An ORM object's set columns, for ``insert_rows``."""
    return {c.key: getattr(record, c.key) for c in inspect(type(record)).column_attrs if c.key in record.__dict__}


def _local(day: date, minutes: int) -> datetime:
    """``minutes`` after midnight of ``day`` in Waterbury, in UTC."""
    return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=WATERBURY).astimezone(UTC)


def _uuid(kind: str, key: str) -> uuid.UUID:
    """Stable ids, so the demo is the same on every machine."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"doorstep-demo:{kind}:{key}")
