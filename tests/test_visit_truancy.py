"""A visit log's context: the student's truancy status on the visit's date (the ``as_of`` answer of
``GET /students/{id}/truancy``), attached by the server when the check-in is stored, synced in the
visit log's record, and never a reason to refuse a visit."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit import AuditEntry
from server.cases.models import VisitLog
from tests import factories as f
from tests.helpers import Client, bearer, login
from tests.rules_fixtures import absent, make_district


async def _push(client: Client, tokens: dict[str, Any], phone: uuid.UUID, *mutations: dict[str, Any]) -> Any:
    body = {"client_id": str(phone), "schema_version": 1, "mutations": list(mutations)}
    response = await client.post("/sync/push", json=body, headers=bearer(tokens))
    assert response.status_code == 200, response.text
    return response.json()["results"]


async def _pulled_visit_logs(client: Client, tokens: dict[str, Any], phone: uuid.UUID) -> dict[str, Any]:
    body = {"client_id": str(phone), "schema_version": 1}
    response = await client.post("/sync/pull", json=body, headers=bearer(tokens))
    assert response.status_code == 200, response.text
    return {c["id"]: c for c in response.json()["changes"] if c["type"] == "visit_log"}


OUT = {"outcome": "family_met"}


def _check_in(vid: uuid.UUID, case_id: uuid.UUID, at: str) -> dict[str, Any]:
    return {"id": 0, "name": "visit_log.check_in", "args": {"id": str(vid), "case_id": str(case_id), "at": at}}


async def test_a_check_in_carries_the_students_truancy_as_of_the_visit_date(client: Client, db: AsyncSession) -> None:
    d = await make_district(db, students=2)
    truant, clean = d.students
    await absent(db, d, truant, date(2025, 10, 1), date(2025, 10, 3), date(2025, 10, 7), date(2025, 10, 31))
    cm1 = await f.user_id(db, "cm1")
    case = await f.case(db, truant, manager=cm1)
    clean_case = await f.case(db, clean, manager=cm1)
    await db.commit()
    phone = uuid.uuid4()
    tokens = await login(client, "cm1", device_id=phone)
    visit, before, unrecorded = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    results = await _push(
        client,
        tokens,
        phone,
        _check_in(visit, case.id, "2025-12-01T15:30:00Z") | {"id": 1},
        _check_in(before, case.id, "2025-10-06T09:00:00-04:00") | {"id": 2},  # 13:00 UTC: still the 6th
        _check_in(unrecorded, clean_case.id, "2025-12-01T15:30:00Z") | {"id": 3},
        {"id": 4, "name": "visit_log.check_out", "args": {"id": str(visit), "at": "2025-12-01T16:00:00Z"} | OUT},
    )
    assert [r["status"] for r in results] == ["applied"] * 4
    pulled = await _pulled_visit_logs(client, tokens, phone)
    for vid, student, day in (
        (visit, truant, "2025-12-01"),
        (before, truant, "2025-10-06"),
        (unrecorded, clean, "2025-12-01"),
    ):
        answer = await client.get(f"/students/{student.id}/truancy", params={"as_of": day}, headers=bearer(tokens))
        assert answer.status_code == 200, answer.text
        assert pulled[str(vid)]["data"]["truancy"] == answer.json(), vid
    assert pulled[str(visit)]["data"]["truancy"]["truant"] is True
    assert (pulled[str(visit)]["version"], pulled[str(visit)]["data"]["status"]) == (2, "checked_out")  # kept
    assert pulled[str(before)]["data"]["truancy"]["absence_count"] == 2
    assert pulled[str(unrecorded)]["data"]["truancy"]["absence_count"] == 0  # no attendance: what as_of says
    stored = await db.scalar(select(VisitLog.truancy).where(VisitLog.id == visit))
    assert stored == pulled[str(visit)]["data"]["truancy"]
    # The report is the student's record: its delivery by pull is audited per student.
    rows = (await db.scalars(select(AuditEntry).where(AuditEntry.action == "sync.pull.truancy"))).all()
    assert {(r.student_id, r.actor_role) for r in rows} == {(truant.id, "case_manager"), (clean.id, "case_manager")}
    listed = next(r for r in rows if r.student_id == truant.id)
    assert listed.detail is not None and sorted(listed.detail["visit_log_ids"]) == sorted([str(visit), str(before)])


async def test_a_visit_no_school_year_covers_is_stored_with_null_context(client: Client, db: AsyncSession) -> None:
    d = await make_district(db)
    case = await f.case(db, d.students[0], manager=await f.user_id(db, "cm1"))
    await db.commit()
    phone = uuid.uuid4()
    tokens = await login(client, "cm1", device_id=phone)
    visit = uuid.uuid4()
    (result,) = await _push(client, tokens, phone, _check_in(visit, case.id, "2025-07-15T10:00:00Z") | {"id": 1})
    assert (result["status"], result["version"]) == ("applied", 1)
    answer = await client.get(
        f"/students/{d.students[0].id}/truancy", params={"as_of": "2025-07-15"}, headers=bearer(tokens)
    )
    assert answer.json()["code"] == "outside_school_year"
    pulled = await _pulled_visit_logs(client, tokens, phone)
    assert pulled[str(visit)]["data"]["truancy"] is None
    assert not (await db.scalars(select(AuditEntry).where(AuditEntry.action == "sync.pull.truancy"))).all()
