"""The truancy route, rule-set routes and the overdue-meetings route, with their role checks."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from server.audit import entries_for
from server.rules.evaluate import evaluate_all
from tests import factories as f
from tests.helpers import Client, bearer, login
from tests.rules_fixtures import absent, make_district


async def test_truancy_route_answers_for_today_or_a_past_date(client: Client, db: AsyncSession) -> None:
    d = await make_district(db)
    s = d.students[0]
    await absent(db, d, s, date(2025, 10, 1), date(2025, 10, 3), date(2025, 10, 7), date(2025, 10, 31))
    await f.case(db, s, manager=await f.user_id(db, "cm1"))
    await f.counselor_at(db, "counselor1", d.school)
    await db.commit()
    for username in ("cm1", "sup1", "office1", "counselor1", "admin"):
        tokens = await login(client, username)
        response = await client.get(f"/students/{s.id}/truancy", params={"as_of": "2025-12-01"}, headers=bearer(tokens))
        assert response.status_code == 200, (username, response.text)
    body = response.json()
    assert (body["truant"], body["habitual"], body["chronic"]) == (True, False, False)
    assert body["rules"][0] == {
        "rule": "monthly",
        "fired": True,
        "threshold": 4,
        "count": 4,
        "trigger_day": "2025-10-31",
        "dates": ["2025-10-01", "2025-10-03", "2025-10-07", "2025-10-31"],
        "explanation": "4 unexcused absences within one calendar month, reached on 2025-10-31",
    }
    assert body["absences"][0]["why"] == "no_documentation"
    past = await client.get(f"/students/{s.id}/truancy", params={"as_of": "2025-10-06"}, headers=bearer(tokens))
    assert past.status_code == 200
    assert (past.json()["truant"], past.json()["absence_count"]) == (False, 2)


async def test_truancy_is_answered_only_inside_the_readers_caseload_and_every_read_is_audited(
    client: Client, db: AsyncSession
) -> None:
    """Issue 9, finding 1: the report (every absence, its reason, disciplinary and wellness days)
    is a student's record: out of scope it is 404, like the student itself."""
    d = await make_district(db, students=2)
    mine, theirs = d.students
    await absent(db, d, theirs, date(2025, 10, 1), date(2025, 10, 2))
    await f.case(db, mine, manager=await f.user_id(db, "cm1"))
    await f.case(db, theirs, manager=await f.user_id(db, "cm5"))  # sup2's team
    await db.commit()
    for username in ("cm1", "sup1", "counselor1"):
        tokens = await login(client, username)
        refused = await client.get(
            f"/students/{theirs.id}/truancy", params={"as_of": "2025-12-01"}, headers=bearer(tokens)
        )
        assert (refused.status_code, refused.json()["code"]) == (404, "not_found"), username
        assert "absences" not in refused.text
    refusals = [e for e in await entries_for(db, "student", theirs.id) if e.action == "student.read_refused"]
    assert [e.actor_role for e in refusals] == ["case_manager", "supervisor", "attendance_counselor"]
    tokens = await login(client, "cm1")
    ok = await client.get(f"/students/{mine.id}/truancy", params={"as_of": "2025-12-01"}, headers=bearer(tokens))
    assert ok.status_code == 200
    reads = [e for e in await entries_for(db, "student", mine.id) if e.action == "student.truancy.read"]
    assert [(e.actor_role, e.student_id, e.detail) for e in reads] == [
        ("case_manager", mine.id, {"as_of": "2025-12-01"})
    ]


