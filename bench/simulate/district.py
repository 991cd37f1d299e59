"""The simulated district, made through the server's own means before the phones start.

Users through ``server.auth.service.create_user`` (what ``doorstep user create`` calls): one case
manager a device, one supervisor over all of them, one office staff. The caseloads by SQL on the
served database, as the benchmarks load theirs: each case manager has her own few cases, each a
household with a geocoded home, a student and an active case. Every name carries the run's tag, so
runs can follow one another on the same server.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from server.audit import Actor
from server.auth import service as auth_service
from server.db import create_engine, create_session_factory, session_scope

PASSWORD = "simulated password, not a secret"
HOME = (41.5582, -73.0515)
"""Waterbury, CT: the homes are spread a few kilometres around it."""


@dataclass(frozen=True)
class Case:
    id: uuid.UUID
    student_id: uuid.UUID
    household_id: uuid.UUID
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Manager:
    username: str
    user_id: uuid.UUID
    cases: list[Case]


@dataclass(frozen=True)
class District:
    tag: str
    managers: list[Manager]
    supervisor: str
    office: str


async def make_district(database_url: str, devices: int, cases_each: int) -> District:
    tag = uuid.uuid4().hex[:6]
    engine = create_engine(database_url)
    factory = create_session_factory(engine)
    system = Actor.system("simulate")
    supervisor, office = f"sim-{tag}-sup", f"sim-{tag}-office"
    managers: list[Manager] = []
    try:
        async with session_scope(factory) as s:
            for username, role in ((supervisor, Role.SUPERVISOR), (office, Role.OFFICE_STAFF)):
                await auth_service.create_user(s, system, username=username, password=PASSWORD, role=role)
        for n in range(devices):
            username = f"sim-{tag}-cm{n}"
            async with session_scope(factory) as s:
                user = await auth_service.create_user(
                    s,
                    system,
                    username=username,
                    password=PASSWORD,
                    role=Role.CASE_MANAGER,
                    display_name=f"Case manager {n}",
                    supervisor_username=supervisor,
                )
                await s.flush()
                cases = [_case(n, i) for i in range(cases_each)]
                for i, case in enumerate(cases):
                    await _insert(s, tag, n, i, case, user.id)
            managers.append(Manager(username, user.id, cases))
    finally:
        await engine.dispose()
    return District(tag, managers, supervisor, office)


def _case(n: int, i: int) -> Case:
    at = n * 31 + i
    lat, lon = HOME[0] + (at % 17 - 8) * 0.003, HOME[1] + (at % 13 - 6) * 0.004
    return Case(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), lat, lon)


async def _insert(s: AsyncSession, tag: str, n: int, i: int, case: Case, manager: uuid.UUID) -> None:
    key = f"sim-{tag}-{n}-{i}"
    await s.execute(
        text(
            "INSERT INTO household (id, external_id, phone, language, address, latitude, longitude) "
            "VALUES (:id, :key, :phone, 'en', :address, :lat, :lon)"
        ),
        {
            "id": case.household_id,
            "key": key,
            "phone": f"203-555-{(n * 10 + i) % 10000:04d}",
            "address": f"{100 + i} Grand Street, Waterbury, CT",
            "lat": case.latitude,
            "lon": case.longitude,
        },
    )
    await s.execute(
        text(
            "INSERT INTO student (id, student_number, first_name, last_name, grade, household_id) "
            "VALUES (:id, :key, :first, :last, :grade, :household)"
        ),
        {
            "id": case.student_id,
            "key": key,
            "first": f"Student{i}",
            "last": f"Family{n}",
            "grade": str(1 + (n + i) % 12),
            "household": case.household_id,
        },
    )
    await s.execute(
        text(
            "INSERT INTO case_file (id, student_id, status, case_manager_id, opened_at) "
            "VALUES (:id, :student, 'active', :manager, now() - interval '30 days')"
        ),
        {"id": case.id, "student": case.student_id, "manager": manager},
    )
