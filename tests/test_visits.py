"""Visit records in review: ``GET /visits`` (the queue, scoped and filtered), ``GET /visits/{id}``
(the whole record, audited), ``POST /visits/{id}/decisions`` (who may decide, idempotency, stale
versions, a return's comment) and the turnaround per supervisor."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from schemas.visits import DecisionIn, ReviewDecision
from server.audit import Actor, AuditEntry
from server.auth.models import User
from server.auth.service import Principal
from server.cases.models import Case, FormPhoto, VisitLog, VisitNote, VisitNoteAddendum
from server.errors import StaleVersion
from server.visits import approvals
from server.visits.models import VisitDecision
from tests import factories as f
from tests.helpers import Client, bearer, login


async def _now(db: AsyncSession) -> datetime:
    now: datetime | None = await db.scalar(select(func.now()))
    assert now is not None
    return now


async def _visit(
    db: AsyncSession,
    case: Case,
    author: uuid.UUID,
    *,
    hours_ago: float = 1,
    status: str = "submitted",
    flags: tuple[str, ...] = (),
    body: str = "Met the family at home.",
) -> tuple[VisitLog, VisitNote]:
    """A checked-out visit with its note, submitted ``hours_ago`` (before the test's transaction time)."""
    now = await _now(db)
    visit = VisitLog(
        id=uuid.uuid4(),
        case_id=case.id,
        created_by=author,
        status="checked_out",
        checked_in_at=now - timedelta(hours=hours_ago + 2),
        checked_out_at=now - timedelta(hours=hours_ago + 1),
        outcome="family_met",
        latitude=41.55,
        longitude=-73.04,
        accuracy_m=12.0,
        distance_m=40.5,
        flags=list(flags),
    )
    db.add(visit)
    await db.flush()
    note = VisitNote(
        id=uuid.uuid4(),
        case_id=case.id,
        author_id=author,
        body=body,
        status=status,
        submitted_at=now - timedelta(hours=hours_ago),
        visit_log_id=visit.id,
        version=2,
    )
    db.add(note)
    await db.flush()
    return visit, note


async def _principal(db: AsyncSession, username: str) -> Principal:
    user = await db.scalar(select(User).where(User.username == username))
    assert user is not None
    return Principal(user.id, user.username, user.display_name, Role(user.role), user.supervisor_id, uuid.uuid4())


def _decision(version: int, decision: str = "approve", **extra: Any) -> dict[str, Any]:
    return {"decision_id": str(uuid.uuid4()), "decision": decision, "expected_version": version} | extra


async def _ids(client: Client, tokens: dict[str, Any], **params: str) -> list[str]:
    response = await client.get("/visits", params=params, headers=bearer(tokens))
    assert response.status_code == 200, response.text
    return [v["id"] for v in response.json()["items"]]


@pytest.fixture
async def team(db: AsyncSession) -> dict[str, Any]:
    """cm1 and cm2 (sup1's team), cm5 (sup2's), a case each, and a north school counselor1 works at."""
    school = await f.school(db, "North")
    await f.counselor_at(db, "counselor1", school)
    users = {u: await f.user_id(db, u) for u in ("cm1", "cm2", "cm5", "sup1", "sup2", "admin")}
    cases = {u: await f.case(db, await f.student(db, school), manager=users[u]) for u in ("cm1", "cm2", "cm5")}
    return {"users": users, "cases": cases}


async def test_the_queue_is_scoped_filtered_paged_and_audited(
    client: Client, db: AsyncSession, team: dict[str, Any]
) -> None:
    u, c = team["users"], team["cases"]
    oldest, _ = await _visit(db, c["cm1"], u["cm1"], hours_ago=24 * 9, flags=("location_mismatch",))
    approved, _ = await _visit(db, c["cm1"], u["cm1"], hours_ago=24 * 4, status="approved")
    returned, _ = await _visit(db, c["cm2"], u["cm2"], hours_ago=24 * 3, status="returned")
    fresh, _ = await _visit(db, c["cm2"], u["cm2"], hours_ago=2, flags=("location_missing",))
    theirs, _ = await _visit(db, c["cm5"], u["cm5"], hours_ago=5)
    draft_only = VisitLog(
        id=uuid.uuid4(), case_id=c["cm1"].id, created_by=u["cm1"], status="open", checked_in_at=await _now(db)
    )
    db.add(draft_only)
    await db.flush()
    db.add(VisitNote(id=uuid.uuid4(), case_id=c["cm1"].id, author_id=u["cm1"], body="x", visit_log_id=draft_only.id))
    await db.commit()
    v = {k: str(x.id) for k, x in dict(oldest=oldest, approved=approved, returned=returned, fresh=fresh).items()}
    sup1 = await login(client, "sup1")

    assert await _ids(client, sup1) == [v["oldest"], v["approved"], v["returned"], v["fresh"]], "oldest first"
    assert await _ids(client, sup1, status="submitted") == [v["oldest"], v["fresh"]]
    assert await _ids(client, sup1, status="approved") == [v["approved"]]
    assert await _ids(client, sup1, status="returned") == [v["returned"]]
    assert await _ids(client, sup1, case_manager_id=str(u["cm2"])) == [v["returned"], v["fresh"]]
    assert await _ids(client, sup1, flag="location_mismatch") == [v["oldest"]]
    assert await _ids(client, sup1, older_than_days="4", status="submitted") == [v["oldest"]]
    assert await _ids(client, sup1, older_than_days="3") == [v["oldest"], v["approved"], v["returned"]]
    assert await _ids(client, await login(client, "sup2")) == [str(theirs.id)]
    assert await _ids(client, await login(client, "cm1")) == [v["oldest"], v["approved"]]
    assert len(await _ids(client, await login(client, "office1"))) == 5
    assert len(await _ids(client, await login(client, "admin"))) == 5

    paged, cursor = [], None
    while True:
        params = {"limit": "3"} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/visits", params=params, headers=bearer(sup1))).json()
        paged += [item["id"] for item in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert paged == [v["oldest"], v["approved"], v["returned"], v["fresh"]]

    item = (await client.get("/visits", params={"flag": "location_missing"}, headers=bearer(sup1))).json()["items"][0]
    assert (item["case_manager_id"], item["student_id"], item["status"], item["version"], item["flags"]) == (
        str(u["cm2"]),
        str(c["cm2"].student_id),
        "submitted",
        2,
        ["location_missing"],
    )
    for bad in (
        {"status": "draft"},
        {"flag": "odd"},
        {"older_than_days": "-1"},
        {"cursor": "x"},
        {"case_manager_id": "1"},
    ):
        response = await client.get("/visits", params=bad, headers=bearer(sup1))
        assert (response.status_code, response.json()["code"]) == (400, "malformed"), bad

    await client.get("/visits", params={"case_manager_id": str(u["cm2"])}, headers=bearer(sup1) | {"X-Request-ID": "q"})
    rows = (await db.scalars(select(AuditEntry).where(AuditEntry.request_id == "q"))).all()
    assert [(r.action, r.student_id, r.detail) for r in rows] == [
        ("student.listed", c["cm2"].student_id, {"via": "visits", "visit_ids": [v["returned"], v["fresh"]]})
    ]


async def test_the_whole_visit_record_is_read_and_audited(
    client: Client, db: AsyncSession, team: dict[str, Any]
) -> None:
    u, c = team["users"], team["cases"]
    visit, note = await _visit(db, c["cm1"], u["cm1"], flags=("location_low_accuracy",))
    visit.truancy = None
    db.add(VisitNoteAddendum(id=uuid.uuid4(), note_id=note.id, body="The father called back.", author_id=u["cm1"]))
    photo = FormPhoto(
        id=uuid.uuid4(),
        case_id=c["cm1"].id,
        visit_log_id=visit.id,
        form_type="consent",
        sha256="a" * 64,
        size=10,
        content_type="image/jpeg",
        taken_at=await _now(db),
        created_by=u["cm1"],
        upload_status="received",
    )
    db.add(photo)
    other, _ = await _visit(db, c["cm5"], u["cm5"])
    unsubmitted = VisitLog(
        id=uuid.uuid4(), case_id=c["cm1"].id, created_by=u["cm1"], status="open", checked_in_at=await _now(db)
    )
    db.add(unsubmitted)
    await db.commit()
    sup1 = await login(client, "sup1")
    response = await client.get(f"/visits/{visit.id}", headers=bearer(sup1) | {"X-Request-ID": "read"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert {k: body[k] for k in ("id", "case_id", "case_manager_id", "status", "version", "flags")} == {
        "id": str(visit.id),
        "case_id": str(c["cm1"].id),
        "case_manager_id": str(u["cm1"]),
        "status": "submitted",
        "version": 2,
        "flags": ["location_low_accuracy"],
    }
    assert (body["distance_m"], body["accuracy_m"], body["radius_m"], body["truancy"]) == (40.5, 12.0, 150.0, None)
    assert (body["note"]["id"], body["note"]["body"], body["note"]["review_status"]) == (
        str(note.id),
        "Met the family at home.",
        None,
    )
    assert [a["body"] for a in body["addenda"]] == ["The father called back."]
    assert [(p["id"], p["form_type"]) for p in body["photos"]] == [(str(photo.id), "consent")]
    assert body["decisions"] == []
    for tokens in (sup1, await login(client, "cm1"), await login(client, "counselor1"), await login(client, "office1")):
        assert (await client.get(f"/visits/{visit.id}", headers=bearer(tokens))).status_code == 200
    refused = await client.get(f"/visits/{other.id}", headers=bearer(sup1) | {"X-Request-ID": "no"})
    missing = await client.get(f"/visits/{uuid.uuid4()}", headers=bearer(sup1))
    not_queued = await client.get(f"/visits/{unsubmitted.id}", headers=bearer(sup1))
    assert refused.status_code == missing.status_code == not_queued.status_code == 404
    assert refused.json() == missing.json()
    done = {
        r.request_id: (r.action, r.entity_id, r.student_id)
        for r in await db.scalars(select(AuditEntry).where(AuditEntry.request_id.in_(["read", "no"])))
    }
    assert done == {
        "read": ("visit.read", str(visit.id), c["cm1"].student_id),
        "no": ("visit.read_refused", str(other.id), c["cm5"].student_id),
    }


async def test_a_decision_is_idempotent_by_its_id(client: Client, db: AsyncSession, team: dict[str, Any]) -> None:
    u, c = team["users"], team["cases"]
    visit, note = await _visit(db, c["cm1"], u["cm1"])
    await db.commit()
    sup1 = bearer(await login(client, "sup1"))
    body = _decision(2, "approve", comment="Clear and complete.")
    first = await client.post(f"/visits/{visit.id}/decisions", json=body, headers=sup1)
    assert first.status_code == 200, first.text
    assert {
        k: first.json()[k] for k in ("id", "status", "version", "review_status", "review_comment", "reviewed_by")
    } == {
        "id": str(visit.id),
        "status": "approved",
        "version": 3,
        "review_status": "approved",
        "review_comment": "Clear and complete.",
        "reviewed_by": str(u["sup1"]),
    }
    again = await client.post(f"/visits/{visit.id}/decisions", json=body, headers=sup1)
    assert (again.status_code, again.content) == (200, first.content)
    for changed in ({"comment": "Other words."}, {"decision": "return", "comment": "x"}, {"expected_version": 3}):
        other = await client.post(f"/visits/{visit.id}/decisions", json=body | changed, headers=sup1)
        assert (other.status_code, other.json()["code"]) == (409, "duplicate_id"), changed
    assert (await db.scalar(select(func.count()).select_from(VisitDecision))) == 1
    stored = await db.get(VisitNote, note.id, populate_existing=True)
    assert stored is not None and (stored.status, stored.version) == ("approved", 3)
    decided = await client.post(f"/visits/{visit.id}/decisions", json=_decision(3, "return", comment="x"), headers=sup1)
    assert (decided.status_code, decided.json()["code"]) == (409, "invalid_transition")


async def test_a_stale_version_is_refused_with_the_current_state(
    client: Client, db: AsyncSession, team: dict[str, Any]
) -> None:
    u, c = team["users"], team["cases"]
    visit, note = await _visit(db, c["cm1"], u["cm1"])
    await db.commit()
    sup1 = bearer(await login(client, "sup1"))
    stale = await client.post(f"/visits/{visit.id}/decisions", json=_decision(1, "approve"), headers=sup1)
    assert (stale.status_code, stale.json()["code"]) == (409, "stale_version")
    current = stale.json()["current"]
    assert (current["id"], current["status"], current["version"], current["review_status"]) == (
        str(visit.id),
        "submitted",
        2,
        None,
    )
    assert stale.headers["content-type"] == "application/problem+json"
    stored = await db.get(VisitNote, note.id, populate_existing=True)
    assert stored is not None and (stored.status, stored.version) == ("submitted", 2)
    assert (await db.scalar(select(func.count()).select_from(VisitDecision))) == 0


async def test_only_the_case_managers_supervisor_or_an_admin_decides(
    client: Client, db: AsyncSession, team: dict[str, Any]
) -> None:
    u, c = team["users"], team["cases"]
    visit, note = await _visit(db, c["cm1"], u["cm1"])
    await db.commit()
    body = _decision(2, "return", comment="More, please.")
    sup2 = await client.post(
        f"/visits/{visit.id}/decisions", json=body, headers=bearer(await login(client, "sup2")) | {"X-Request-ID": "x"}
    )
    missing = await client.post(
        f"/visits/{uuid.uuid4()}/decisions", json=body, headers=bearer(await login(client, "sup2"))
    )
    assert (sup2.status_code, sup2.json()) == (404, missing.json()), "another team's visit is as none"
    refusal = await db.scalar(select(AuditEntry).where(AuditEntry.request_id == "x"))
    assert refusal is not None and (refusal.action, refusal.student_id) == ("visit.decide_refused", c["cm1"].student_id)
    for username in ("counselor1", "office1", "cm1"):
        refused = await client.post(
            f"/visits/{visit.id}/decisions", json=body, headers=bearer(await login(client, username))
        )
        assert (refused.status_code, refused.json()["code"]) == (403, "forbidden"), username
    stored = await db.get(VisitNote, note.id, populate_existing=True)
    assert stored is not None and (stored.status, stored.version) == ("submitted", 2), "nothing changed"
    admin = await client.post(f"/visits/{visit.id}/decisions", json=body, headers=bearer(await login(client, "admin")))
    assert (admin.status_code, admin.json()["status"], admin.json()["reviewed_by"]) == (
        200,
        "returned",
        str(u["admin"]),
    )


@pytest.mark.parametrize("comment", [None, "", "   \n"])
async def test_a_return_needs_a_comment(
    client: Client, db: AsyncSession, team: dict[str, Any], comment: str | None
) -> None:
    u, c = team["users"], team["cases"]
    visit, note = await _visit(db, c["cm1"], u["cm1"])
    await db.commit()
    body = _decision(2, "return") | ({"comment": comment} if comment is not None else {})
    response = await client.post(
        f"/visits/{visit.id}/decisions", json=body, headers=bearer(await login(client, "sup1"))
    )
    assert (response.status_code, response.json()["code"]) == (400, "malformed")
    assert [e["key"] for e in response.json()["errors"]] == ["comment"]
    assert "`$.comment`" in response.json()["detail"]
    stored = await db.get(VisitNote, note.id, populate_existing=True)
    assert stored is not None and stored.status == "submitted"


async def test_turnaround_is_measured_per_supervisor(db: AsyncSession, team: dict[str, Any]) -> None:
    u, c = team["users"], team["cases"]
    sup1, sup2, admin = [await _principal(db, name) for name in ("sup1", "sup2", "admin")]
    actor = Actor.system()
    two, _ = await _visit(db, c["cm1"], u["cm1"], hours_ago=2)
    four, _ = await _visit(db, c["cm2"], u["cm2"], hours_ago=4)
    nine, _ = await _visit(db, c["cm1"], u["cm1"], hours_ago=9)
    theirs, _ = await _visit(db, c["cm5"], u["cm5"], hours_ago=1)
    waiting, _ = await _visit(db, c["cm1"], u["cm1"], hours_ago=30)
    for principal, visit, decision in (
        (sup1, two, ReviewDecision.APPROVE),
        (sup1, four, ReviewDecision.RETURN),
        (sup1, nine, ReviewDecision.APPROVE),
        (admin, theirs, ReviewDecision.APPROVE),
    ):
        body = DecisionIn(decision_id=uuid.uuid4(), decision=decision, expected_version=2, comment="Noted.")
        await approvals.decide(db, principal, actor, visit.id, body)
    with pytest.raises(StaleVersion):
        stale = DecisionIn(decision_id=uuid.uuid4(), decision=ReviewDecision.APPROVE, expected_version=1)
        await approvals.decide(db, sup1, actor, waiting.id, stale)

    everyone = await approvals.turnaround(db, admin)
    by = {row.supervisor_id: row for row in everyone}
    assert set(by) == {u["sup1"], u["admin"]}
    hour = 3600.0
    assert (by[u["sup1"]].decisions, by[u["sup1"]].approved, by[u["sup1"]].returned) == (3, 2, 1)
    assert (by[u["sup1"]].mean_seconds, by[u["sup1"]].median_seconds, by[u["sup1"]].max_seconds) == (
        5 * hour,
        4 * hour,
        9 * hour,
    )
    assert (by[u["admin"]].decisions, by[u["admin"]].median_seconds) == (1, 1 * hour)
    assert [row.supervisor_id for row in await approvals.turnaround(db, sup1)] == [u["sup1"]], "her team's visits"
    assert [(r.supervisor_id, r.decisions) for r in await approvals.turnaround(db, sup2)] == [(u["admin"], 1)]
    assert await approvals.turnaround(db, sup1, since=await _now(db) + timedelta(seconds=1)) == []
