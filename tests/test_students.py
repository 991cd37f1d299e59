"""Student records: scoped, found by number, and every read audited."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit import AuditEntry
from tests import factories as f
from tests.helpers import Client, bearer, login


async def test_office_reads_a_student_with_household_and_guardians_and_the_read_is_audited(
    client: Client, db: AsyncSession
) -> None:
    kid = await f.student(db, await f.school(db))
    await db.commit()
    tokens = await login(client, "office1")
    response = await client.get(f"/students/{kid.id}", headers=bearer(tokens))
    assert response.status_code == 200
    body = response.json()
    assert body["student_number"] == kid.student_number
    assert body["household"]["latitude"] == 41.55
    assert len(body["guardians"]) == 1
    reads = (await db.scalars(select(AuditEntry).where(AuditEntry.action == "student.read"))).all()
    assert [r.entity_id for r in reads] == [str(kid.id)]


async def test_students_are_found_by_number(client: Client, db: AsyncSession) -> None:
    kid = await f.student(db, await f.school(db), student_number="S-123456")
    await db.commit()
    tokens = await login(client, "admin")
    found = (await client.get("/students", params={"student_number": "S-123456"}, headers=bearer(tokens))).json()
    assert [s["id"] for s in found] == [str(kid.id)]
    none = (await client.get("/students", params={"student_number": "nope"}, headers=bearer(tokens))).json()
    assert none == []


async def test_case_manager_reads_only_students_on_her_cases(client: Client, db: AsyncSession) -> None:
    school = await f.school(db)
    mine, other = await f.student(db, school), await f.student(db, school)
    await f.case(db, mine, manager=await f.user_id(db, "cm1"))
    await db.commit()
    tokens = await login(client, "cm1")
    assert (await client.get(f"/students/{mine.id}", headers=bearer(tokens))).status_code == 200
    assert (await client.get(f"/students/{other.id}", headers=bearer(tokens))).status_code == 404
    assert (await client.get(f"/students/{uuid.uuid4()}", headers=bearer(tokens))).status_code == 404
