"""Deterministic demo data, with no real person's data. Loading twice changes nothing.

The default demo is a district of 2,000 students, six schools, three attendance counselors and
8 case managers in two teams. ``load``'s ``case_managers`` makes a bigger one, shaped like a real
district: each case manager has a caseload of about 25 open cases, there is a supervisor for every
8 of them, about 60 students for each, six schools more for each further 2,000 students and an
attendance counselor for every two schools (``demo_users``, ``district.schools_for``).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from server import audit
from server.audit import Actor
from server.auth.models import User
from server.auth.passwords import hash_password
from server.blobs import Blobs
from server.demo import cases as demo_cases
from server.demo import casework as demo_casework
from server.demo import district as demo_district
from server.demo import photos as demo_photos
from server.demo import visits as demo_visits

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DemoUser:
    username: str
    display_name: str
    role: Role
    supervisor: str | None = None
    phone: str | None = None
    """The work number family letters give (555-01xx: numbers kept for fiction)."""


CASE_MANAGERS = 8
"""The default demo's case managers: cm1..cm4 on sup1's team, cm5..cm8 on sup2's."""
TEAM = 8
"""Case managers on a supervisor's team past the default demo's eight."""
STUDENTS_PER_MANAGER = 60


def _manager(i: int, supervisor: str) -> DemoUser:
    return DemoUser(f"cm{i}", f"Demo Case Manager {i}", Role.CASE_MANAGER, supervisor, f"(203) 555-01{i % 100:02d}")


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("admin", "Demo Administrator", Role.ADMIN),
    DemoUser("sup1", "Demo Supervisor One", Role.SUPERVISOR),
    DemoUser("sup2", "Demo Supervisor Two", Role.SUPERVISOR),
    *(_manager(i, "sup1" if i <= 4 else "sup2") for i in range(1, CASE_MANAGERS + 1)),
    DemoUser("office1", "Demo Office Staff", Role.OFFICE_STAFF),
    *(DemoUser(f"counselor{i}", f"Demo Attendance Counselor {i}", Role.ATTENDANCE_COUNSELOR) for i in range(1, 4)),
)


def students_for(case_managers: int) -> int:
    """The district's students: 2,000 (the default), or about 60 for each case manager."""
    return max(demo_district.DEMO_STUDENTS, STUDENTS_PER_MANAGER * case_managers)


