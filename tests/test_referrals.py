"""Referrals: idempotent by the client's id, checked against the rules, overridable by a supervisor."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cases import CaseStatus
from server.attendance.models import AttendanceRecord
from server.audit import AuditEntry
from server.cases.models import Case, Referral
from server.schools.models import InstructionalDay, School, SchoolYear
from server.students.models import Enrollment, Student
from tests import factories as f
from tests.helpers import Client, bearer, login

AS_OF = "2025-12-15"


@dataclass
class Referable:
    school: School
    truant: Student
    not_truant: Student


async def _school_year(db: AsyncSession, school: School) -> SchoolYear:
    year = await db.scalar(select(SchoolYear).where(SchoolYear.name == "2025-2026"))
    if year is None:
        year = SchoolYear(id=uuid.uuid4(), name="2025-2026", starts_on=date(2025, 9, 1), ends_on=date(2026, 6, 15))
        db.add(year)
        await db.flush()
    day = year.starts_on
    while day <= year.ends_on:
        if day.weekday() < 5:
            db.add(InstructionalDay(school_id=school.id, day=day, school_year_id=year.id))
        day += timedelta(days=1)
    await db.flush()
    return year


async def _absent(db: AsyncSession, kid: Student, school: School, days: list[date]) -> None:
    for day in days:
        db.add(
            AttendanceRecord(
                student_id=kid.id,
                day=day,
                school_id=school.id,
                minutes_present=0,
                minutes_scheduled=360,
                reason_code="unexcused",
            )
        )
    await db.flush()


@pytest.fixture
async def referable(db: AsyncSession) -> Referable:
    school = await f.school(db)
    year = await _school_year(db, school)
    await f.counselor_at(db, "counselor1", school)
    truant, not_truant = await f.student(db, school), await f.student(db, school)
    for kid in (truant, not_truant):
        db.add(Enrollment(student_id=kid.id, school_id=school.id, school_year_id=year.id, entered_on=year.starts_on))
    await _absent(db, truant, school, [date(2025, 10, d) for d in (6, 8, 14, 21, 28)])
    await _absent(db, not_truant, school, [date(2025, 10, 6)])
    await db.commit()
    return Referable(school, truant, not_truant)


async def _refer(
    client: Client,
    tokens: dict[str, str],
    student: Student,
    ref_id: uuid.UUID | None = None,
    reason: str = "Missing Mondays",
) -> tuple[int, dict[str, object]]:
    response = await client.post(
        "/referrals",
        params={"as_of": AS_OF},
        json={"id": str(ref_id or uuid.uuid4()), "student_id": str(student.id), "reason": reason},
        headers=bearer(tokens),
    )
    return response.status_code, response.json()


async def test_an_eligible_referral_opens_a_case(client: Client, db: AsyncSession, referable: Referable) -> None:
    counselor = await login(client, "counselor1")
    status, body = await _refer(client, counselor, referable.truant)
    assert status == 201, body
    assert body["status"] == "eligible"
    case = await db.get(Case, uuid.UUID(str(body["case_id"])))
    assert case is not None and case.status == CaseStatus.REFERRED and case.student_id == referable.truant.id


async def test_a_second_referral_attaches_to_the_open_case(
    client: Client, db: AsyncSession, referable: Referable
) -> None:
    counselor = await login(client, "counselor1")
    _, first = await _refer(client, counselor, referable.truant)
    _, second = await _refer(client, counselor, referable.truant, reason="Still missing Mondays")
    assert first["case_id"] == second["case_id"]
    count = await db.scalar(select(func.count()).select_from(Case).where(Case.student_id == referable.truant.id))
    assert count == 1


async def test_the_same_referral_sent_twice_is_answered_the_same(client: Client, referable: Referable) -> None:
    counselor = await login(client, "counselor1")
    ref_id = uuid.uuid4()
    status1, first = await _refer(client, counselor, referable.truant, ref_id)
    status2, second = await _refer(client, counselor, referable.truant, ref_id)
    assert (status1, status2) == (201, 200)
    assert first == second


async def test_the_same_id_with_other_content_is_409(client: Client, referable: Referable) -> None:
    counselor = await login(client, "counselor1")
    ref_id = uuid.uuid4()
    await _refer(client, counselor, referable.truant, ref_id)
    status, body = await _refer(client, counselor, referable.truant, ref_id, reason="Something else")
    assert status == 409
    assert body["code"] == "duplicate_id"


async def test_an_ineligible_referral_is_kept_with_reasons_and_a_supervisor_can_override(
    client: Client, db: AsyncSession, referable: Referable
) -> None:
    counselor = await login(client, "counselor1")
    status, body = await _refer(client, counselor, referable.not_truant)
    assert status == 201
    assert body["status"] == "ineligible" and body["case_id"] is None
    reasons = body["ineligible_reasons"]
    assert isinstance(reasons, list) and reasons and "Not truant" in reasons[0]

    sup = await login(client, "sup1")
    override = await client.post(
        f"/referrals/{body['id']}/override", json={"note": "Family asked for help"}, headers=bearer(sup)
    )
    assert override.status_code == 200
    assert override.json()["status"] == "overridden" and override.json()["case_id"]
    again = await client.post(f"/referrals/{body['id']}/override", json={"note": "again"}, headers=bearer(sup))
    assert again.status_code == 409


async def test_unknown_student_and_other_schools_students_are_both_404(
    client: Client, db: AsyncSession, referable: Referable
) -> None:
    counselor = await login(client, "counselor1")
    ghost = Student(id=uuid.uuid4(), student_number="ghost", first_name="", last_name="")
    status, body = await _refer(client, counselor, ghost)
    assert status == 404
    other = await login(client, "counselor2")
    status, body = await _refer(client, other, referable.truant)
    assert status == 404 and body["detail"] == "No such student"
    assert await db.scalar(select(func.count()).select_from(Referral)) == 0
    refused = await db.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.action == "student.read_refused", AuditEntry.student_id == referable.truant.id)
    )
    assert refused == 1


async def test_counselors_list_only_their_schools_referrals(client: Client, referable: Referable) -> None:
    await _refer(client, await login(client, "counselor1"), referable.truant)
    mine = (await client.get("/referrals", headers=bearer(await login(client, "counselor1")))).json()
    theirs = (await client.get("/referrals", headers=bearer(await login(client, "counselor2")))).json()
    assert len(mine) == 1 and theirs == []


async def test_supervisors_see_referrals_of_their_team_and_the_unassigned_only(
    client: Client, db: AsyncSession, referable: Referable
) -> None:
    """A referral names a student and why she is missing school: once its case is on a team,
    another team's supervisor no longer reads it (it was district-wide)."""
    _, body = await _refer(client, await login(client, "counselor1"), referable.truant)
    url = f"/referrals/{body['id']}"
    for username in ("sup1", "sup2"):  # unassigned: every supervisor may pick it up
        assert (await client.get(url, headers=bearer(await login(client, username)))).status_code == 200
    case = await db.get(Case, uuid.UUID(str(body["case_id"])))
    assert case is not None
    case.case_manager_id = await f.user_id(db, "cm1")
    case.status = CaseStatus.ASSIGNED
    await db.commit()
    assert (await client.get(url, headers=bearer(await login(client, "sup1")))).status_code == 200
    other = await login(client, "sup2")
    assert (await client.get(url, headers=bearer(other))).status_code == 404
    assert (await client.get("/referrals", headers=bearer(other))).json() == []
    reads = await db.scalars(
        select(AuditEntry).where(AuditEntry.action == "referral.read", AuditEntry.student_id == referable.truant.id)
    )
    assert sorted(e.actor_role or "" for e in reads) == ["supervisor"] * 3  # sup1, sup2 before the case, sup1


