"""Deterministic demo data, with no real person's data. Loading twice changes nothing."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from server.audit import Actor
from server.auth import repository as repo
from server.auth import service as auth
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


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("admin", "Demo Administrator", Role.ADMIN),
    DemoUser("sup1", "Demo Supervisor One", Role.SUPERVISOR),
    DemoUser("sup2", "Demo Supervisor Two", Role.SUPERVISOR),
    *(
        DemoUser(
            f"cm{i}", f"Demo Case Manager {i}", Role.CASE_MANAGER, "sup1" if i <= 4 else "sup2", f"(203) 555-01{i:02d}"
        )
        for i in range(1, 9)
    ),
    DemoUser("office1", "Demo Office Staff", Role.OFFICE_STAFF),
    *(DemoUser(f"counselor{i}", f"Demo Attendance Counselor {i}", Role.ATTENDANCE_COUNSELOR) for i in range(1, 4)),
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
) -> DemoResult:
    """Create every demo user that does not exist yet; existing users are left alone.

    With ``district`` (the default), also the synthetic district (once): the school year that
    contains ``today`` (default: the real today), with attendance through the school day before
    it, cases opened over the weeks before it, the visit logs of their home visits, the directory
    of community resources and the casework on the cases (assessments, referrals, parent meetings,
    follow-ups), and (with ``blobs``) photos of signed forms on them.
    """
    actor = Actor.system()
    created = 0
    total = len(DEMO_USERS)
    for n, demo in enumerate(DEMO_USERS, start=1):
        if await repo.user_by_username(session, demo.username) is None:
            user = await auth.create_user(
                session,
                actor,
                username=demo.username,
                password=password,
                role=demo.role,
                display_name=demo.display_name,
                supervisor_username=demo.supervisor,
            )
            user.phone = demo.phone
            await session.flush()
            created += 1
        if progress is not None:
            progress("users", n, total)
    year = demo_district.DemoYear.containing(today or date.today())
    students = await demo_district.load(session, year, progress) if district else 0
    cases = await demo_cases.load_cases(session, year, progress) if district else 0
    visits = await demo_visits.load_visits(session, year, progress) if district else 0
    casework = await demo_casework.load_casework(session, year, progress) if district else None
    photos = await demo_photos.load_photos(session, blobs) if district and blobs is not None else 0
    attended = year.attended_days()
    return DemoResult(
        created=created,
        password=password if created else None,
        students=students,
        cases=cases,
        visits=visits,
        year=year.name,
        through=attended[-1] if attended else None,
        photos=photos,
        casework=casework or demo_casework.CaseworkResult(),
    )
