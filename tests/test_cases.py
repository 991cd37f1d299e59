"""Case routes: scoping by role, pagination, assignment and the lifecycle."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cases import CaseStatus
from server.audit import AuditEntry
from server.cases.models import Case
from tests import factories as f
from tests.helpers import Client, bearer, login


@dataclass
class World:
    cm1_case: Case
    cm2_case: Case
    cm5_case: Case
    unassigned: Case
    other_school_case: Case


@pytest.fixture
async def world(db: AsyncSession) -> World:
    north, south = await f.school(db, "North"), await f.school(db, "South")
    await f.counselor_at(db, "counselor1", north)
    cm1, cm2, cm5 = [await f.user_id(db, u) for u in ("cm1", "cm2", "cm5")]
    w = World(
        cm1_case=await f.case(db, await f.student(db, north), manager=cm1, opened_days_ago=5),
        cm2_case=await f.case(db, await f.student(db, north), manager=cm2, opened_days_ago=4),
        cm5_case=await f.case(db, await f.student(db, north), manager=cm5, opened_days_ago=3),
        unassigned=await f.case(db, await f.student(db, north), status=CaseStatus.REFERRED, opened_days_ago=2),
        other_school_case=await f.case(db, await f.student(db, south), manager=cm1, opened_days_ago=1),
    )
    await db.commit()
    return w


async def _ids(client: Client, username: str) -> set[uuid.UUID]:
    tokens = await login(client, username)
    response = await client.get("/cases", params={"limit": 200}, headers=bearer(tokens))
    assert response.status_code == 200, response.text
    return {uuid.UUID(c["id"]) for c in response.json()["items"]}


async def test_each_role_sees_its_own_cases(client: Client, world: World) -> None:
    w = world
    assert await _ids(client, "cm1") == {w.cm1_case.id, w.other_school_case.id}
    assert await _ids(client, "cm5") == {w.cm5_case.id}
    assert await _ids(client, "sup1") == {w.cm1_case.id, w.cm2_case.id, w.unassigned.id, w.other_school_case.id}
    assert await _ids(client, "sup2") == {w.cm5_case.id, w.unassigned.id}
    everything = {w.cm1_case.id, w.cm2_case.id, w.cm5_case.id, w.unassigned.id, w.other_school_case.id}
    assert await _ids(client, "office1") >= everything
    assert await _ids(client, "admin") >= everything
    assert await _ids(client, "counselor1") == everything - {w.other_school_case.id}
    assert await _ids(client, "counselor2") == set()


async def test_pagination_walks_every_case_once(client: Client, world: World) -> None:
    tokens = await login(client, "sup1")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/cases", params=params, headers=bearer(tokens))).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 4


async def test_unassigned_lists_the_cases_with_no_case_manager_in_the_callers_scope(
    client: Client, world: World
) -> None:
    """``GET /cases?status=referred&unassigned=true`` is what a supervisor assigns; ``false`` the rest."""
    w = world
    for username in ("sup1", "sup2", "admin"):
        tokens = await login(client, username)
        params: dict[str, str | int] = {"status": "referred", "unassigned": "true", "limit": 200}
        page = (await client.get("/cases", params=params, headers=bearer(tokens))).json()
        assert [c["id"] for c in page["items"]] == [str(w.unassigned.id)], username
    tokens = await login(client, "sup1")
    assigned = (await client.get("/cases", params={"unassigned": "false"}, headers=bearer(tokens))).json()
    assert {c["id"] for c in assigned["items"]} == {str(c.id) for c in (w.cm1_case, w.cm2_case, w.other_school_case)}
    cm1 = await login(client, "cm1")
    assert (await client.get("/cases", params={"unassigned": "true"}, headers=bearer(cm1))).json()["items"] == []


async def test_bad_cursor_and_limit_are_400(client: Client) -> None:
    tokens = await login(client, "sup1")
    assert (await client.get("/cases", params={"cursor": "garbage!"}, headers=bearer(tokens))).status_code == 400
    assert (await client.get("/cases", params={"limit": 0}, headers=bearer(tokens))).status_code == 400


async def test_reading_a_case_is_audited_and_invisible_cases_are_404(
    client: Client, world: World, db: AsyncSession
) -> None:
    tokens = await login(client, "cm1")
    response = await client.get(f"/cases/{world.cm1_case.id}", headers=bearer(tokens))
    assert response.status_code == 200
    body = response.json()
    assert body["student"]["id"] == str(world.cm1_case.student_id)
    reads = (
        await db.scalars(
            select(AuditEntry).where(AuditEntry.action == "case.read", AuditEntry.entity_id == str(world.cm1_case.id))
        )
    ).all()
    assert [(r.entity_type, r.student_id) for r in reads] == [("case", world.cm1_case.student_id)]
    assert (await client.get(f"/cases/{world.cm5_case.id}", headers=bearer(tokens))).status_code == 404


async def test_supervisor_assigns_a_referred_case_to_her_team(client: Client, world: World, db: AsyncSession) -> None:
    tokens = await login(client, "sup1")
    cm2 = await f.user_id(db, "cm2")
    response = await client.post(
        f"/cases/{world.unassigned.id}/assign", json={"case_manager_id": str(cm2)}, headers=bearer(tokens)
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "assigned" and body["case_manager_id"] == str(cm2)
    assert body["version"] == world.unassigned.version + 1
    assert world.unassigned.id in await _ids(client, "cm2")


async def test_reassignment_moves_the_case_and_is_audited(client: Client, world: World, db: AsyncSession) -> None:
    tokens = await login(client, "sup1")
    cm3 = await f.user_id(db, "cm3")
    response = await client.post(
        f"/cases/{world.cm1_case.id}/assign", json={"case_manager_id": str(cm3)}, headers=bearer(tokens)
    )
    assert response.status_code == 200
    assert world.cm1_case.id not in await _ids(client, "cm1")
    assert world.cm1_case.id in await _ids(client, "cm3")
    rows = (await db.scalars(select(AuditEntry).where(AuditEntry.entity_id == str(world.cm1_case.id)))).all()
    assert "case.reassign" in {r.action for r in rows}


async def test_supervisor_cannot_assign_to_another_team_and_case_managers_cannot_assign(
    client: Client, world: World, db: AsyncSession
) -> None:
    cm5 = await f.user_id(db, "cm5")
    sup1 = await login(client, "sup1")
    response = await client.post(
        f"/cases/{world.unassigned.id}/assign", json={"case_manager_id": str(cm5)}, headers=bearer(sup1)
    )
    assert response.status_code == 403
    cm1 = await login(client, "cm1")
    response = await client.post(
        f"/cases/{world.cm1_case.id}/assign", json={"case_manager_id": str(cm5)}, headers=bearer(cm1)
    )
    assert response.status_code == 403


async def test_lifecycle_moves_forward_and_closes_with_outcome(client: Client, world: World) -> None:
    tokens = await login(client, "cm1")
    url = f"/cases/{world.cm1_case.id}/transition"
    for status in ("contacting", "active", "monitoring", "active", "monitoring"):
        response = await client.post(url, json={"status": status}, headers=bearer(tokens))
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status
    response = await client.post(url, json={"status": "closed"}, headers=bearer(tokens))
    assert response.status_code == 400  # no outcome, no reason
    response = await client.post(
        url, json={"status": "closed", "outcome": "improved", "reason": "Attending daily"}, headers=bearer(tokens)
    )
    assert response.status_code == 200
    body = response.json()
    assert body["closed_at"] and body["outcome"] == "improved" and body["close_reason"] == "Attending daily"
    response = await client.post(url, json={"status": "active"}, headers=bearer(tokens))
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"


async def test_a_disallowed_transition_is_409_and_writes_nothing(
    client: Client, world: World, db: AsyncSession
) -> None:
    tokens = await login(client, "cm1")
    before = world.cm1_case.version
    response = await client.post(
        f"/cases/{world.cm1_case.id}/transition", json={"status": "monitoring"}, headers=bearer(tokens)
    )
    assert response.status_code == 409
    assert "allowed: closed, contacting" in response.json()["detail"]
    assert await db.scalar(select(Case.version).where(Case.id == world.cm1_case.id)) == before


async def test_casework_can_be_added_to_a_case(client: Client, world: World) -> None:
    tokens = await login(client, "cm1")
    response = await client.post(
        f"/cases/{world.cm1_case.id}/service-referrals",
        json={"resource": "Family counseling center", "referred_on": "2026-01-10", "category": "counseling"},
        headers=bearer(tokens),
    )
    assert response.status_code == 201
    response = await client.post(
        f"/cases/{world.cm1_case.id}/follow-ups",
        json={"title": "Call mother after report cards", "due_on": "2026-02-01"},
        headers=bearer(tokens),
    )
    assert response.status_code == 201
    detail = (await client.get(f"/cases/{world.cm1_case.id}", headers=bearer(tokens))).json()
    assert [s["resource"] for s in detail["service_referrals"]] == ["Family counseling center"]
    assert [t["title"] for t in detail["follow_ups"]] == ["Call mother after report cards"]


async def test_every_change_to_a_case_names_its_student_in_the_audit_log(
    client: Client, world: World, db: AsyncSession
) -> None:
    """A parent's records request (``doorstep audit export --student``) lists changes too."""
    case = world.unassigned
    sup = await login(client, "sup1")
    cm2 = await f.user_id(db, "cm2")
    assert (
        await client.post(f"/cases/{case.id}/assign", json={"case_manager_id": str(cm2)}, headers=bearer(sup))
    ).status_code == 200
    cases = f"/cases/{case.id}"
    await client.post(cases + "/follow-ups", json={"title": "call", "due_on": "2026-01-05"}, headers=bearer(sup))
    referral = {"resource": "food bank", "referred_on": "2026-01-05"}
    await client.post(cases + "/service-referrals", json=referral, headers=bearer(sup))
    await client.post(cases + "/transition", json={"status": "contacting"}, headers=bearer(sup))
    rows = await db.scalars(select(AuditEntry.action).where(AuditEntry.student_id == case.student_id))
    assert {"case.assign", "follow_up.create", "service_referral.create", "case.transition"} <= set(rows)
