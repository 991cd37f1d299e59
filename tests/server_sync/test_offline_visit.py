"""Issue 11's scenario, end to end over HTTP with the reference client (``sync/client.py``): a visit
made offline on a case that was reassigned to another team and closed before the phone came back
is stored and flagged, is listed for the old owner's supervisor, and the old owner's phone drops
the case on its next pull."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from schemas.auth import Role
from schemas.sync import RecordType, Status
from server.audit import Actor, AuditEntry
from server.auth import service as auth
from server.cases.models import Case, VisitLog
from server.db import SessionFactory, create_engine, create_session_factory
from server.students.models import Household, Student
from sync.client import SyncClient, http_transport
from tests.conftest import PASSWORD, app_for, client_for, make_settings
from tests.helpers import bearer, login

HOME = (41.3, -72.9)


@dataclass
class Town:
    factory: SessionFactory
    client: httpx.AsyncClient
    case_id: uuid.UUID
    student_id: uuid.UUID
    household_id: uuid.UUID
    users: dict[str, uuid.UUID]


@pytest.fixture
async def town(fresh_database: str) -> AsyncIterator[Town]:
    """Two teams (sup1 leads cm1, sup2 leads cm2) and an admin; one geocoded family, whose case is cm1's."""
    engine = create_engine(fresh_database)
    factory = create_session_factory(engine)
    users: dict[str, uuid.UUID] = {}
    async with factory() as s:
        for name, role, lead in (
            ("sup1", Role.SUPERVISOR, None),
            ("sup2", Role.SUPERVISOR, None),
            ("cm1", Role.CASE_MANAGER, "sup1"),
            ("cm2", Role.CASE_MANAGER, "sup2"),
            ("admin", Role.ADMIN, None),
        ):
            user = await auth.create_user(
                s, Actor.system(), username=name, password=PASSWORD, role=role, supervisor_username=lead
            )
            await s.flush()
            users[name] = user.id
        home = Household(id=uuid.uuid4(), external_id="H1", phone="555-0100", latitude=HOME[0], longitude=HOME[1])
        s.add(home)
        await s.flush()
        kid = Student(id=uuid.uuid4(), student_number="1", first_name="A", last_name="B", household_id=home.id)
        s.add(kid)
        await s.flush()
        opened = datetime.now(UTC) - timedelta(days=30)
        case = Case(id=uuid.uuid4(), student_id=kid.id, status="active", case_manager_id=users["cm1"], opened_at=opened)
        s.add(case)
        await s.commit()
    async with client_for(app_for(make_settings(), factory)) as client:
        yield Town(factory, client, case.id, kid.id, home.id, users)
    await engine.dispose()


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _at_home() -> dict[str, float]:
    return {"latitude": HOME[0], "longitude": HOME[1], "accuracy_m": 8.0}


async def _as(town: Town, username: str) -> dict[str, str]:
    return bearer(await login(town.client, username))


async def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


async def test_an_offline_visit_on_a_case_reassigned_and_closed_meanwhile(town: Town, tmp_path: Path) -> None:
    phone_id = uuid.uuid4()
    tokens = await login(town.client, "cm1", device_id=phone_id)
    phone = SyncClient(
        tmp_path / "cm1.sqlite",
        phone_id,
        http_transport("http://testserver", lambda: str(tokens["access_token"]), client=town.client),
    )
    try:
        await phone.sync()
        held = set(phone.records())
        assert {(RecordType.CASE, town.case_id), (RecordType.STUDENT, town.student_id)} <= held

        # The phone goes offline. The case goes to another team...
        admin = await _as(town, "admin")
        assign = {"case_manager_id": str(town.users["cm2"])}
        await _ok(await town.client.post(f"/cases/{town.case_id}/assign", json=assign, headers=admin))
        # ... cm1, who does not know, visits the family (before the closing) ...
        before = uuid.uuid4()
        phone.enqueue(
            "visit_log.check_in", {"id": str(before), "case_id": str(town.case_id), "at": _now()} | _at_home()
        )
        # ... the new owner closes the case ...
        close = {"status": "closed", "outcome": "moved", "reason": "The family moved away"}
        closed = await _ok(
            await town.client.post(f"/cases/{town.case_id}/transition", json=close, headers=await _as(town, "cm2"))
        )
        # ... and cm1 visits again, after the closing, and checks out.
        after = uuid.uuid4()
        at = datetime.now(UTC)
        assert at > datetime.fromisoformat(closed["closed_at"])
        phone.enqueue(
            "visit_log.check_in", {"id": str(after), "case_id": str(town.case_id), "at": at.isoformat()} | _at_home()
        )
        out = {"id": str(after), "at": (at + timedelta(minutes=25)).isoformat(), "outcome": "moved"} | _at_home()
        phone.enqueue("visit_log.check_out", out)

        # The phone comes back.
        await phone.sync()
        results = [phone.result(i) for i in (1, 2, 3)]
        assert [(r.status, r.version) for r in results if r] == [
            (Status.APPLIED, 1),
            (Status.APPLIED, 1),
            (Status.APPLIED, 2),
        ]
        late = ["case_reassigned", "case_closed", "outside_case_period"]
        assert [r.flags for r in results if r] == [["case_reassigned"], late, late]

        # Stored as sent, flagged.
        async with town.factory() as s:
            stored = {v.id: v for v in await s.scalars(select(VisitLog).where(VisitLog.case_id == town.case_id))}
        assert (stored[before].flags, stored[before].created_by, stored[before].distance_m) == (
            ["case_reassigned"],
            town.users["cm1"],
            0.0,
        )
        assert (stored[after].flags, stored[after].status, stored[after].outcome) == (late, "checked_out", "moved")

        # Listed for the old owner's supervisor, who no longer sees the case itself.
        sup1 = await _as(town, "sup1")
        flagged = await _ok(await town.client.get("/visit-logs", params={"flagged": "true"}, headers=sup1))
        assert [v["id"] for v in flagged["items"]] == [str(before), str(after)]
        closed_ones = await _ok(await town.client.get("/visit-logs", params={"flag": "case_closed"}, headers=sup1))
        assert [(v["id"], v["flags"], v["outcome"]) for v in closed_ones["items"]] == [(str(after), late, "moved")]
        assert (await _ok(await town.client.get(f"/visit-logs/{after}", headers=sup1)))["created_by"] == str(
            town.users["cm1"]
        )
        assert (await town.client.get(f"/cases/{town.case_id}", headers=sup1)).status_code == 404
        sup2 = await _as(town, "sup2")  # and for the new owner's, through the case
        listed = await _ok(await town.client.get("/visit-logs", params={"flagged": "true"}, headers=sup2))
        assert [v["id"] for v in listed["items"]] == [str(before), str(after)]
        async with town.factory() as s:
            reads = (
                await s.execute(
                    select(AuditEntry.actor_id, AuditEntry.action, AuditEntry.student_id).where(
                        AuditEntry.action.in_(["student.listed", "visit_log.read"])
                    )
                )
            ).all()
        assert (town.users["sup1"], "visit_log.read", town.student_id) in reads
        assert (town.users["sup1"], "student.listed", town.student_id) in reads

        # The old owner's phone dropped the case and everything under it, and sent everything.
        assert phone.pending() == []
        left = {(t, i) for t, i in phone.records() if t != RecordType.CONFLICT}
        assert left == set(), left
        await phone.sync()  # and stays so
        assert not [k for k in phone.records() if k[0] != RecordType.CONFLICT]
    finally:
        phone.close()
