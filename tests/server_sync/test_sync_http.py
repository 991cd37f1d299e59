"""Sync over HTTP on PostgreSQL: the routes, refusals kept in the audit log, revocation, and the
commit-order race. These commit for real, so each test has a database of its own."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from schemas.auth import Role
from schemas.sync import RecordType
from server.audit import AuditEntry
from server.cases.models import Case, ContactAttempt
from server.sync.models import SyncMutation
from server.sync.pg_store import PgStore
from sync.store import Principal
from tests.helpers import bearer, login
from tests.server_sync.conftest import Field


def _push(f: Field, *mutations: dict[str, Any], schema_version: int = 1, client_id: uuid.UUID | None = None) -> Any:
    body = {"client_id": str(client_id or f.phone), "schema_version": schema_version, "mutations": list(mutations)}
    return f.client.post("/sync/push", json=body, headers=bearer(f.tokens))


def _attempt(mid: int, case_id: uuid.UUID, **extra: Any) -> dict[str, Any]:
    args = {"id": str(uuid.uuid4()), "case_id": str(case_id), "method": "home_visit", "outcome": "family_met"}
    return {"id": mid, "name": "contact_attempt.create", "args": args | {"at": "2026-01-05T16:30:00Z"} | extra}


async def test_push_applies_once_and_pull_brings_the_caseload(field: Field) -> None:
    first = await _push(field, _attempt(1, field.case_id))
    assert first.status_code == 200, first.text
    assert first.json()["results"][0]["status"] == "applied"
    again = await _push(field, _attempt(1, field.case_id))
    assert again.json()["results"][0]["status"] == "already_processed"
    pulled = await field.client.post(
        "/sync/pull", json={"client_id": str(field.phone), "schema_version": 1}, headers=bearer(field.tokens)
    )
    assert pulled.status_code == 200
    body = pulled.json()
    assert body["last_mutation_id"] == 1 and body["has_more"] is False
    assert sorted(c["type"] for c in body["changes"]) == ["case", "contact_attempt", "household", "student"]
    case = next(c for c in body["changes"] if c["type"] == "case")
    student = next(c for c in body["changes"] if c["type"] == "student")
    assert case["data"]["student_id"] == student["id"] and student["data"]["household_id"]


async def test_an_unknown_mutation_is_rejected_malformed_and_kept(field: Field) -> None:
    odd = {"id": 1, "name": "visit_log.check_in", "args": {"lat": 41.5}}
    response = await _push(field, odd, _attempt(2, field.case_id))
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["rejected", "applied"]
    assert results[0]["error"]["code"] == "malformed"
    async with field.factory() as s:
        stored = (
            await s.execute(select(SyncMutation.name, SyncMutation.raw).where(SyncMutation.mutation_id == 1))
        ).one()
    assert stored.name == "visit_log.check_in" and '"lat":41.5' in (stored.raw or "")


async def test_an_unsupported_schema_version_is_refused_and_recorded(field: Field) -> None:
    response = await _push(field, _attempt(1, field.case_id), schema_version=99)
    assert response.status_code == 400
    assert response.json()["code"] == "version_not_supported"
    async with field.factory() as s:
        refused = (await s.scalars(select(AuditEntry).where(AuditEntry.action == "sync.refused"))).all()
    assert len(refused) == 1
    assert refused[0].detail is not None and '"schema_version":99' in refused[0].detail["body"]


async def test_an_unreadable_envelope_is_400_with_the_field_path(field: Field) -> None:
    response = await field.client.post(
        "/sync/push", json={"client_id": "nope", "schema_version": 1, "mutations": []}, headers=bearer(field.tokens)
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed" and "client_id" in response.json()["detail"]


async def test_pushing_as_another_device_is_403(field: Field) -> None:
    response = await _push(field, _attempt(1, field.case_id), client_id=uuid.uuid4())
    assert response.status_code == 403


async def test_a_revoked_device_is_told_to_wipe(field: Field) -> None:
    admin = await login(field.client, "admin")
    await field.client.post(f"/devices/{field.phone}/revoke", headers=bearer(admin))
    response = await _push(field, _attempt(1, field.case_id))
    assert response.status_code == 401
    assert response.json()["code"] == "device_revoked"


async def test_a_transaction_committing_after_a_later_one_is_not_skipped(field: Field) -> None:
    async with field.factory() as s:
        cm = (await s.execute(select(Case.case_manager_id).where(Case.id == field.case_id))).scalar_one()
    assert cm is not None
    who = Principal(field.phone, cm, Role.CASE_MANAGER)

    async def pull(cursor: str | None) -> tuple[set[uuid.UUID], str]:
        seen: set[uuid.UUID] = set()
        while True:
            async with field.factory() as s:
                page = await PgStore(s).changes(who, cursor, 500, 1_000_000)
            seen |= {c.id for c in page.changes if c.type == RecordType.CONTACT_ATTEMPT}
            cursor = page.cursor
            if not page.has_more:
                return seen, cursor

    def attempt() -> ContactAttempt:
        return ContactAttempt(
            id=uuid.uuid4(), case_id=field.case_id, method="phone", outcome="reached", at=datetime.now(UTC)
        )

    _, cursor = await pull(None)
    async with field.factory() as t1, field.factory() as t2:
        first, second = attempt(), attempt()
        t1.add(first)
        await t1.flush()  # T1 is open and holds its transaction id
        t2.add(second)
        await t2.commit()  # T2, younger, commits first
        seen_before, cursor = await pull(cursor)
        await t1.commit()
    seen_after, _ = await pull(cursor)
    assert first.id in seen_before | seen_after
    assert second.id in seen_before | seen_after


async def test_a_cursor_older_than_the_purged_log_resets(field: Field) -> None:
    from datetime import timedelta

    from server.sync.maintenance import purge_changes

    def pull(cursor: str | None) -> Any:
        body = {"client_id": str(field.phone), "schema_version": 1} | ({"cursor": cursor} if cursor else {})
        return field.client.post("/sync/pull", json=body, headers=bearer(field.tokens))

    first = (await pull(None)).json()
    await _push(field, _attempt(1, field.case_id))
    async with field.factory() as s:
        assert await purge_changes(s, timedelta(0)) > 0
        await s.commit()
    after = (await pull(first["cursor"])).json()
    assert after["reset"] is True
    assert sorted(c["type"] for c in after["changes"]) == ["case", "contact_attempt", "household", "student"]
    assert (await pull(after["cursor"])).json() == {
        "cursor": (await pull(after["cursor"])).json()["cursor"],
        "has_more": False,
        "reset": False,
        "last_mutation_id": 1,
        "changes": [],
    }


@pytest.mark.parametrize(
    "damage",
    [
        {"t": 99},  # past the last record type
        {"t": -7},
        {"t": 2, "i": "not-a-record-id"},
        {"t": 2, "i": "\n"},  # a pattern's $ matches before a last newline
        {"t": 2, "i": "6f9619ff-8b86-d011-b42d-00c04fc964ff\n"},
        {"x": 2**63},  # past PostgreSQL's bigint
        {"x": -1},
        {"t": -1, "q": 2**63},
    ],
    ids=[
        "type-past-the-last",
        "type-negative",
        "id-not-a-uuid",
        "id-newline",
        "id-and-newline",
        "position-past-bigint",
        "position-negative",
        "seq",
    ],
)
async def test_a_damaged_cursor_of_the_clients_own_resets_instead_of_failing(
    field: Field, damage: dict[str, Any]
) -> None:
    """A cursor is the phone's to keep, not signed: one it damaged (or made up) with its own client
    id starts over from a snapshot, as an unknown cursor does, never a 500."""
    from server.sync.pg_store import _decode

    def pull(cursor: str | None) -> Any:
        body = {"client_id": str(field.phone), "schema_version": 1} | ({"cursor": cursor} if cursor else {})
        return field.client.post("/sync/pull", json=body, headers=bearer(field.tokens))

    good = (await pull(None)).json()
    real = _decode(good["cursor"])
    assert real is not None
    fields = {"c": real.c, "e": real.e, "x": real.x, "q": real.q, "t": real.t, "i": real.i} | damage
    damaged = base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")
    answer = await pull(damaged)
    assert answer.status_code == 200, answer.text
    assert answer.json()["reset"] is True
    assert sorted(c["type"] for c in answer.json()["changes"]) == ["case", "household", "student"]


async def test_a_push_that_keeps_meeting_concurrent_changes_is_503_and_changes_nothing(
    field: Field, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.sync.pg_store import StaleWrite

    tries = []

    async def always_stale(self: PgStore, batch: object) -> None:
        tries.append(batch)
        raise StaleWrite("another device got there first")

    monkeypatch.setattr(PgStore, "commit_batch", always_stale)
    response = await _push(field, _attempt(1, field.case_id))
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    assert len(tries) == 3
    monkeypatch.undo()
    retried = await _push(field, _attempt(1, field.case_id))
    assert retried.json()["results"][0]["status"] == "applied"
    assert retried.json()["last_mutation_id"] == 1
