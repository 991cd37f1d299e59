"""Demo field records: a visit log for every home visit of the demo caseloads, reconciled as a
phone's would be.

Each home-visit contact attempt (``server.demo.cases``) made while its case was open becomes the
visit log of that visit:
checked in at the door, checked out with the contact's outcome, its flags computed by the same
functions a push uses (``sync.flags``) and its truancy context the report the rules give for the
visit's date (``server.visits.context``'s answer, built set-based:
``server.rules.service.truancy_reports``). Most visits are clean; some fixes are far from home
(``location_mismatch``), some poor (``location_low_accuracy``), some missing
(``location_missing``); one visit was made by cm1 on a case that went to cm5 meanwhile
(``case_reassigned``, listed for both supervisors).

Each visit checked out has its case manager's note, and the note says what the visit found: a
conversation with the family where she met them, a door hanger left where no one was home (a
visit never checked out, the phone dead at the door, has none). One of cm1's notes has an
addendum, and one follow-up is completed. Photos come with the uploads work.

Deterministic (seeded) and idempotent: nothing is added once any visit log exists.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cases import CaseStatus, ContactMethod, FollowUpKind, VisitFlag, VisitLogStatus, VisitOutcome
from server.auth.models import User
from server.cases.models import Case, ContactAttempt, FollowUp, VisitLog, VisitNote, VisitNoteAddendum
from server.demo.cases import _uuid, insert_rows, row_of
from server.demo.district import DemoYear
from server.rules import service as rules
from server.students.models import Household, Student
from server.visits import context
from sync import flags

Progress = Callable[[str, int, int], None]

METRES_PER_DEGREE = 2 * math.pi * flags.EARTH_RADIUS_M / 360


@dataclass(frozen=True)
class _Fix:
    latitude: float
    longitude: float
    accuracy_m: float

    def location(self) -> flags.Location:
        return flags.Location(self.latitude, self.longitude, self.accuracy_m)


def _near(rng: random.Random, home: tuple[float, float], metres: float, accuracy: float) -> _Fix:
    """A fix ``metres`` from home in a random direction."""
    bearing = rng.uniform(0, 2 * math.pi)
    north, east = metres * math.cos(bearing), metres * math.sin(bearing)
    lat = home[0] + north / METRES_PER_DEGREE
    lon = home[1] + east / (METRES_PER_DEGREE * math.cos(math.radians(home[0])))
    return _Fix(round(lat, 6), round(lon, 6), round(accuracy, 1))


def _check_in_fix(rng: random.Random, home: tuple[float, float] | None) -> _Fix | None:
    """Most fixes at the door; about one in ten far off, one in twelve poor, one in fourteen missing."""
    if home is None:
        return None
    draw = rng.random()
    if draw < 0.10:
        return _near(rng, home, rng.uniform(350, 1200), rng.uniform(8, 40))  # location_mismatch
    if draw < 0.18:
        return _near(rng, home, rng.uniform(10, 80), rng.uniform(120, 400))  # location_low_accuracy
    if draw < 0.25:
        return None  # location_missing: no signal in the stairwell
    return _near(rng, home, rng.uniform(3, 60), rng.uniform(4, 35))


def _case_file(case: Case) -> flags.CaseFile:
    manager = str(case.case_manager_id) if case.case_manager_id else None
    return flags.CaseFile(manager, case.status, case.opened_at, case.closed_at)


def _visit(
    rng: random.Random,
    visit_id: uuid.UUID,
    case: Case,
    author: uuid.UUID,
    at: datetime,
    home: tuple[float, float] | None,
    outcome: VisitOutcome,
    fix: _Fix | None,
) -> VisitLog:
    """A visit checked in at ``at`` (most checked out), flagged as a push would flag it."""
    found, distance = flags.location_flags(fix.location() if fix else None, home)
    found += flags.case_flags(_case_file(case), str(author), at)
    received = at + timedelta(hours=rng.randrange(1, 30))  # the phone synced later that day or the next
    found += flags.time_flags(at, received)
    visit = VisitLog(
        id=visit_id,
        case_id=case.id,
        created_by=author,
        status=VisitLogStatus.OPEN,
        checked_in_at=at,
        latitude=fix.latitude if fix else None,
        longitude=fix.longitude if fix else None,
        accuracy_m=fix.accuracy_m if fix else None,
        altitude_m=round(rng.uniform(80, 260), 1) if fix else None,
        distance_m=round(distance, 1) if distance is not None else None,
    )
    if rng.random() < 0.92:  # a few were never checked out (the phone died at the door)
        out_fix = None
        if fix is not None and home is not None and rng.random() < 0.85:
            far = VisitFlag.LOCATION_MISMATCH in found
            out_fix = _near(rng, home, rng.uniform(400, 900) if far else rng.uniform(3, 50), rng.uniform(4, 30))
        found += flags.check_out_flags(out_fix.location() if out_fix else None, home)
        visit.status = VisitLogStatus.CHECKED_OUT
        visit.checked_out_at = at + timedelta(minutes=rng.randrange(12, 70))
        visit.outcome = outcome
        visit.out_latitude = out_fix.latitude if out_fix else None
        visit.out_longitude = out_fix.longitude if out_fix else None
        visit.out_accuracy_m = out_fix.accuracy_m if out_fix else None
    visit.flags = flags.ordered(found)
    return visit


async def load_visits(session: AsyncSession, year: DemoYear, progress: Progress | None = None) -> int:
    """Log the demo caseloads' home visits, with their notes; returns how many visit logs were created."""
    if await session.scalar(select(func.count()).select_from(VisitLog)):
        return 0
    rows = (
        await session.execute(
            select(ContactAttempt, Case, Household.latitude, Household.longitude)
            .join(Case, Case.id == ContactAttempt.case_id)
            .join(Student, Student.id == Case.student_id)
            .outerjoin(Household, Household.id == Student.household_id)
            .where(ContactAttempt.method == ContactMethod.HOME_VISIT, ContactAttempt.created_by.is_not(None))
            .order_by(ContactAttempt.at, ContactAttempt.id)
        )
    ).all()
    if not rows:
        return 0
    rng = random.Random(20261101)
    now = datetime.combine(year.today, time(8, 0), tzinfo=UTC)
    visits: list[VisitLog] = []
    student_of: dict[uuid.UUID, uuid.UUID] = {}
    for contact, case, lat, lon in rows:
        if case.closed_at is not None and contact.at >= case.closed_at:
            continue  # no one visits a closed case's family
        home = (lat, lon) if lat is not None and lon is not None else None
        author = contact.created_by
        assert author is not None
        outcome = VisitOutcome(contact.outcome)
        visit_id = _uuid("visit", str(contact.id))
        visits.append(_visit(rng, visit_id, case, author, contact.at, home, outcome, _check_in_fix(rng, home)))
        student_of[case.id] = case.student_id
    moved = await _on_a_case_reassigned_meanwhile(session, rng, now)
    student_of |= {case_id: student for case_id, student in moved[1].items()}
    everything = visits + moved[0]
    day = {v.id: context.visit_date(v.checked_in_at) for v in everything}
    found = await rules.truancy_reports(session, ((student_of[v.case_id], day[v.id]) for v in everything))
    for n, visit in enumerate(everything, start=1):
        report = found[(student_of[visit.case_id], day[visit.id])]
        visit.truancy = msgspec.to_builtins(report) if report is not None else None
        if progress is not None:
            progress("visits", n, len(everything))
    await insert_rows(session, VisitLog, (row_of(v) for v in everything))
    managers = dict(
        (await session.execute(select(Case.id, Case.case_manager_id).where(Case.id.in_(list(student_of))))).all()
    )
    await _notes_and_follow_ups(session, rng, [v for v in visits if v.created_by == managers.get(v.case_id)], now)
    return len(everything)


