"""FERPA's record of access (34 CFR 99.32): reads of a student's record, refused ones included, are
audit rows naming the student, with who, role, device and request id; admins read them at
``GET /audit``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
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


# --- GET /audit ------------------------------------------------------------------------------------


async def _reads_of_a_student(client: Client, db: AsyncSession) -> uuid.UUID:
    """A student read twice by office staff, once refused to cm1 and once through her case by cm5."""
    kid = await f.student(db, await f.school(db))
    case = await f.case(db, kid, manager=await f.user_id(db, "cm5"))
    await db.commit()
    office, cm1, cm5 = [await login(client, u) for u in ("office1", "cm1", "cm5")]
    for n in (1, 2):
        await client.get(f"/students/{kid.id}", headers=_as(office, f"req-office-{n}"))
    await client.get(f"/students/{kid.id}", headers=_as(cm1, "req-cm1"))
    await client.get(f"/cases/{case.id}", headers=_as(cm5, "req-cm5"))
    return kid.id


async def test_only_admins_read_the_audit_log(client: Client) -> None:
    for username in ("office1", "sup1", "cm1", "counselor1"):
        response = await client.get("/audit", headers=bearer(await login(client, username)))
        assert response.status_code == 403, username
    assert (await client.get("/audit", headers=bearer(await login(client, "admin")))).status_code == 200


async def test_a_students_accesses_come_newest_first_in_pages(client: Client, db: AsyncSession) -> None:
    kid = await _reads_of_a_student(client, db)
    admin = await login(client, "admin")
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"student_id": str(kid), "limit": 1} | ({"cursor": cursor} if cursor else {})
        page = await client.get("/audit", params=params, headers=bearer(admin))
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= 1
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [i["request_id"] for i in items] == ["req-cm5", "req-cm1", "req-office-2", "req-office-1"]
    assert [i["action"] for i in items] == ["case.read", "student.read_refused", "student.read", "student.read"]
    assert [i["id"] for i in items] == sorted((i["id"] for i in items), reverse=True)
    newest = items[0]
    assert set(newest) == {
        "id",
        "at",
        "actor_id",
        "actor_role",
        "device_id",
        "action",
        "entity_type",
        "entity_id",
        "student_id",
        "request_id",
        "detail",
    }
    assert newest["student_id"] == str(kid) and newest["actor_role"] == "case_manager"
    assert newest["actor_id"] == str(await f.user_id(db, "cm5")) and newest["device_id"]


async def test_the_audit_log_filters_by_actor_and_time(client: Client, db: AsyncSession) -> None:
    kid = await _reads_of_a_student(client, db)
    admin = await login(client, "admin")
    office = await f.user_id(db, "office1")
    by_office = await client.get(
        "/audit", params={"student_id": str(kid), "actor_id": str(office)}, headers=bearer(admin)
    )
    assert [i["request_id"] for i in by_office.json()["items"]] == ["req-office-2", "req-office-1"]
    now = datetime.now(UTC)
    window = {"student_id": str(kid), "since": (now - timedelta(hours=1)).isoformat()}
    actions = [i["action"] for i in (await client.get("/audit", params=window, headers=bearer(admin))).json()["items"]]
    # The admin's first look (``audit.read``, naming the student) is one of them.
    assert actions == ["audit.read", "case.read", "student.read_refused", "student.read", "student.read"]
    before = {"student_id": str(kid), "until": (now - timedelta(hours=1)).isoformat()}
    assert (await client.get("/audit", params=before, headers=bearer(admin))).json()["items"] == []


async def test_reading_the_audit_log_is_audited(client: Client, db: AsyncSession) -> None:
    kid = uuid.uuid4()
    admin = await login(client, "admin")
    await client.get("/audit", params={"student_id": str(kid)}, headers=_as(admin, "req-audit-read"))
    (row,) = await _rows(db, "req-audit-read")
    assert (row.action, row.student_id, row.actor_role) == ("audit.read", kid, "admin")


async def test_bad_audit_parameters_are_400_problem_documents(client: Client) -> None:
    admin = bearer(await login(client, "admin"))
    for params in (
        {"student_id": "not-a-uuid"},
        {"actor_id": "42"},
        {"cursor": "garbage!"},
        {"cursor": "YXVkaXQ6LTE="},  # a well-formed cursor naming no row
        {"limit": "0"},
        {"limit": "201"},
        {"since": "yesterday"},
        {"since": "2026-03-02T00:00:00"},  # no UTC offset
        {"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"},
    ):
        response = await client.get("/audit", params=params, headers=admin)
        assert response.status_code == 400, params
        assert response.headers["content-type"].startswith("application/problem+json"), params
        assert response.json()["code"] == "malformed", params
