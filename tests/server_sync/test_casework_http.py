"""The parent meeting over HTTP: recorded from the phone, it clears the overdue meeting the rules
made (``GET /parent-meetings/overdue``); the casework a pull delivers is audited per case. A
referral made through the REST route comes down the same pull as the phone's."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from server.audit import AuditEntry
from server.auth.models import User
from server.cases.models import Case, FollowUp, ServiceReferral
from tests.helpers import bearer, login
from tests.server_sync.conftest import Field


async def _push(field: Field, *mutations: dict[str, Any]) -> list[dict[str, Any]]:
    body = {"client_id": str(field.phone), "schema_version": 1, "mutations": list(mutations)}
    response = await field.client.post("/sync/push", json=body, headers=bearer(field.tokens))
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


async def _overdue(field: Field) -> list[uuid.UUID]:
    response = await field.client.get("/parent-meetings/overdue", headers=bearer(field.tokens))
    assert response.status_code == 200, response.text
    return [uuid.UUID(row["id"]) for row in response.json()]


async def test_a_meeting_recorded_on_the_phone_clears_the_overdue_meeting(field: Field) -> None:
    today = datetime.now(UTC).date()
    async with field.factory() as s:
        case = await s.get_one(Case, field.case_id)
        deadline = FollowUp(
            id=uuid.uuid4(),
            student_id=case.student_id,
            case_id=case.id,
            kind="parent_meeting",
            title="Parent meeting: 4 unexcused absences in one month",
            trigger_day=today - timedelta(days=21),
            due_on=today - timedelta(days=7),
        )
        s.add(deadline)
        await s.commit()
    assert await _overdue(field) == [deadline.id]

    meeting = uuid.uuid4()
    args: dict[str, Any] = {"id": str(meeting), "case_id": str(field.case_id), "held_at": datetime.now(UTC).isoformat()}
    args |= {"place": "school", "attendees": ["Mother", "Counselor"], "interpreter": False, "policy_discussed": True}
    (result,) = await _push(field, {"id": 1, "name": "parent_meeting.record", "args": args})
    assert (result["status"], result.get("flags", [])) == ("applied", [])
    assert await _overdue(field) == []

    async with field.factory() as s:
        done = await s.get_one(FollowUp, deadline.id)
        assert (done.status, done.completed_by is not None) == ("done", True)
    pull = await field.client.post(
        "/sync/pull", json={"client_id": str(field.phone), "schema_version": 1}, headers=bearer(field.tokens)
    )
    assert pull.status_code == 200, pull.text
    puts = {(c["type"], c["id"]): c for c in pull.json()["changes"]}
    assert puts[("follow_up", str(deadline.id))]["data"]["status"] == "done"
    assert puts[("parent_meeting", str(meeting))]["data"]["attendees"] == ["Mother", "Counselor"]
    async with field.factory() as s:
        audited = (await s.scalars(select(AuditEntry).where(AuditEntry.action == "sync.pull.casework"))).all()
    assert [(a.entity_type, a.entity_id, (a.detail or {})["records"]) for a in audited] == [
        ("case", str(field.case_id), {"parent_meeting": [str(meeting)]})
    ]


async def test_a_referral_made_through_rest_comes_down_the_case_managers_pull(field: Field) -> None:
    """``POST /cases/{id}/service-referrals`` writes the ``service_referral`` table the phones sync:
    the supervisor's referral reaches the case manager's phone as a ``service_referral`` record,
    which the phone then moves like one of its own."""
    sup = await login(field.client, "sup")
    body = {"resource": "Bus Pass Program", "referred_on": "2026-11-30", "category": "transport", "note": "2 passes"}
    made = await field.client.post(f"/cases/{field.case_id}/service-referrals", json=body, headers=bearer(sup))
    assert made.status_code == 201, made.text
    referral = made.json()["id"]
    async with field.factory() as s:
        row = await s.get_one(ServiceReferral, uuid.UUID(referral))
        sup_id = await s.scalar(select(User.id).where(User.username == "sup"))
        assert (row.case_id, row.resource_name, row.version) == (field.case_id, "Bus Pass Program", 1)

    pull = await field.client.post(
        "/sync/pull", json={"client_id": str(field.phone), "schema_version": 1}, headers=bearer(field.tokens)
    )
    assert pull.status_code == 200, pull.text
    puts = {(c["type"], c["id"]): c for c in pull.json()["changes"]}
    came = puts[("service_referral", referral)]
    assert came["version"] == 1
    assert came["data"] | {"at": None} == {
        "case_id": str(field.case_id),
        "resource_id": None,
        "resource_name": "Bus Pass Program",
        "factor": None,
        "at": None,
        "status": "made",
        "status_at": None,
        "note": "2 passes",
        "created_by": str(sup_id),
        "flags": [],
        "updates": [],
    }
    assert datetime.fromisoformat(came["data"]["at"]) == row.at

    update = {"id": referral, "at": "2026-12-01T10:00:00Z", "status": "connected", "note": "Has the passes"}
    (result,) = await _push(field, {"id": 1, "name": "service_referral.update", "args": update, "base_version": 1})
    assert (result["status"], result["version"]) == ("applied", 2)
    async with field.factory() as s:
        moved = await s.get_one(ServiceReferral, uuid.UUID(referral))
        assert (moved.status, moved.note, len(moved.updates)) == ("connected", "2 passes", 1)