async def test_truancy_route_problems(client: Client, db: AsyncSession) -> None:
    d = await make_district(db)
    await f.case(db, d.students[0], manager=await f.user_id(db, "cm1"))
    await db.commit()
    tokens = await login(client, "cm1")
    unknown = await client.get(
        f"/students/{uuid.uuid4()}/truancy", params={"as_of": "2025-10-01"}, headers=bearer(tokens)
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    summer = await client.get(
        f"/students/{d.students[0].id}/truancy", params={"as_of": "2025-07-04"}, headers=bearer(tokens)
    )
    assert (summer.status_code, summer.json()["code"]) == (400, "outside_school_year")
    bad = await client.get(f"/students/{d.students[0].id}/truancy", params={"as_of": "July"}, headers=bearer(tokens))
    assert bad.status_code == 400
    anonymous = await client.get(f"/students/{d.students[0].id}/truancy")
    assert anonymous.status_code == 401


async def test_rule_set_changes_are_versioned_and_audited(client: Client, db: AsyncSession) -> None:
    d = await make_district(db)
    admin = await login(client, "admin")
    url = f"/school-years/{d.year.id}/rules"
    current = await client.get(url, headers=bearer(admin))
    assert (current.json()["version"], current.json()["values"]["yearly_threshold"]) == (0, 11)

    changed = await client.put(url, json={"preset": "connecticut", "note": "state numbers"}, headers=bearer(admin))
    assert changed.status_code == 200, changed.text
    assert (changed.json()["version"], changed.json()["preset"], changed.json()["values"]["yearly_threshold"]) == (
        1,
        "connecticut",
        10,
    )
    same = await client.put(url, json={"preset": "connecticut"}, headers=bearer(admin))
    assert same.json()["version"] == 1  # nothing changed, nothing stored
    custom = await client.put(url, json={"month_reading": "rolling30", "meeting_due_days": 5}, headers=bearer(admin))
    assert (custom.json()["version"], custom.json()["preset"], custom.json()["values"]["yearly_threshold"]) == (
        2,
        "custom",
        10,
    )
    versions = await client.get(url + "/versions", headers=bearer(await login(client, "office1")))
    assert [(v["version"], v["values"]["month_reading"]) for v in versions.json()] == [
        (1, "calendar"),
        (2, "rolling30"),
    ]
    audits = [e for e in await entries_for(db, "school_year", d.year.id) if e.action == "rule_set.change"]
    assert [e.detail["version"] for e in audits if e.detail] == [1, 2]
    assert audits[1].detail and audits[1].detail["changed"] == {
        "month_reading": {"from": "calendar", "to": "rolling30"},
        "meeting_due_days": {"from": 10, "to": 5},
    }
    bad = await client.put(url, json={"monthly_threshold": 0}, headers=bearer(admin))
    assert bad.status_code == 400


async def test_rule_set_roles(client: Client, db: AsyncSession) -> None:
    d = await make_district(db)
    url = f"/school-years/{d.year.id}/rules"
    for username in ("sup1", "office1"):
        tokens = await login(client, username)
        assert (await client.get(url, headers=bearer(tokens))).status_code == 200
        assert (await client.put(url, json={"yearly_threshold": 9}, headers=bearer(tokens))).status_code == 403
    for username in ("cm1", "counselor1"):
        assert (await client.get(url, headers=bearer(await login(client, username)))).status_code == 403
    missing = await client.get(f"/school-years/{uuid.uuid4()}/rules", headers=bearer(await login(client, "admin")))
    assert missing.status_code == 404


async def test_overdue_meetings_route(client: Client, db: AsyncSession) -> None:
    d = await make_district(db, students=2)
    s, other = d.students
    for kid in (s, other):
        await absent(db, d, kid, date(2025, 9, 8), date(2025, 9, 10), date(2025, 9, 12), date(2025, 9, 15))
    await evaluate_all(db, date(2025, 10, 15))
    await f.case(db, s, manager=await f.user_id(db, "cm1"))  # other has no case: only the office sees it
    await db.commit()

    async def listed(username: str) -> list[tuple[str, str, int]]:
        tokens = await login(client, username)
        response = await client.get("/parent-meetings/overdue", params={"as_of": "2025-10-15"}, headers=bearer(tokens))
        assert response.status_code == 200, response.text
        return [(m["student_id"], m["due_on"], m["days_overdue"]) for m in response.json()]

    assert await listed("sup1") == await listed("cm1") == [(str(s.id), "2025-09-29", 16)]
    assert await listed("cm5") == []  # another team's student is not named to them
    assert str(s.id) not in {m[0] for m in await listed("sup2")}
    assert {m[0] for m in await listed("office1")} == {str(s.id), str(other.id)}
    counselor = await login(client, "counselor1")
    assert (await client.get("/parent-meetings/overdue", headers=bearer(counselor))).status_code == 403
    listings = [e for e in await entries_for(db, "student", s.id) if e.action == "student.listed"]
    assert {e.actor_role for e in listings} == {"supervisor", "case_manager", "office_staff"}
