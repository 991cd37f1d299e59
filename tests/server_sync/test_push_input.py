"""Pushes carrying what the database cannot store (issue 9, findings 3, 4 and 8).

A NUL in any pushed string used to fail at PostgreSQL on every try: 503, nothing stored, and
the phone stuck behind that mutation forever. A deterministic database refusal is now that
mutation's rejection, stored, and the queue moves on; 503 is only for real transients.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, text

from server.audit import AuditEntry
from server.cases.models import VisitNote
from server.sync.models import SyncMutation
from tests.helpers import bearer
from tests.server_sync.conftest import Field


def _push(f: Field, *mutations: dict[str, Any]) -> Any:
    body = {"client_id": str(f.phone), "schema_version": 1, "mutations": list(mutations)}
    return f.client.post("/sync/push", json=body, headers=bearer(f.tokens))


def _note(mid: int, case_id: uuid.UUID, body: str) -> dict[str, Any]:
    return {
        "id": mid,
        "name": "visit_note.save",
        "args": {"id": str(uuid.uuid4()), "case_id": str(case_id), "body": body},
    }


async def _outcomes(f: Field) -> dict[int, tuple[str, str | None]]:
    async with f.factory() as s:
        rows = await s.execute(select(SyncMutation.mutation_id, SyncMutation.status, SyncMutation.raw))
        return {r.mutation_id: (r.status, r.raw) for r in rows}


async def test_a_nul_in_a_pushed_string_is_that_mutations_rejection_and_the_queue_moves_on(field: Field) -> None:
    response = await _push(field, _note(1, field.case_id, "a\u0000b"), _note(2, field.case_id, "fine"))
    assert response.status_code == 200, response.text
    first, second = response.json()["results"]
    assert (first["status"], first["error"]["code"]) == ("rejected", "malformed")
    assert "`$.args.body`" in first["error"]["detail"]
    assert second["status"] == "applied"
    assert response.json()["last_mutation_id"] == 2
    outcomes = await _outcomes(field)
    assert outcomes[1][0] == "rejected" and "a\\u0000b" in (outcomes[1][1] or "")  # kept as sent
    async with field.factory() as s:
        assert (await s.scalars(select(VisitNote.body))).all() == ["fine"]


async def test_a_nul_in_a_mutation_name_is_malformed_and_kept(field: Field) -> None:
    response = await _push(field, {"id": 1, "name": "visit\u0000note.save", "args": {}})
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["error"]["code"] == "malformed"
    assert (await _outcomes(field))[1][0] == "rejected"


async def test_a_database_refusal_of_one_mutation_rejects_it_and_applies_the_rest(field: Field) -> None:
    """A value only the database refuses (here a check constraint the test adds) is the same on
    every try: the mutation is rejected with a code, stored, and the rest of the batch applies."""
    async with field.factory() as s:
        await s.execute(
            text("ALTER TABLE visit_note ADD CONSTRAINT ck_test_no_poison CHECK (body <> 'poison') NOT VALID")
        )
        await s.commit()
    response = await _push(
        field,
        _note(1, field.case_id, "before"),
        _note(2, field.case_id, "poison"),
        _note(3, field.case_id, "after"),
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["applied", "rejected", "applied"]
    assert results[1]["error"]["code"] == "constraint_violation"
    assert "ck_test_no_poison" in results[1]["error"]["detail"]
    assert response.json()["last_mutation_id"] == 3
    async with field.factory() as s:
        assert sorted((await s.scalars(select(VisitNote.body))).all()) == ["after", "before"]
    assert [status for status, _ in (await _outcomes(field)).values()] == ["applied", "rejected", "applied"]
    replay = await _push(field, _note(2, field.case_id, "poison"))
    assert replay.json()["results"][0] | {"detail": None} == results[1] | {
        "status": "already_processed",
        "original": "rejected",
        "detail": None,
    }


async def test_more_mutations_than_the_limit_are_refused_whole_and_recorded(field: Field) -> None:
    response = await _push(field, *(_note(n, field.case_id, "x") for n in range(1, 1002)))
    assert (response.status_code, response.json()["code"]) == (413, "too_many_mutations")
    assert await _outcomes(field) == {}
    async with field.factory() as s:
        refused = (await s.scalars(select(AuditEntry).where(AuditEntry.action == "sync.refused"))).all()
    assert [r.detail and r.detail["code"] for r in refused] == ["too_many_mutations"]


async def test_a_refused_push_with_a_raw_nul_byte_keeps_its_audit_row(field: Field) -> None:
    body = b'{"client_id": "' + str(field.phone).encode() + b'", "schema_version": 1, "mutations": ["\x00"]}'
    response = await field.client.post(
        "/sync/push", content=body, headers=bearer(field.tokens) | {"content-type": "application/json"}
    )
    assert (response.status_code, response.json()["code"]) == (400, "malformed")
    async with field.factory() as s:
        refused = (await s.scalars(select(AuditEntry).where(AuditEntry.action == "sync.refused"))).all()
    assert len(refused) == 1 and refused[0].detail is not None and "\ufffd" in refused[0].detail["body"]


async def test_push_args_nested_absurdly_deep_are_refused_and_recorded(field: Field) -> None:
    deep = "[" * 5000 + "]" * 5000
    mutation = f'{{"id": 1, "name": "x", "args": {deep}}}'
    body = f'{{"client_id": "{field.phone}", "schema_version": 1, "mutations": [{mutation}]}}'
    response = await field.client.post(
        "/sync/push", content=body.encode(), headers=bearer(field.tokens) | {"content-type": "application/json"}
    )
    assert (response.status_code, response.json()["code"]) == (400, "malformed")
    async with field.factory() as s:
        assert len((await s.scalars(select(AuditEntry).where(AuditEntry.action == "sync.refused"))).all()) == 1