async def _on_a_case_reassigned_meanwhile(
    session: AsyncSession, rng: random.Random, now: datetime
) -> tuple[list[VisitLog], dict[uuid.UUID, uuid.UUID]]:
    """cm1 visited a family whose case went to cm5 (the other team) before her phone synced."""
    cm1 = await session.scalar(select(User.id).where(User.username == "cm1"))
    found = (
        await session.execute(
            select(Case, Household.latitude, Household.longitude)
            .join(User, User.id == Case.case_manager_id)
            .join(Student, Student.id == Case.student_id)
            .outerjoin(Household, Household.id == Student.household_id)
            .where(User.username == "cm5", Case.status == CaseStatus.ACTIVE)
            .order_by(Case.opened_at, Case.id)
            .limit(1)
        )
    ).first()
    if cm1 is None or found is None:
        return [], {}
    case, lat, lon = found
    home = (lat, lon) if lat is not None and lon is not None else None
    at = case.opened_at + (now - case.opened_at) / 3
    fix = _near(rng, home, 20, 9) if home else None
    visit = _visit(rng, _uuid("visit", f"reassigned-{case.id}"), case, cm1, at, home, VisitOutcome.FAMILY_MET, fix)
    return [visit], {case.id: case.student_id}


MET_NOTES = (
    "Demo note: met with the family at home; went over the attendance policy and the absences so far. "
    "The parent agreed to call the school by 8:30 on any day the child stays home.",
    "Demo note: met with the family at home; talked through the morning routine. The child says the bus "
    "comes too early; we will look at the walking route together.",
    "Demo note: met with the family at home; the parent did not know how many days were missed. Left the "
    "absence count and the program's number.",
    "Demo note: met with the family at home; the grandmother helps most mornings. Agreed on an alarm and a "
    "packed bag the night before.",
)
NO_ONE_HOME_NOTES = (
    "Demo note: no one was home; left a door hanger with the program's number and the attendance policy, "
    "and will call the family again.",
    "Demo note: no one was home; a neighbour said the family works early shifts. Left a door hanger and "
    "will try in the late afternoon.",
    "Demo note: no one was home; left a door hanger asking the parent to call, and a note for the school counselor.",
)


