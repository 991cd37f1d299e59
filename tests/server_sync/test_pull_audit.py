"""A pull that delivers students is a read of their records (34 CFR 99.32): one audit row per
student delivered, written in one statement; a page without students writes nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from server.audit import AuditEntry
from server.cases.models import Case
from server.students.models import Student
from tests.helpers import bearer
from tests.server_sync.conftest import Field

PULLED = "sync.pull.student"


async def _pull(f: Field, cursor: str | None = None, limit: int | None = None, request_id: str = "") -> Any:
    body: dict[str, Any] = {"client_id": str(f.phone), "schema_version": 1}
    body |= ({"cursor": cursor} if cursor else {}) | ({"limit": limit} if limit else {})
    headers = bearer(f.tokens) | ({"X-Request-ID": request_id} if request_id else {})
    response = await f.client.post("/sync/pull", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _pulled_rows(f: Field) -> list[AuditEntry]:
    async with f.factory() as s:
        return list((await s.scalars(select(AuditEntry).where(AuditEntry.action == PULLED))).all())


async def _audit_count(f: Field) -> int:
    async with f.factory() as s:
        return int(await s.scalar(select(func.count()).select_from(AuditEntry)) or 0)


async def _second_student(f: Field) -> uuid.UUID:
    async with f.factory() as s:
        manager = (await s.execute(select(Case.case_manager_id).where(Case.id == f.case_id))).scalar_one()
        kid = Student(id=uuid.uuid4(), student_number=uuid.uuid4().hex[:12], first_name="C", last_name="D")
        s.add(kid)
        await s.flush()
        s.add(
            Case(
                id=uuid.uuid4(),
                student_id=kid.id,
                status="active",
                case_manager_id=manager,
                opened_at=datetime.now(UTC),
            )
        )
        await s.commit()
        return kid.id


async def test_each_student_a_pull_delivers_is_audited_once_with_who_and_which_device(field: Field) -> None:
    second = await _second_student(field)
    async with field.factory() as s:
        first = (await s.execute(select(Case.student_id).where(Case.id == field.case_id))).scalar_one()
        cm = (await s.execute(select(Case.case_manager_id).where(Case.id == field.case_id))).scalar_one()
    delivered: dict[str, str] = {}  # student id -> request id of the page that brought it
    cursor, page = None, 0
    while True:
        page += 1
        body = await _pull(field, cursor, limit=1, request_id=f"req-pull-{page}")
        delivered |= {c["id"]: f"req-pull-{page}" for c in body["changes"] if c["type"] == "student"}
        cursor = body["cursor"]
        if not body["has_more"]:
            break
    assert set(delivered) == {str(first), str(second)}

    rows = await _pulled_rows(field)
    assert sorted(str(r.student_id) for r in rows) == sorted(delivered)
    for row in rows:
        assert row.entity_type == "student" and row.entity_id == str(row.student_id)
        assert row.request_id == delivered[str(row.student_id)]
        assert (row.actor_id, row.actor_role, row.device_id) == (cm, "case_manager", field.phone)
        assert row.detail == {"version": 1}


async def test_a_pull_page_without_students_writes_no_audit_rows(field: Field) -> None:
    cursor = (await _pull(field))["cursor"]
    assert len(await _pulled_rows(field)) == 1
    async with field.factory() as s:
        case = await s.get(Case, field.case_id)
        assert case is not None
        case.close_reason = "a change that is not the student's record"
        case.version += 1
        await s.commit()
    before = await _audit_count(field)
    body = await _pull(field, cursor)
    assert [c["type"] for c in body["changes"]] == ["case"]
    assert await _audit_count(field) == before

    async with field.factory() as s:
        kid = await s.get(Student, case.student_id)
        assert kid is not None
        kid.first_name, kid.version = "Renamed", kid.version + 1
        await s.commit()
    body = await _pull(field, body["cursor"])
    assert [c["type"] for c in body["changes"]] == ["student"]
    assert [r.detail for r in await _pulled_rows(field)] == [{"version": 1}, {"version": 2}]


async def test_a_page_of_many_students_is_audited_in_one_statement(field: Field) -> None:
    for _ in range(3):
        await _second_student(field)
    engine: AsyncEngine = field.factory.kw["bind"]
    inserts: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("INSERT INTO audit_log"):
            inserts.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        body = await _pull(field)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert sum(c["type"] == "student" for c in body["changes"]) == 4
    assert len(inserts) == 1
    assert len(await _pulled_rows(field)) == 4
