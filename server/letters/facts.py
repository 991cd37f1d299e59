"""What a letter says, gathered from the database as of its date, for many students at once.

Every number comes from the rules engine as of the letter's date (``server.rules``): the total of
every absence this school year, the unexcused ones with their days, and the median total of the
student's classmates (the same grade at the same school, the student left out), which Rogers &
Feller found parents need to see beside their own child's. A batch of thousands costs a handful of
set-based statements, not one per student.
"""

from __future__ import annotations

import statistics
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, RowMapping, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.letters import LetterContent, Letterhead, LetterKind, Sibling
from server.auth.models import User
from server.cases.models import Case, FollowUp
from server.letters import language
from server.rules import repository as rules_repo
from server.rules.rulesets import effective
from server.rules.service import school_year_for
from server.schools.models import School, SchoolYear
from server.settings import Settings
from server.students.models import Guardian, Household, Student


@dataclass(frozen=True)
class Wanted:
    """One letter to gather: its student and kind, and what the person asking gave."""

    student_id: uuid.UUID
    kind: LetterKind
    case_id: uuid.UUID | None = None
    language: str | None = None
    meeting_at: datetime | None = None
    meeting_place: str | None = None
    body: str | None = None


@dataclass(frozen=True)
class Gathered:
    content: LetterContent
    requested_language: str | None
    """What the household's record (or the request) said."""
    fallback: bool


@dataclass(frozen=True)
class Year:
    """A school year's rules as of a day: what ``statuses`` needs."""

    row: SchoolYear
    params: dict[str, Any]


async def year_of(session: AsyncSession, as_of: date) -> Year:
    """The school year containing ``as_of`` with its rules (``OutsideSchoolYear`` if none)."""
    row = await school_year_for(session, as_of)
    values = (await effective(session, row)).values
    return Year(row, rules_repo.rule_params(row.id, as_of, values))


def letterhead(settings: Settings) -> Letterhead:
    return Letterhead(
        name=settings.letterhead_name,
        program=settings.letterhead_program,
        address_lines=list(settings.letterhead_address),
        phone=settings.letterhead_phone,
        website=settings.letterhead_website,
    )


def address_lines(address: str | None) -> list[str]:
    """A roster's one-line address as envelope lines: the street part, then "City, ST ZIP" (the
    last two comma-separated parts); an address with line breaks keeps its own lines."""
    if not address or not address.strip():
        return []
    if "\n" in address:
        return [line.strip() for line in address.splitlines() if line.strip()]
    parts = [p.strip() for p in address.split(",") if p.strip()]
    if len(parts) <= 2:
        return [", ".join(parts)] if len(parts) == 1 else [parts[0], parts[1]]
    return [", ".join(parts[:-2]), ", ".join(parts[-2:])]