async def _notes_and_follow_ups(
    session: AsyncSession, rng: random.Random, visits: list[VisitLog], now: datetime
) -> None:
    """A note for each visit the case manager checked out of, saying what the visit found; an
    addendum on one of cm1's notes on a visit where no one was home; one follow-up completed."""
    notes: list[VisitNote] = []
    for visit in visits:
        if visit.outcome is None or visit.checked_out_at is None:
            continue  # never checked out: the phone died at the door
        written = visit.checked_out_at + timedelta(minutes=rng.randrange(5, 90))
        body = rng.choice(MET_NOTES if visit.outcome == VisitOutcome.FAMILY_MET else NO_ONE_HOME_NOTES)
        notes.append(
            VisitNote(
                id=_uuid("note", str(visit.id)),
                case_id=visit.case_id,
                author_id=visit.created_by,
                body=body,
                status="submitted",
                submitted_at=written,
                visit_log_id=visit.id,
                created_at=written,
            )
        )
    await insert_rows(session, VisitNote, (row_of(n) for n in notes))
    cm1 = await session.scalar(select(User.id).where(User.username == "cm1"))
    no_one_home = {v.id for v in visits if v.outcome == VisitOutcome.NO_ONE_HOME}
    hers = [n for n in notes if n.author_id == cm1 and n.visit_log_id in no_one_home]
    if hers:
        first = min(hers, key=lambda n: (n.submitted_at, n.id))
        assert first.submitted_at is not None
        session.add(
            VisitNoteAddendum(
                id=_uuid("addendum", str(first.id)),
                note_id=first.id,
                author_id=first.author_id,
                body="Demo addendum: the mother called back the next day; the bus pass arrived and the "
                "children were in school all week.",
                created_at=first.submitted_at + timedelta(days=1),
            )
        )
    follow_up = await session.scalar(
        select(FollowUp)
        .join(Case, Case.id == FollowUp.case_id)
        .where(
            Case.case_manager_id == cm1,
            FollowUp.kind == FollowUpKind.FOLLOW_UP,  # a meeting the rules require is done by holding it
            FollowUp.completed_at.is_(None),
        )
        .order_by(FollowUp.due_on, FollowUp.id)
        .limit(1)
    )
    if follow_up is not None:
        follow_up.completed_at = now - timedelta(days=1, hours=-7)
        follow_up.completed_by = cm1
        follow_up.note = "Demo: called the family; attendance improving, next check in a month."
        follow_up.version += 1
    await session.flush()
