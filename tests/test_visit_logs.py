"""``GET /visit-logs`` and ``GET /visit-logs/{id}``: the visit logs a reader may see (a supervisor
her team's flagged visits), filtered and paginated, every read audited with its student."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit import AuditEntry
from server.cases.models import Case, VisitLog
from tests import factories as f
from tests.helpers import Client, bearer, login
from tests.rules_fixtures import absent, make_district

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _visit(case: Case, author: uuid.UUID, hours: int, flags: list[str], **extra: Any) -> VisitLog:
    return VisitLog(
        id=uuid.uuid4(),
        case_id=case.id,
        created_by=author,
        status=extra.pop("status", "open"),
        checked_in_at=T0 + timedelta(hours=hours),
        flags=flags,
        **extra,
    )


async def _get(client: Client, tokens: dict[str, Any], path: str, **params: str) -> Any:
    response = await client.get(path, params=params, headers=bearer(tokens))
    assert response.status_code == 200, response.text
    return response.json()


async def _ids(client: Client, tokens: dict[str, Any], **params: str) -> list[str]:
    return [v["id"] for v in (await _get(client, tokens, "/visit-logs", **params))["items"]]


async def test_a_supervisor_lists_her_teams_flagged_visits_with_filters_and_pages(
    client: Client, db: AsyncSession
) -> None:
    school = await f.school(db)
    cm1, cm2, cm5 = [await f.user_id(db, u) for u in ("cm1", "cm2", "cm5")]
    case1 = await f.case(db, await f.student(db, school), manager=cm1)
    case2 = await f.case(db, await f.student(db, school), manager=cm2)  # sup1's team too
    case5 = await f.case(db, await f.student(db, school), manager=cm5)  # sup2's team
    visits = [
        _visit(case1, cm1, 0, []),
        _visit(case1, cm1, 1, ["location_mismatch"], status="checked_out", outcome="family_met"),
        _visit(case2, cm2, 2, ["location_missing", "home_not_geocoded"]),
        _visit(case2, cm2, 3, ["location_mismatch", "location_low_accuracy"]),
        _visit(case5, cm5, 4, ["location_mismatch"]),
    ]
    db.add_all(visits)
    await db.commit()
    v = [str(x.id) for x in visits]
    sup1 = await login(client, "sup1")

    assert await _ids(client, sup1) == v[:4]
    assert await _ids(client, sup1, flagged="true") == v[1:4]
    assert await _ids(client, sup1, flagged="false") == v[:1]
    assert await _ids(client, sup1, flag="location_mismatch") == [v[1], v[3]]
    assert await _ids(client, sup1, flagged="true", case_id=str(case2.id)) == v[2:4]
    assert await _ids(client, sup1, status="checked_out") == [v[1]]
    assert await _ids(client, await login(client, "cm1")) == v[:2]
    assert await _ids(client, await login(client, "sup2"), flagged="true") == [v[4]]

    paged, cursor = [], None
    while True:
        page = await _get(
            client, sup1, "/visit-logs", flagged="true", limit="1", **({"cursor": cursor} if cursor else {})
        )
        paged += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == v[1:4]

    first = (await _get(client, sup1, "/visit-logs", flag="location_low_accuracy"))["items"][0]
    assert (first["case_id"], first["created_by"], first["flags"], first["version"]) == (
        str(case2.id),
        str(cm2),
        ["location_mismatch", "location_low_accuracy"],
        1,
    )
    for bad in ({"flag": "late_for_dinner"}, {"status": "approved"}, {"cursor": "nope"}, {"flagged": "maybe"}):
        response = await client.get("/visit-logs", params=bad, headers=bearer(sup1))
        assert (response.status_code, response.json()["code"]) == (400, "malformed"), bad


async def test_every_visit_log_read_is_audited_with_its_student(client: Client, db: AsyncSession) -> None:
    school = await f.school(db)
    cm1, cm5 = await f.user_id(db, "cm1"), await f.user_id(db, "cm5")
    mine, theirs = (
        await f.case(db, await f.student(db, school), manager=cm1),
        await f.case(db, await f.student(db, school), manager=cm5),
    )
    a, b, c = _visit(mine, cm1, 0, []), _visit(mine, cm1, 1, ["location_missing"]), _visit(theirs, cm5, 2, [])
    db.add_all([a, b, c])
    await db.commit()
    tokens = await login(client, "cm1")
    request = {"X-Request-ID": "req-visit-list"}
    listed = await client.get("/visit-logs", headers=bearer(tokens) | request)
    assert listed.status_code == 200
    rows = (await db.scalars(select(AuditEntry).where(AuditEntry.request_id == "req-visit-list"))).all()
    assert [(r.action, r.student_id, r.detail) for r in rows] == [
        ("student.listed", mine.student_id, {"via": "visit_logs", "visit_log_ids": [str(a.id), str(b.id)]})
    ]
    read = await client.get(f"/visit-logs/{b.id}", headers=bearer(tokens) | {"X-Request-ID": "req-visit-read"})
    assert read.status_code == 200 and read.json()["flags"] == ["location_missing"]
    refused = await client.get(f"/visit-logs/{c.id}", headers=bearer(tokens) | {"X-Request-ID": "req-visit-no"})
    missing = await client.get(f"/visit-logs/{uuid.uuid4()}", headers=bearer(tokens))
    assert refused.status_code == missing.status_code == 404 and refused.json() == missing.json()
    done = {
        r.request_id: (r.action, r.entity_id, r.student_id)
        for r in await db.scalars(
            select(AuditEntry).where(AuditEntry.request_id.in_(["req-visit-read", "req-visit-no"]))
        )
    }
    assert done == {
        "req-visit-read": ("visit_log.read", str(b.id), mine.student_id),
        "req-visit-no": ("visit_log.read_refused", str(c.id), theirs.student_id),
    }
    empty = await client.get(
        "/visit-logs", params={"flag": "case_closed"}, headers=bearer(tokens) | {"X-Request-ID": "req-none"}
    )
    assert empty.json() == {"items": [], "next_cursor": None}
    assert not (await db.scalars(select(AuditEntry).where(AuditEntry.request_id == "req-none"))).all()


async def test_a_teams_visit_stays_with_its_supervisor_after_its_case_left_the_team(
    client: Client, db: AsyncSession
) -> None:
    school = await f.school(db)
    cm1, cm5 = await f.user_id(db, "cm1"), await f.user_id(db, "cm5")
    case = await f.case(db, await f.student(db, school), manager=cm1)
    by_cm1 = _visit(case, cm1, 0, ["case_reassigned"])
    db.add(by_cm1)
    await db.flush()
    case.case_manager_id = cm5  # reassigned to sup2's team after the visit
    by_cm5 = _visit(case, cm5, 5, [])
    db.add(by_cm5)
    await db.commit()
    sup1, sup2, old_owner = await login(client, "sup1"), await login(client, "sup2"), await login(client, "cm1")
    assert await _ids(client, sup1, flagged="true") == [str(by_cm1.id)]
    assert await _ids(client, sup1) == [str(by_cm1.id)]  # not the new team's visit
    assert (await client.get(f"/visit-logs/{by_cm1.id}", headers=bearer(sup1))).status_code == 200
    assert (await client.get(f"/cases/{case.id}", headers=bearer(sup1))).status_code == 404  # nor the case
    assert await _ids(client, sup2) == [str(by_cm1.id), str(by_cm5.id)]
    assert await _ids(client, old_owner) == []  # a case manager reads through her cases
    assert (await client.get(f"/visit-logs/{by_cm1.id}", headers=bearer(old_owner))).status_code == 404


async def test_a_visit_logs_json_is_its_pulled_record_with_id_version_and_truancy(
    client: Client, db: AsyncSession
) -> None:
    d = await make_district(db)
    await absent(db, d, d.students[0], date(2025, 10, 1), date(2025, 10, 2))
    case = await f.case(db, d.students[0], manager=await f.user_id(db, "cm1"))
    await db.commit()
    phone, vid = uuid.uuid4(), uuid.uuid4()
    tokens = await login(client, "cm1", device_id=phone)
    args = {"id": str(vid), "case_id": str(case.id), "at": "2025-11-03T10:00:00Z", "latitude": 41.0}
    args |= {"longitude": -73.0, "accuracy_m": 12.5, "altitude_m": 30.0}
    out = {"id": str(vid), "at": "2025-11-03T10:40:00Z", "outcome": "no_one_home"}
    body = {
        "client_id": str(phone),
        "schema_version": 1,
        "mutations": [
            {"id": 1, "name": "visit_log.check_in", "args": args},
            {"id": 2, "name": "visit_log.check_out", "args": out},
        ],
    }
    assert (await client.post("/sync/push", json=body, headers=bearer(tokens))).status_code == 200
    pulled = await client.post(
        "/sync/pull", json={"client_id": str(phone), "schema_version": 1}, headers=bearer(tokens)
    )
    (record,) = [c for c in pulled.json()["changes"] if c["type"] == "visit_log"]
    answered = await _get(client, tokens, f"/visit-logs/{vid}")
    assert answered == record["data"] | {"id": str(vid), "version": 2}
    assert answered["truancy"]["as_of"] == "2025-11-03" and answered["truancy"]["absence_count"] == 2
    assert (await _get(client, tokens, "/visit-logs", case_id=str(case.id)))["items"] == [answered]