async def gather(
    session: AsyncSession,
    settings: Settings,
    year: Year,
    wanted: Sequence[Wanted],
    statuses: dict[uuid.UUID, RowMapping] | None = None,
) -> list[Gathered]:
    """The content of each wanted letter as of ``year.params['as_of']``. ``statuses``: every
    student's (``rules_repo.statuses``) when the caller has them already (a batch), else read here
    for the students, their classmates and their siblings."""
    as_of: date = year.params["as_of"]
    ids = list(dict.fromkeys(w.student_id for w in wanted))
    students = {s.id: s for s in await session.scalars(select(Student).where(Student.id.in_(ids)))}
    households = [s.household_id for s in students.values() if s.household_id]
    groups = {(s.school_id, s.grade) for s in students.values() if s.school_id}
    related_filter: list[ColumnElement[bool]] = [Student.household_id.in_(households)] if households else []
    related_filter += [(Student.school_id == school) & (Student.grade == grade) for school, grade in groups]
    related = (
        list(
            (
                await session.execute(
                    select(
                        Student.id, Student.first_name, Student.school_id, Student.grade, Student.household_id
                    ).where(Student.deleted_at.is_(None), or_(*related_filter))
                )
            ).all()
        )
        if related_filter
        else []
    )
    if statuses is None:
        statuses = await rules_repo.statuses(session, year.params, list({r.id for r in related} | set(ids)))
    absences = {sid: int(row["absences"]) for sid, row in statuses.items()}
    by_group: dict[tuple[Any, Any], list[tuple[uuid.UUID, int]]] = defaultdict(list)
    by_household: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for r in related:
        if r.id in absences:
            by_group[(r.school_id, r.grade)].append((r.id, absences[r.id]))
        if r.household_id:
            by_household[r.household_id].append(r)
    unexcused: dict[uuid.UUID, list[date]] = defaultdict(list)
    for sid, day in await rules_repo.unexcused_days(session, ids, year.params):
        unexcused[sid].append(day)
    homes = {h.id: h for h in await session.scalars(select(Household).where(Household.id.in_(households)))}
    guardians: dict[uuid.UUID, str] = {}
    for g in await session.scalars(
        select(Guardian).where(Guardian.household_id.in_(households)).order_by(Guardian.name, Guardian.id)
    ):
        guardians.setdefault(g.household_id, g.name)
    schools = {s.id: s.name for s in await session.scalars(select(School))}
    case_ids = [w.case_id for w in wanted if w.case_id]
    managers: dict[uuid.UUID, tuple[str, str | None]] = {}
    if case_ids:
        rows = await session.execute(
            select(Case.id, User.display_name, User.phone)
            .join(User, User.id == Case.case_manager_id)
            .where(Case.id.in_(case_ids))
        )
        managers = {case_id: (name, phone) for case_id, name, phone in rows}
    due_on: dict[uuid.UUID, date] = {}
    for student_id, day in await session.execute(
        select(FollowUp.student_id, FollowUp.due_on)
        .where(FollowUp.student_id.in_(ids), FollowUp.kind == "parent_meeting", FollowUp.status == "open")
        .order_by(FollowUp.due_on.desc())
    ):
        due_on[student_id] = day  # the earliest open deadline wins (rows come latest first)
    head = letterhead(settings)
    zone = ZoneInfo(settings.time_zone)
    out = []
    for w in wanted:
        student = students[w.student_id]
        home = homes.get(student.household_id) if student.household_id else None
        raw_language = w.language or (home.language if home else None)
        used, fallback, _code = language.pick(raw_language)
        peers = [n for sid, n in by_group.get((student.school_id, student.grade), []) if sid != student.id]
        siblings = [
            Sibling(first_name=r.first_name, school=schools.get(r.school_id, ""), absences=absences.get(r.id, 0))
            for r in sorted(
                by_household[student.household_id] if student.household_id else [], key=lambda r: r.first_name
            )
            if r.id != student.id
        ]
        manager = managers.get(w.case_id) if w.case_id else None
        content = LetterContent(
            kind=w.kind,
            language=used,
            as_of=as_of,
            letterhead=head,
            guardian_name=guardians.get(student.household_id) if student.household_id else None,
            address_lines=address_lines(home.address if home else None),
            student_first_name=student.first_name,
            school=schools.get(student.school_id, "") if student.school_id else "",
            grade=student.grade,
            total_absences=absences.get(student.id, 0),
            unexcused_dates=unexcused.get(student.id, []),
            classmates_median=float(statistics.median(peers)) if peers else None,
            classmates=len(peers),
            enrolled_days=int(statuses[student.id]["enrolled_days"]) if student.id in statuses else 0,
            meeting_at=w.meeting_at.astimezone(zone).replace(tzinfo=None) if w.meeting_at else None,
            meeting_place=w.meeting_place,
            meeting_due_on=due_on.get(student.id) if w.kind is LetterKind.TRUANCY_NOTICE else None,
            case_manager_name=manager[0] if manager else None,
            case_manager_phone=manager[1] if manager else None,
            siblings=siblings,
            body=w.body,
        )
        out.append(Gathered(content, raw_language, fallback))
    return out