def demo_users(case_managers: int = CASE_MANAGERS) -> tuple[DemoUser, ...]:
    """The default demo's users, and past its 8 case managers: cm9 and on in teams of 8 (sup3's,
    sup4's, …), and an attendance counselor for every two schools (counselor4 and on)."""
    if case_managers < CASE_MANAGERS:
        raise ValueError(f"the demo has at least {CASE_MANAGERS} case managers")
    extra = range(CASE_MANAGERS + 1, case_managers + 1)
    teams = -(-len(extra) // TEAM)
    counselors = len(demo_district.schools_for(students_for(case_managers))) // 2
    return (
        *DEMO_USERS,
        *(DemoUser(f"sup{2 + t}", f"Demo Supervisor {2 + t}", Role.SUPERVISOR) for t in range(1, teams + 1)),
        *(_manager(i, f"sup{3 + (i - CASE_MANAGERS - 1) // TEAM}") for i in extra),
        *(
            DemoUser(f"counselor{i}", f"Demo Attendance Counselor {i}", Role.ATTENDANCE_COUNSELOR)
            for i in range(4, counselors + 1)
        ),
    )


@dataclass(frozen=True)
class DemoResult:
    created: int
    password: str | None
    """The shared password of newly created users; None when nothing was created."""
    students: int = 0
    """Students of the synthetic district created by this load (0: it was there already, or not asked for)."""
    cases: int = 0
    """Demo cases opened by this load."""
    visits: int = 0
    """Demo visit logs made by this load."""
    year: str = ""
    """The demo school year (``2026-2027``)."""
    through: date | None = None
    """The last school day with attendance (the one before the demo's day), if any."""
    photos: int = 0
    """Photos of signed forms added by this load (with ``blobs`` only)."""
    casework: demo_casework.CaseworkResult = demo_casework.CaseworkResult()
    """The directory's resources and the casework (assessments, referrals, meetings, follow-ups) added."""
    users: tuple[str, ...] = ()
    """The usernames created by this load, in order."""


def describe_users(usernames: Sequence[str]) -> str:
    """``admin, sup1, sup2, cm1..cm8, office1, counselor1..counselor3``: numbered names in a row
    said as a range."""
    groups: list[tuple[str, list[int]]] = []
    for name in usernames:
        stem, number = demo_cases.natural(name)
        if groups and groups[-1][0] == stem and number and groups[-1][1][-1] == number - 1:
            groups[-1][1].append(number)
        else:
            groups.append((stem, [number] if number else []))
    said = []
    for stem, numbers in groups:
        if len(numbers) > 2:
            said.append(f"{stem}{numbers[0]}..{stem}{numbers[-1]}")
        else:
            said += [f"{stem}{n}" for n in numbers] or [stem]
    return ", ".join(said)


def demo_password(configured: str | None) -> str:
    return configured or secrets.token_urlsafe(12)


async def load(
    session: AsyncSession,
    password: str,
    progress: Progress | None = None,
    *,
    district: bool = True,
    today: date | None = None,
    blobs: Blobs | None = None,
    case_managers: int = CASE_MANAGERS,
) -> DemoResult:
    """Create every demo user that does not exist yet; existing users are left alone.

    With ``district`` (the default), also the synthetic district (once): the school year that
    contains ``today`` (default: the real today), with attendance through the school day before
    it, about 25 open cases for each of ``case_managers``, each opened when its student's referral
    was made, on a school day shortly after the rules found her truant; the visit logs of their
    home visits with their notes, the directory of community resources and the casework on the
    cases (assessments, referrals, parent meetings, follow-ups), and (with ``blobs``) photos of
    signed forms on them. The first load decides the district's size: a second one adds users
    only.
    """
    users = demo_users(case_managers)
    created = await _create_users(session, users, password, progress)
    year = demo_district.DemoYear.containing(today or date.today())
    students = 0
    cases = visits = photos = 0
    casework = demo_casework.CaseworkResult()
    if district:
        count = students_for(case_managers)
        # Enough truant students for every caseload, and some the counselors have still to refer.
        share = min(0.6, 1.3 * demo_cases.cases_for(case_managers) / count)
        students = await demo_district.load(session, year, progress, students=count, truant_share=share)
        cases = await demo_cases.load_cases(session, year, progress, case_managers)
        visits = await demo_visits.load_visits(session, year, progress)
        casework = await demo_casework.load_casework(session, year, progress)
        photos = await demo_photos.load_photos(session, blobs) if blobs is not None else 0
    attended = year.attended_days()
    return DemoResult(
        created=len(created),
        password=password if created else None,
        students=students,
        cases=cases,
        visits=visits,
        year=year.name,
        through=attended[-1] if attended else None,
        photos=photos,
        casework=casework,
        users=created,
    )


async def _create_users(
    session: AsyncSession, users: Sequence[DemoUser], password: str, progress: Progress | None
) -> tuple[str, ...]:
    """The users not there yet, as ``auth.create_user`` makes them (audited ``user.create``), all
    with one hash of the shared password: one argon2 hash costs half a second, and a district of
    500 case managers has over 600 users."""
    present = set((await session.scalars(select(func.lower(User.username)))).all())
    missing = [u for u in users if u.username.lower() not in present]
    if not missing:
        if progress is not None:
            progress("users", len(users), len(users))
        return ()
    password_hash = await hash_password(password)
    ids = dict((await session.execute(select(User.username, User.id))).all())
    ids |= {u.username: uuid.uuid4() for u in missing}
    actor = Actor.system()
    rows = []
    for demo in missing:  # supervisors come before their teams
        rows.append(
            {
                "id": ids[demo.username],
                "username": demo.username,
                "display_name": demo.display_name,
                "role": demo.role.value,
                "password_hash": password_hash,
                "supervisor_id": ids[demo.supervisor] if demo.supervisor else None,
                "phone": demo.phone,
            }
        )
        audit.record(
            session,
            actor,
            "user.create",
            "user_account",
            ids[demo.username],
            username=demo.username,
            role=demo.role.value,
        )
    await session.execute(insert(User), rows)
    await session.flush()
    if progress is not None:
        progress("users", len(users), len(users))
    return tuple(u.username for u in missing)
