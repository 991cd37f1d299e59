"""FERPA's record of access (34 CFR 99.32): reads of a student's record, refused ones included, are
audit rows naming the student, with who, role, device and request id."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit import AuditEntry
from tests import factories as f
from tests.helpers import Client, bearer, login


async def _rows(db: AsyncSession, request_id: str) -> list[AuditEntry]:
    return list((await db.scalars(select(AuditEntry).where(AuditEntry.request_id == request_id))).all())


def _as(tokens: dict[str, Any], request_id: str) -> dict[str, str]:
    return bearer(tokens) | {"X-Request-ID": request_id}


async def test_a_refused_student_read_is_audited_and_answers_like_a_missing_student(
    client: Client, db: AsyncSession
) -> None:
    school = await f.school(db)
    hidden = await f.student(db, school)
    await db.commit()
    tokens = await login(client, "cm1")
    refused = await client.get(f"/students/{hidden.id}", headers=_as(tokens, "req-refused-student"))
    missing_id = uuid.uuid4()
    missing = await client.get(f"/students/{missing_id}", headers=_as(tokens, "req-missing-student"))
    assert refused.status_code == missing.status_code == 404
    assert refused.json() == missing.json()  # no hint that the record exists

    (row,) = await _rows(db, "req-refused-student")
    assert (row.action, row.entity_type, row.entity_id) == ("student.read_refused", "student", str(hidden.id))
    assert row.student_id == hidden.id
    assert row.actor_id == await f.user_id(db, "cm1") and row.actor_role == "case_manager"
    assert row.device_id is not None
    (probe,) = await _rows(db, "req-missing-student")
    assert (probe.action, probe.entity_id, probe.student_id) == ("student.read_refused", str(missing_id), None)


async def test_a_refused_case_read_is_audited_with_its_student(client: Client, db: AsyncSession) -> None:
    school = await f.school(db)
    kid = await f.student(db, school)
    theirs = await f.case(db, kid, manager=await f.user_id(db, "cm5"))
    await db.commit()
    tokens = await login(client, "cm1")
    refused = await client.get(f"/cases/{theirs.id}", headers=_as(tokens, "req-refused-case"))
    missing = await client.get(f"/cases/{uuid.uuid4()}", headers=_as(tokens, "req-missing-case"))
    assert refused.status_code == missing.status_code == 404
    assert refused.json() == missing.json()

    (row,) = await _rows(db, "req-refused-case")
    assert (row.action, row.entity_type, row.entity_id) == ("case.read_refused", "case", str(theirs.id))
    assert row.student_id == kid.id and row.actor_role == "case_manager"
    (probe,) = await _rows(db, "req-missing-case")
    assert probe.action == "case.read_refused" and probe.student_id is None


async def test_a_lookup_by_number_of_a_hidden_student_is_audited_and_a_plain_miss_is_not(
    client: Client, db: AsyncSession
) -> None:
    hidden = await f.student(db, await f.school(db), student_number="S-HIDDEN-1")
    await db.commit()
    tokens = await login(client, "cm1")
    found = await client.get("/students", params={"student_number": "S-HIDDEN-1"}, headers=_as(tokens, "req-n1"))
    assert found.status_code == 200 and found.json() == []
    (row,) = await _rows(db, "req-n1")
    assert (row.action, row.student_id, row.detail) == ("student.read_refused", hidden.id, {"via": "student_number"})
    await client.get("/students", params={"student_number": "S-NOBODY"}, headers=_as(tokens, "req-n2"))
    assert await _rows(db, "req-n2") == []


async def test_a_case_read_is_audited_on_the_case_and_names_its_student(client: Client, db: AsyncSession) -> None:
    kid = await f.student(db, await f.school(db))
    mine = await f.case(db, kid, manager=await f.user_id(db, "cm1"))
    await db.commit()
    tokens = await login(client, "cm1")
    assert (await client.get(f"/cases/{mine.id}", headers=_as(tokens, "req-case-read"))).status_code == 200
    (row,) = await _rows(db, "req-case-read")
    assert (row.action, row.entity_type, row.entity_id) == ("case.read", "case", str(mine.id))
    assert row.student_id == kid.id and row.device_id is not None
