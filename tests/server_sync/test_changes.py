"""The change log on PostgreSQL: snapshot, deltas, reassignment, and the commit-order race.

These tests commit for real from several connections, so each gets a database of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from server.auth.models import Device, User
from server.auth.service import Principal
from server.cases.models import Case, ContactAttempt
from server.db import SessionFactory, create_engine, create_session_factory
from server.schools.models import School
from server.students.models import Household, Student
from server.sync import changes
from server.sync.changes import Change


@dataclass
class District:
    factory: SessionFactory
    cm1: Principal
    cm2: Principal
    case_id: uuid.UUID
    student_id: uuid.UUID
    household_id: uuid.UUID


def _principal(user: User, device: uuid.UUID) -> Principal:
    return Principal(user.id, user.username, user.display_name, Role(user.role), user.supervisor_id, device)


@pytest.fixture
async def district(fresh_database: str) -> AsyncIterator[District]:
    engine = create_engine(fresh_database)
    factory = create_session_factory(engine)
    async with factory() as s:
        sup = User(id=uuid.uuid4(), username="sup", display_name="S", role="supervisor", password_hash="x")
        s.add(sup)
        await s.flush()
        cms = [
            User(
                id=uuid.uuid4(),
                username=f"cm{n}",
                display_name="C",
                role="case_manager",
                password_hash="x",
                supervisor_id=sup.id,
            )
            for n in (1, 2)
        ]
        s.add_all(cms)
        await s.flush()
        devices = [Device(id=uuid.uuid4(), user_id=cm.id) for cm in cms]
        s.add_all(devices)
        school = School(id=uuid.uuid4(), code="S1", name="School")
        home = Household(id=uuid.uuid4(), external_id="H1", phone="555")
        s.add_all([school, home])
        await s.flush()
        kid = Student(
            id=uuid.uuid4(),
            student_number="1",
            first_name="A",
            last_name="B",
            household_id=home.id,
            school_id=school.id,
        )
        other_home = Household(id=uuid.uuid4(), external_id="H2")
        s.add_all([kid, other_home])
        await s.flush()
        other_kid = Student(
            id=uuid.uuid4(), student_number="2", first_name="C", last_name="D", household_id=other_home.id
        )
        s.add(other_kid)
        await s.flush()
        mine = Case(
            id=uuid.uuid4(), student_id=kid.id, status="active", case_manager_id=cms[0].id, opened_at=datetime.now(UTC)
        )
        theirs = Case(
            id=uuid.uuid4(),
            student_id=other_kid.id,
            status="active",
            case_manager_id=cms[1].id,
            opened_at=datetime.now(UTC),
        )
        s.add_all([mine, theirs])
        await s.flush()
        s.add(ContactAttempt(id=uuid.uuid4(), case_id=mine.id, method="phone", outcome="reached", at=datetime.now(UTC)))
        await s.commit()
        yield District(
            factory, _principal(cms[0], devices[0].id), _principal(cms[1], devices[1].id), mine.id, kid.id, home.id
        )
    await engine.dispose()


async def _pull_all(d: District, who: Principal, cursor: str | None, limit: int = 500) -> tuple[list[Change], str]:
    got: list[Change] = []
    while True:
        async with d.factory() as s:
            page = await changes.pull(s, who, who.device_id, cursor, limit=limit)
        got += page.changes
        cursor = page.cursor
        if not page.has_more:
            return got, cursor


def _keys(got: list[Change], op: str = "put") -> set[tuple[str, uuid.UUID]]:
    return {(c.type, c.id) for c in got if c.op == op}


async def _add_attempt(s: AsyncSession, case_id: uuid.UUID) -> uuid.UUID:
    attempt = ContactAttempt(
        id=uuid.uuid4(), case_id=case_id, method="letter", outcome="letter_sent", at=datetime.now(UTC)
    )
    s.add(attempt)
    await s.flush()
    return attempt.id


async def test_first_pull_is_a_snapshot_of_exactly_the_devices_scope(district: District) -> None:
    got, _ = await _pull_all(district, district.cm1, None)
    types = sorted(c.type for c in got)
    assert types == ["case", "contact_attempt", "household", "student"]
    case_data = next(c for c in got if c.type == "case").data
    assert case_data is not None and case_data["student_id"] == str(district.student_id)
    student = next(c for c in got if c.type == "student").data
    assert student is not None and student["household_id"] == str(district.household_id)


async def test_snapshot_pages_are_bounded_and_complete(district: District) -> None:
    got, _ = await _pull_all(district, district.cm1, None, limit=1)
    assert len(got) == 4 and len(_keys(got)) == 4


async def test_changes_after_the_cursor_arrive_once(district: District) -> None:
    _, cursor = await _pull_all(district, district.cm1, None)
    async with district.factory() as s:
        new_id = await _add_attempt(s, district.case_id)
        await s.commit()
    got, cursor = await _pull_all(district, district.cm1, cursor)
    assert _keys(got) == {("contact_attempt", new_id)}
    again, _ = await _pull_all(district, district.cm1, cursor)
    assert again == []


async def test_a_transaction_committing_after_a_later_one_is_not_skipped(district: District) -> None:
    _, cursor = await _pull_all(district, district.cm1, None)
    async with district.factory() as t1, district.factory() as t2:
        first = await _add_attempt(t1, district.case_id)  # T1 open: it has its transaction id
        second = await _add_attempt(t2, district.case_id)
        await t2.commit()  # T2 commits first
        got, cursor = await _pull_all(district, district.cm1, cursor)
        await t1.commit()
    got2, _ = await _pull_all(district, district.cm1, cursor)
    delivered = _keys(got) | _keys(got2)
    assert ("contact_attempt", first) in delivered
    assert ("contact_attempt", second) in delivered


async def test_reassignment_brings_the_case_to_the_new_owner_and_deletes_to_the_old(district: District) -> None:
    _, c1 = await _pull_all(district, district.cm1, None)
    _, c2 = await _pull_all(district, district.cm2, None)
    async with district.factory() as s:
        await s.execute(update(Case).where(Case.id == district.case_id).values(case_manager_id=district.cm2.user_id))
        await s.commit()
    old, _ = await _pull_all(district, district.cm1, c1)
    new, _ = await _pull_all(district, district.cm2, c2)
    moved = {"case", "student", "household", "contact_attempt"}
    assert {t for t, _ in _keys(old, "del")} == moved
    assert _keys(old, "put") == set()
    assert {t for t, _ in _keys(new)} == moved


async def test_an_unknown_cursor_resets(district: District) -> None:
    async with district.factory() as s:
        page = await changes.pull(s, district.cm1, district.cm1.device_id, "not-a-cursor")
    assert page.reset is True
    assert {c.type for c in page.changes} == {"case", "student", "household", "contact_attempt"}


async def test_a_team_change_resets_every_cursor(district: District) -> None:
    _, cursor = await _pull_all(district, district.cm1, None)
    async with district.factory() as s:
        await s.execute(update(User).where(User.id == district.cm2.user_id).values(supervisor_id=None, role="admin"))
        await s.commit()
    async with district.factory() as s:
        page = await changes.pull(s, district.cm1, district.cm1.device_id, cursor)
    assert page.reset is True