async def test_the_case_shows_when_the_student_became_truant_and_absences_since(
    client: Client, db: AsyncSession, referable: Referable
) -> None:
    from server.audit import Actor
    from server.rules.evaluate import evaluate_all

    await evaluate_all(db, date(2025, 12, 15), Actor.system("test"))
    await db.commit()
    _, body = await _refer(client, await login(client, "counselor1"), referable.truant)
    detail = (await client.get(f"/cases/{body['case_id']}", headers=bearer(await login(client, "sup1")))).json()
    truancy = detail["truancy"]
    assert truancy["truant"] is True
    assert truancy["became_truant_on"] == "2025-10-21"  # the 4th unexcused absence of October
    assert truancy["unexcused_before_case"] == 5 and truancy["unexcused_since_case"] == 0


async def test_truant_students_lists_a_counselors_truant_students_with_why_and_their_referral(
    client: Client, db: AsyncSession, referable: Referable
) -> None:
    """``GET /truant-students``: the students of her schools truant on ``as_of`` (what a referral's
    eligibility reads), each with the rules that fired; every listed student audited."""
    counselor = await login(client, "counselor1")
    answer = await client.get("/truant-students", params={"as_of": AS_OF}, headers=bearer(counselor))
    assert answer.status_code == 200, answer.text
    (item,) = answer.json()["items"]
    assert answer.json()["next_cursor"] is None
    assert item["student"]["id"] == str(referable.truant.id)
    truancy = item["truancy"]
    assert truancy["as_of"] == AS_OF and truancy["became_truant_on"] == "2025-10-21"
    assert truancy["unexcused_count"] == 5
    (rule,) = truancy["rules"]
    assert rule["rule"] == "monthly" and rule["trigger_day"] == "2025-10-21" and rule["count"] == 5
    assert rule["explanation"] == "4 unexcused absences within one calendar month, reached on 2025-10-21"
    assert item["referral_id"] is None and item["case_id"] is None
    listed = await db.scalars(select(AuditEntry).where(AuditEntry.action == "student.listed"))
    assert [(e.student_id, (e.detail or {}).get("via")) for e in listed] == [(referable.truant.id, "truant_students")]

    _, referral = await _refer(client, counselor, referable.truant)
    again = (await client.get("/truant-students", params={"as_of": AS_OF}, headers=bearer(counselor))).json()
    (item,) = again["items"]
    assert item["referral_id"] == referral["id"] and item["referral_status"] == "eligible"
    assert item["case_id"] == referral["case_id"] and item["case_status"] == "referred"

    other = await login(client, "counselor2")
    assert (await client.get("/truant-students", params={"as_of": AS_OF}, headers=bearer(other))).json() == {
        "items": [],
        "next_cursor": None,
    }
    admin = await login(client, "admin")
    everyone = (await client.get("/truant-students", params={"as_of": AS_OF}, headers=bearer(admin))).json()
    assert [i["student"]["id"] for i in everyone["items"]] == [str(referable.truant.id)]
    sup = await login(client, "sup1")
    assert (await client.get("/truant-students", headers=bearer(sup))).status_code == 403


