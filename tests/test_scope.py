"""``server.scope``: who may see a record, one predicate per kind, online and on a device.

The shared test database holds the demo users; each test adds two teams' cases, an unassigned
referral, a deleted case and a counselor's school, then reads every kind through the predicates.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from schemas.cases import CaseStatus
from schemas.sync import RecordType
from server import scope
from server.auth.models import User
from server.cases.models import Case, ContactAttempt, VisitLog, VisitNote
from server.students.models import Household, Student
from tests import factories as f

MODELS: dict[str, Any] = {
    RecordType.CASE: Case,
    RecordType.STUDENT: Student,
    RecordType.HOUSEHOLD: Household,
    RecordType.CONTACT_ATTEMPT: ContactAttempt,
    RecordType.VISIT_NOTE: VisitNote,
    RecordType.VISIT_LOG: VisitLog,
}
USERS = ("cm1", "cm5", "sup1", "sup2", "office1", "admin", "counselor1")


@dataclass
class District:
    cases: dict[str, Case]  # by label: cm1, cm5, unassigned, deleted, moved (cm5's)
    visits: dict[str, VisitLog]  # by label: moved (made by cm1 on the moved case)


@pytest.fixture
async def district(db: AsyncSession) -> District:
    school, other_school = await f.school(db), await f.school(db)
    await f.counselor_at(db, "counselor1", school)
    cases: dict[str, Case] = {}
    for label, manager, where in (
        ("cm1", "cm1", school),
        ("cm5", "cm5", other_school),
        ("unassigned", None, other_school),
        ("deleted", "cm1", other_school),
    ):
        kid = await f.student(db, where)
        case = await f.case(db, kid, manager=await f.user_id(db, manager) if manager else None)
        author = case.case_manager_id or await f.user_id(db, "cm5")
        db.add(
            ContactAttempt(id=uuid.uuid4(), case_id=case.id, method="phone", outcome="reached", at=datetime.now(UTC))
        )
        db.add(VisitNote(id=uuid.uuid4(), case_id=case.id, author_id=author, body="b", status="draft"))
        db.add(_visit(case.id, author))
        cases[label] = case
    # cm1 visited a case that went to cm5 (sup2's team) before her phone synced
    moved = await f.case(db, await f.student(db, other_school), manager=await f.user_id(db, "cm5"))
    visits = {"moved": _visit(moved.id, await f.user_id(db, "cm1"))}
    db.add(visits["moved"])
    cases["moved"] = moved
    cases["deleted"].deleted_at = datetime.now(UTC)
    assert cases["unassigned"].status == CaseStatus.REFERRED
    await db.flush()
    return District(cases, visits)


def _visit(case_id: uuid.UUID, author: uuid.UUID) -> VisitLog:
    return VisitLog(
        id=uuid.uuid4(),
        case_id=case_id,
        created_by=author,
        status="open",
        checked_in_at=datetime.now(UTC),
        flags=["case_reassigned"],
    )


async def _seen(db: AsyncSession, record_type: str, reader: scope.Reader) -> set[uuid.UUID]:
    model = MODELS[record_type]
    return set((await db.scalars(select(model.id).where(scope.reach(record_type, reader)))).all())


async def _students_of(db: AsyncSession, d: District, *labels: str) -> set[uuid.UUID]:
    return {d.cases[label].student_id for label in labels}


async def test_online_cases_follow_the_roles(db: AsyncSession, district: District) -> None:
    expected = {
        "cm1": {"cm1", "deleted"},
        "cm5": {"cm5", "moved"},
        "sup1": {"cm1", "deleted", "unassigned"},
        "sup2": {"cm5", "unassigned", "moved"},
        "counselor1": {"cm1"},
    }
    ours = {c.id: label for label, c in district.cases.items()}
    for username, labels in expected.items():
        user = (await db.scalars(select(User).where(User.username == username))).one()
        seen = await _seen(db, RecordType.CASE, scope.Reader(user.id, Role(user.role)))
        assert {ours[i] for i in seen if i in ours} == labels, username
    for username in ("office1", "admin"):
        user = (await db.scalars(select(User).where(User.username == username))).one()
        assert set(ours) <= await _seen(db, RecordType.CASE, scope.Reader(user.id, Role(user.role)))


@pytest.mark.parametrize("record_type", list(MODELS))
async def test_a_device_holds_no_more_than_its_user_may_read_online(
    db: AsyncSession, district: District, record_type: str
) -> None:
    for username in USERS:
        user = (await db.scalars(select(User).where(User.username == username))).one()
        online = await _seen(db, record_type, scope.Reader(user.id, Role(user.role)))
        device = await _seen(db, record_type, scope.Reader.device(user.id))
        assert device <= online, (username, record_type)
        if username.startswith("counselor"):
            assert device == set()


async def test_a_device_holds_live_caseload_records_only(db: AsyncSession, district: District) -> None:
    cm1 = await f.user_id(db, "cm1")
    device = scope.Reader.device(cm1)
    cases = await _seen(db, RecordType.CASE, device)
    assert district.cases["cm1"].id in cases
    assert district.cases["deleted"].id not in cases  # and so nothing under it
    assert await _seen(db, RecordType.STUDENT, device) >= await _students_of(db, district, "cm1")
    assert district.cases["deleted"].student_id not in await _seen(db, RecordType.STUDENT, device)
    sup1 = scope.Reader.device(await f.user_id(db, "sup1"))
    assert district.cases["unassigned"].id not in await _seen(db, RecordType.CASE, sup1)  # online only


async def test_a_supervisor_reads_her_teams_visits_after_their_case_left_the_team(
    db: AsyncSession, district: District
) -> None:
    moved = district.visits["moved"].id
    readers = {u: (await db.scalars(select(User).where(User.username == u))).one() for u in ("sup1", "sup2", "cm1")}
    online = {u: scope.Reader(user.id, Role(user.role)) for u, user in readers.items()}
    assert moved in await _seen(db, RecordType.VISIT_LOG, online["sup1"])  # her team made it
    assert district.cases["moved"].id not in await _seen(db, RecordType.CASE, online["sup1"])  # not the case
    assert moved in await _seen(db, RecordType.VISIT_LOG, online["sup2"])  # the case is her team's now
    assert moved not in await _seen(db, RecordType.VISIT_LOG, online["cm1"])  # a case manager: her cases only
    assert moved not in await _seen(
        db, RecordType.VISIT_LOG, scope.Reader.device(readers["sup1"].id)
    )  # phones follow the case
