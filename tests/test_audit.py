"""The audit log: a row for every change, in the same transaction, and never rewritten."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit import Actor, AuditEntry, entries_for, record
from tests.helpers import Client, bearer, device, login


async def test_login_writes_an_audit_row_with_device_and_request_id(client: Client, db: AsyncSession) -> None:
    phone = uuid.uuid4()
    response = await client.post(
        "/auth/login",
        json={"username": "cm1", "password": "correct horse battery staple", "device": device(phone)},
        headers={"X-Request-ID": "req-login-1"},
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-login-1"
    rows = (await db.scalars(select(AuditEntry).where(AuditEntry.request_id == "req-login-1"))).all()
    actions = {r.action for r in rows}
    assert actions == {"device.register", "auth.login"}
    for row in rows:
        assert row.device_id == phone
        assert row.actor_role == "case_manager"
        assert row.actor_id is not None


async def test_a_refused_login_is_recorded(client: Client, db: AsyncSession) -> None:
    response = await client.post(
        "/auth/login",
        json={"username": "cm1", "password": "nope", "device": device()},
        headers={"X-Request-ID": "req-refused"},
    )
    assert response.status_code == 401
    rows = (await db.scalars(select(AuditEntry).where(AuditEntry.request_id == "req-refused"))).all()
    assert [r.action for r in rows] == ["auth.login_failed"]
    assert rows[0].detail == {"username": "cm1"}


async def test_revoking_a_device_is_audited_with_the_revoker(client: Client, db: AsyncSession) -> None:
    phone = uuid.uuid4()
    await login(client, "cm1", device_id=phone)
    sup = await login(client, "sup1")
    await client.post(f"/devices/{phone}/revoke", headers=bearer(sup))
    rows = await entries_for(db, "device", phone)
    revoke = [r for r in rows if r.action == "device.revoke"]
    assert len(revoke) == 1
    assert revoke[0].actor_role == "supervisor"


async def test_audit_rows_roll_back_with_the_change_they_record(client: Client, db: AsyncSession) -> None:
    admin = await login(client, "admin")
    before = await db.scalar(select(text("count(*)")).select_from(AuditEntry))
    # Revoking an unknown device fails: nothing, audit included, is written.
    await client.post(f"/devices/{uuid.uuid4()}/revoke", headers=bearer(admin))
    after = await db.scalar(select(text("count(*)")).select_from(AuditEntry))
    assert before == after


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_log SET action = 'forged'", "DELETE FROM audit_log", "TRUNCATE audit_log"]
)
async def test_the_audit_log_refuses_updates_deletes_and_truncates(db: AsyncSession, statement: str) -> None:
    record(db, Actor.system("t"), "test.event", "thing", "1")
    await db.flush()
    with pytest.raises(DBAPIError, match="append-only"):
        async with db.begin_nested():
            await db.execute(text(statement))
