"""The parent meeting over HTTP: recorded from the phone, it clears the overdue meeting the rules
made (``GET /parent-meetings/overdue``); the casework a pull delivers is audited per case."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from server.audit import AuditEntry
from server.cases.models import Case, FollowUp
from tests.helpers import bearer
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