async def test_truant_students_pages_by_cursor_and_refuses_a_date_before_any_school_year(
    client: Client, db: AsyncSession, referable: Referable
) -> None:
    more = [await f.student(db, referable.school) for _ in range(3)]
    year = await db.scalar(select(SchoolYear).where(SchoolYear.name == "2025-2026"))
    assert year is not None
    for kid in more:
        school = referable.school
        db.add(Enrollment(student_id=kid.id, school_id=school.id, school_year_id=year.id, entered_on=year.starts_on))
        await _absent(db, kid, referable.school, [date(2025, 11, d) for d in (3, 4, 5, 6)])
    await db.commit()
    counselor = await login(client, "counselor1")
    seen: list[tuple[str, str]] = []
    cursor: str | None = None
    while True:
        params = {"as_of": AS_OF, "limit": "1"} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/truant-students", params=params, headers=bearer(counselor))).json()
        seen += [(i["truancy"]["became_truant_on"], i["student"]["id"]) for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 4 and seen == sorted(seen)  # truant longest first, then by id
    assert {s for _, s in seen} == {str(k.id) for k in (referable.truant, *more)}
    early = await client.get("/truant-students", params={"as_of": "2020-01-01"}, headers=bearer(counselor))
    assert early.status_code == 400 and early.json()["code"] == "outside_school_year"
    bad = await client.get("/truant-students", params={"cursor": "nope!"}, headers=bearer(counselor))
    assert bad.status_code == 400
