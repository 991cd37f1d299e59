"""The console's referrals: a counselor's truant students (``/console/truant-students``, the service of
``GET /truant-students``), the referral form (the service of ``POST /referrals``), the supervisor's
unassigned referred cases with Assign (the service of ``POST /cases/{id}/assign``), and the case
page's attendance chart. Out of scope is the 404 page; a form post without its CSRF token is 403;
a refusal changes nothing."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cases import CaseStatus
from server import audit
from server.attendance.models import AttendanceRecord
from server.audit import AuditEntry
from server.cases.models import Case, Referral
from server.schools.models import InstructionalDay, School
from server.students.models import Enrollment, Student
from tests import factories as f
from tests.helpers import bearer, login
from tests.rules_fixtures import YEAR_END, District, absent, add_student, make_district
from tests.test_console import _csrf, _labels_cover_inputs, _sign_in

AS_OF = "2026-01-15"
MONTHLY_DAYS = [date(2025, 10, 1), date(2025, 10, 2), date(2025, 10, 3), date(2025, 10, 6)]
"""Four unexcused absences in October: truant by the monthly rule on 2025-10-06."""
YEARLY_DAYS = [date(2025, 9, d) for d in (8, 15, 22)] + [date(2025, 10, d) for d in (7, 14, 21)]
YEARLY_DAYS += [date(2025, 11, d) for d in (3, 10, 17)] + [date(2025, 12, 1), date(2025, 12, 8)]
"""Eleven, never more than three in a month: truant by the yearly rule on 2025-12-08."""


@dataclass
class World:
    district: District
    monthly: Student
    yearly: Student
    clean: Student
    elsewhere: Student
    """Truant too, but at a school counselor1 does not work at (counselor2's)."""


def _named(student: Student) -> Any:
    return f"{student.last_name}, {student.first_name}"


async def _named_student(db: AsyncSession, d: District, first: str, last: str) -> Student:
    student = await add_student(db, d)
    student.first_name, student.last_name = first, last
    await db.flush()
    return student


@pytest.fixture
async def world(db: AsyncSession) -> World:
    d = await make_district(db, students=0)
    monthly = await _named_student(db, d, "Mona", "Monthly")
    yearly = await _named_student(db, d, "Yuri", "Yearly")
    clean = await _named_student(db, d, "Cleo", "Present")
    await absent(db, d, monthly, *MONTHLY_DAYS)
    await absent(db, d, yearly, *YEARLY_DAYS)
    await absent(db, d, clean, date(2025, 10, 1), date(2025, 11, 5))
    other = School(code=f"O{uuid.uuid4().hex[:6]}", name="Other School")
    db.add(other)
    await db.flush()
    await db.execute(
        insert(InstructionalDay), [{"school_id": other.id, "day": day, "school_year_id": d.year.id} for day in d.days]
    )
    elsewhere = Student(student_number=f"E{uuid.uuid4().hex[:8]}", first_name="Elsa", last_name="Elsewhere")
    elsewhere.school_id = other.id
    db.add(elsewhere)
    await db.flush()
    db.add(Enrollment(student_id=elsewhere.id, school_id=other.id, school_year_id=d.year.id, entered_on=d.days[0]))
    rows = [
        {"student_id": elsewhere.id, "day": day, "school_id": other.id, "minutes_present": 0, "minutes_scheduled": 360}
        for day in MONTHLY_DAYS
    ]
    await db.execute(insert(AttendanceRecord), rows)
    await f.counselor_at(db, "counselor1", d.school)
    await f.counselor_at(db, "counselor2", other)
    await db.commit()
    return World(d, monthly, yearly, clean, elsewhere)


async def _referrals(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(Referral)) or 0)


async def _cases(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(Case)) or 0)


async def _truant_page(client: httpx.AsyncClient, as_of: str = AS_OF) -> httpx.Response:
    page = await client.get("/console/truant-students", params={"as_of": as_of})
    assert page.status_code == 200, page.text
    return page


async def _form(client: httpx.AsyncClient, student: Student, as_of: str = AS_OF) -> dict[str, str]:
    """The referral form's fields as the console gives them out (its CSRF token included)."""
    page = await client.get("/console/referrals/new", params={"student_id": str(student.id), "as_of": as_of})
    assert page.status_code == 200, page.text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    return fields | {"as_of": as_of, "reason": "Missing Mondays"}


# --- truant students ------------------------------------------------------------------------------


async def test_a_counselor_sees_the_truant_students_of_her_schools_with_the_rule_that_made_them_truant(
    client: httpx.AsyncClient, db: AsyncSession, world: World
) -> None:
    await _sign_in(client, "counselor1")
    page = await _truant_page(client)
    text = page.text
    assert ">Truant students</a>" in text
    rows = [re.sub(r"\s+", " ", row) for row in re.findall(r"<tr>(.*?)</tr>", text, re.S)]
    monthly = next(r for r in rows if _named(world.monthly) in r)
    assert "Monthly rule</strong>: 4 unexcused absences within one calendar month, reached on 2025-10-06" in monthly
    assert '<time datetime="2025-10-06">' in monthly and "Not referred" in monthly
    yearly = next(r for r in rows if _named(world.yearly) in r)
    assert "Yearly rule</strong>: 11 unexcused absences in the school year, 11 so far, reached on 2025-12-08" in yearly
    assert "Monthly rule" not in yearly
    assert _named(world.clean) not in text  # two absences: not truant
    assert _named(world.elsewhere) not in text  # truant, at another counselor's school
    assert text.index(_named(world.monthly)) < text.index(_named(world.yearly))  # truant longest first
    assert f"/console/referrals/new?student_id={world.monthly.id}&amp;as_of={AS_OF}" in text
    _labels_cover_inputs(text)

    listed = await db.scalars(
        select(AuditEntry.student_id).where(
            AuditEntry.action == "student.listed", AuditEntry.detail["via"].astext == "console_truant_students"
        )
    )
    assert set(listed) == {world.monthly.id, world.yearly.id}

    client.cookies.clear()
    await _sign_in(client, "counselor2")
    theirs = (await _truant_page(client)).text
    assert _named(world.elsewhere) in theirs and _named(world.monthly) not in theirs


async def test_the_list_is_as_of_the_date_asked(client: httpx.AsyncClient, world: World) -> None:
    await _sign_in(client, "counselor1")
    october = (await _truant_page(client, "2025-10-31")).text
    # On October 31 the absences of October 6 and before are unexcused only once their documentation
    # window (10 school days after the return) closed: the monthly student is truant, the yearly not yet.
    assert _named(world.monthly) in october and _named(world.yearly) not in october
    september = (await _truant_page(client, "2025-09-30")).text
    assert "No truant students on 2025-09-30" in september


async def test_a_date_that_is_not_one_is_a_400_page(client: httpx.AsyncClient, world: World) -> None:
    await _sign_in(client, "counselor1")
    for bad in ("2026-13-45", "yesterday"):
        page = await client.get("/console/truant-students", params={"as_of": bad})
        assert page.status_code == 400
        assert "text/html" in page.headers["content-type"] and "That is not a date" in page.text
        assert _named(world.monthly) not in page.text
    early = await client.get("/console/truant-students", params={"as_of": "2020-01-01"})
    assert early.status_code == 200 and "text/html" in early.headers["content-type"]
    assert "There is no school year on record on or before 2020-01-01" in early.text


async def test_the_truant_students_page_with_next_links(client: httpx.AsyncClient, db: AsyncSession) -> None:
    d = await make_district(db, students=30)
    for student in d.students:
        await absent(db, d, student, *MONTHLY_DAYS)
    await f.counselor_at(db, "counselor1", d.school)
    await db.commit()
    await _sign_in(client, "counselor1")
    seen: list[str] = []
    url: str | None = f"/console/truant-students?as_of={AS_OF}"
    pages = 0
    while url:
        page = await client.get(url)
        assert page.status_code == 200
        pages += 1
        seen += re.findall(r"/console/referrals/new\?student_id=([0-9a-f-]{36})", page.text)
        found = re.search(r'<a rel="next" href="([^"]+)">Next</a>', page.text)
        url = found.group(1).replace("&amp;", "&") if found else None
        if url:
            assert f"as_of={AS_OF}" in url
    assert pages == 2
    assert len(seen) == len(set(seen)) == 30
    assert set(seen) == {str(s.id) for s in d.students}


async def test_roles_that_do_not_refer_do_not_see_the_truant_students(client: httpx.AsyncClient) -> None:
    await _sign_in(client, "sup1")
    assert ">Truant students</a>" not in (await client.get("/console/cases")).text
    assert (await client.get("/console/truant-students")).status_code == 403
    assert (await client.get(f"/console/referrals/new?student_id={uuid.uuid4()}")).status_code == 403


# --- the referral form ----------------------------------------------------------------------------


async def test_a_counselor_refers_a_truant_student_through_the_form(
    client: httpx.AsyncClient, db: AsyncSession, world: World
) -> None:
    await _sign_in(client, "counselor1")
    page = await client.get("/console/referrals/new", params={"student_id": str(world.monthly.id), "as_of": AS_OF})
    assert page.status_code == 200
    assert "Refer Mona Monthly" in page.text and ">Refer</button>" in page.text
    assert '<label for="reason">' in page.text
    _labels_cover_inputs(page.text)
    form = await _form(client, world.monthly)

    response = await client.post("/console/referrals", data=form)
    assert response.status_code == 303, response.text
    referral = await db.scalar(select(Referral).where(Referral.student_id == world.monthly.id))
    assert referral is not None and str(referral.id) == form["id"]
    assert response.headers["location"] == f"/console/referrals/{referral.id}"
    assert referral.status == "eligible" and referral.reason == "Missing Mondays"
    case = await db.get(Case, referral.case_id)
    assert case is not None and case.status == CaseStatus.REFERRED and case.case_manager_id is None

    shown = await client.get(response.headers["location"])
    assert shown.status_code == 200
    assert "Referred: eligible" in shown.text and f'href="/console/cases/{case.id}"' in shown.text
    assert "referral.read" in [e.action for e in await audit.entries_for(db, "referral", referral.id)]

    again = await client.post("/console/referrals", data=form)  # a double submit: the same referral
    assert again.status_code == 303 and again.headers["location"] == response.headers["location"]
    assert await _referrals(db) == 1

    listing = (await _truant_page(client)).text
    row = next(r for r in re.findall(r"<tr>(.*?)</tr>", listing, re.S) if _named(world.monthly) in r)
    assert f'href="/console/referrals/{referral.id}"' in row and "(eligible)" in row
    assert f'href="/console/cases/{case.id}"' in row and "(referred)" in row


async def test_a_forged_referral_without_the_csrf_token_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, db: AsyncSession, world: World
) -> None:
    await _sign_in(client, "counselor1")
    form = await _form(client, world.monthly)
    form.pop("_csrf_token")
    refused = await client.post("/console/referrals", data=form)
    assert refused.status_code == 403
    assert "text/html" in refused.headers["content-type"]
    forged = await client.post("/console/referrals", data=form | {"_csrf_token": "forged"})
    assert forged.status_code == 403
    assert await _referrals(db) == 0 and await _cases(db) == 0


async def test_a_student_outside_her_schools_is_404_and_nothing_is_referred(
    client: httpx.AsyncClient, db: AsyncSession, world: World
) -> None:
    await _sign_in(client, "counselor1")
    hidden = await client.get("/console/referrals/new", params={"student_id": str(world.elsewhere.id)})
    assert hidden.status_code == 404
    assert "Elsewhere" not in hidden.text
    form = await _form(client, world.monthly) | {"student_id": str(world.elsewhere.id)}
    posted = await client.post("/console/referrals", data=form)
    assert posted.status_code == 404 and "Elsewhere" not in posted.text
    assert await _referrals(db) == 0 and await _cases(db) == 0
    refusals = await db.scalars(
        select(AuditEntry.action).where(AuditEntry.student_id == world.elsewhere.id, AuditEntry.actor_role.is_not(None))
    )
    assert list(refusals) == ["student.read_refused", "student.read_refused"]


async def test_a_student_who_is_not_eligible_is_refused_unless_referred_anyway(
    client: httpx.AsyncClient, db: AsyncSession, world: World
) -> None:
    await _sign_in(client, "counselor1")
    form = await _form(client, world.clean)
    refused = await client.post("/console/referrals", data=form)
    assert refused.status_code == 409
    assert "Nothing was referred: Cleo Present is not eligible on 2026-01-15" in refused.text
    assert "Not truant on 2026-01-15" in refused.text
    assert 'name="refer_anyway"' in refused.text and '<label for="refer_anyway">' in refused.text
    assert await _referrals(db) == 0 and await _cases(db) == 0

    anyway = await client.post("/console/referrals", data=form | {"_csrf_token": _csrf(refused), "refer_anyway": "yes"})
    assert anyway.status_code == 303
    referral = await db.scalar(select(Referral).where(Referral.student_id == world.clean.id))
    assert referral is not None and referral.status == "ineligible" and referral.case_id is None
    shown = await client.get(anyway.headers["location"])
    assert "Kept, not eligible" in shown.text and "Not truant on 2026-01-15" in shown.text
    assert await _cases(db) == 0


async def test_a_form_used_for_another_referral_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, db: AsyncSession, world: World
) -> None:
    await _sign_in(client, "counselor1")
    form = await _form(client, world.monthly)
    assert (await client.post("/console/referrals", data=form)).status_code == 303
    other = await client.post("/console/referrals", data=form | {"reason": "Something else"})
    assert other.status_code == 409
    assert "already used for another referral" in other.text
    referral = await db.scalar(select(Referral).where(Referral.student_id == world.monthly.id))
    assert referral is not None and referral.reason == "Missing Mondays"
    assert await _referrals(db) == 1


async def test_a_bad_date_on_the_form_is_a_400_with_nothing_referred(
    client: httpx.AsyncClient, db: AsyncSession, world: World
) -> None:
    await _sign_in(client, "counselor1")
    form = await _form(client, world.monthly) | {"as_of": "not a date"}
    response = await client.post("/console/referrals", data=form)
    assert response.status_code == 400 and "That is not a date" in response.text
    assert await _referrals(db) == 0


# --- assigning referred cases ---------------------------------------------------------------------


async def _pulled_cases(client: httpx.AsyncClient, tokens: dict[str, Any], phone: uuid.UUID) -> set[str]:
    body = {"client_id": str(phone), "schema_version": 1}
    response = await client.post("/sync/pull", json=body, headers=bearer(tokens))
    assert response.status_code == 200, response.text
    return {c["id"] for c in response.json()["changes"] if c["type"] == "case"}


async def test_a_supervisor_assigns_an_unassigned_case_and_it_reaches_the_case_managers_phone(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    school = await f.school(db, "North")
    waiting = await f.case(db, await f.student(db, school, first_name="Wanda", last_name="Waiting"))
    theirs = await f.case(db, await f.student(db, school, last_name="Theirs"), manager=await f.user_id(db, "cm5"))
    await db.commit()
    assert waiting.status == CaseStatus.REFERRED and waiting.case_manager_id is None
    phone = uuid.uuid4()
    cm2 = await login(client, "cm2", device_id=phone)
    assert str(waiting.id) not in await _pulled_cases(client, cm2, phone)

    await _sign_in(client, "sup1")
    cases_page = await client.get("/console/cases")
    assert 'href="/console/cases/unassigned"' in cases_page.text
    listing = await client.get("/console/cases/unassigned")
    assert listing.status_code == 200
    assert "Waiting, Wanda" in listing.text and f'action="/console/cases/{waiting.id}/assign"' in listing.text
    assert str(theirs.id) not in listing.text
    assert f'<label for="cm-{waiting.id}">' in listing.text and f'<select id="cm-{waiting.id}"' in listing.text
    offered = set(re.findall(r'<option value="([0-9a-f-]{36})">', listing.text))
    assert offered == {str(await f.user_id(db, u)) for u in ("cm1", "cm2", "cm3", "cm4")}
    _labels_cover_inputs(listing.text)
    assert "student.listed" in [
        e for e in await db.scalars(select(AuditEntry.action).where(AuditEntry.student_id == waiting.student_id))
    ]

    form = {"case_manager_id": str(await f.user_id(db, "cm2")), "_csrf_token": _csrf(listing)}
    response = await client.post(f"/console/cases/{waiting.id}/assign", data=form)
    assert response.status_code == 303
    assert response.headers["location"] == f"/console/cases/{waiting.id}"
    stored = await db.get(Case, waiting.id, populate_existing=True)
    assert stored is not None and stored.case_manager_id == await f.user_id(db, "cm2")
    assert stored.status == CaseStatus.ASSIGNED
    page = await client.get(response.headers["location"])
    assert re.search(r'<dd id="case-manager">[^<]*Case Manager 2', page.text)
    assert str(waiting.id) not in (await client.get("/console/cases/unassigned")).text

    assert str(waiting.id) in await _pulled_cases(client, cm2, phone)


async def test_assigning_another_teams_case_or_to_another_team_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    school = await f.school(db, "North")
    cm1, cm5 = await f.user_id(db, "cm1"), await f.user_id(db, "cm5")
    theirs = await f.case(db, await f.student(db, school), manager=cm5)
    waiting = await f.case(db, await f.student(db, school))
    await db.commit()
    await _sign_in(client, "sup1")
    token = _csrf(await client.get("/console/cases/unassigned"))

    other_team = await client.post(
        f"/console/cases/{theirs.id}/assign", data={"case_manager_id": str(cm1), "_csrf_token": token}
    )
    assert other_team.status_code == 404 and "text/html" in other_team.headers["content-type"]
    to_other_team = await client.post(
        f"/console/cases/{waiting.id}/assign", data={"case_manager_id": str(cm5), "_csrf_token": token}
    )
    assert to_other_team.status_code == 403 and "your own team" in to_other_team.text
    nobody = await client.post(
        f"/console/cases/{waiting.id}/assign", data={"case_manager_id": "", "_csrf_token": token}
    )
    assert nobody.status_code == 400 and "choose the case manager" in nobody.text
    forged = await client.post(f"/console/cases/{waiting.id}/assign", data={"case_manager_id": str(cm1)})
    assert forged.status_code == 403

    for case, manager in ((theirs, cm5), (waiting, None)):
        stored = await db.get(Case, case.id, populate_existing=True)
        assert stored is not None and stored.case_manager_id == manager and stored.version == case.version


async def test_counselors_and_case_managers_do_not_assign(client: httpx.AsyncClient, db: AsyncSession) -> None:
    waiting = await f.case(db, await f.student(db, await f.school(db)))
    await db.commit()
    for username in ("cm1", "counselor1"):
        client.cookies.clear()
        await _sign_in(client, username)
        page = await client.get("/console/cases")
        assert "/console/cases/unassigned" not in page.text
        assert (await client.get("/console/cases/unassigned")).status_code == 403
        form = {"case_manager_id": str(await f.user_id(db, "cm1")), "_csrf_token": _csrf(page)}
        assert (await client.post(f"/console/cases/{waiting.id}/assign", data=form)).status_code == 403
    stored = await db.get(Case, waiting.id, populate_existing=True)
    assert stored is not None and stored.case_manager_id is None


# --- the case page's attendance chart -------------------------------------------------------------


async def test_the_case_page_charts_absences_by_month_with_their_counts(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    d = await make_district(db, students=1)
    (student,) = d.students
    await absent(db, d, student, date(2025, 9, 15), *MONTHLY_DAYS)
    await absent(
        db, d, student, date(2025, 10, 20), reason_code="illness", documentation_received_on=date(2025, 10, 21)
    )
    await absent(db, d, student, date(2025, 11, 4), reason_code="suspension")
    case = await f.case(db, student, manager=await f.user_id(db, "cm1"))
    await db.commit()
    await _sign_in(client, "cm1")
    page = await client.get(f"/console/cases/{case.id}")
    assert page.status_code == 200
    svg = re.search(r"<svg role=\"img\"[^>]*>(.*?)</svg>", page.text, re.S)
    assert svg, "no chart"
    assert re.search(r'<svg role="img" aria-labelledby="month-chart-title"', page.text)
    assert '<title id="month-chart-title">Absences by month, school year 2025-2026' in svg.group(1)
    bars = {
        month: (int(total), int(unexcused))
        for month, total, unexcused in re.findall(
            r'<g class="month" data-month="([0-9-]+)" data-absences="(\d+)" data-unexcused="(\d+)">', svg.group(1)
        )
    }
    # every month of the school year up to the report's date: today, or the year's last day once it is over
    last = min(date.today(), YEAR_END)
    months = [f"2025-{m:02d}" for m in range(9, 13)] + [f"2026-{m:02d}" for m in range(1, 13)]
    assert list(bars) == months[: months.index(f"{last.year}-{last.month:02d}") + 1]
    assert bars["2025-09"] == (1, 1)
    assert bars["2025-10"] == (5, 4)  # four unexcused, one excused by a parent's note in time
    assert bars["2025-11"] == (1, 0)  # a suspension: neither excused nor unexcused
    assert all(bars[m] == (0, 0) for m in bars if m not in ("2025-09", "2025-10", "2025-11"))
    assert "<title>October 2025: 5 absences, 4 unexcused</title>" in svg.group(1)
    assert 'class="threshold"' in svg.group(1)  # the monthly rule's line, at 4
    table = re.search(r'<table class="months">(.*?)</table>', page.text, re.S)
    assert table and re.search(
        r"<th scope=\"row\">2025-10</th><td>5</td><td>4</td><td>1</td><td>0</td><td>0</td>", table.group(1)
    )
    assert "Monthly rule (met): 4 unexcused absences within one calendar month, reached on 2025-10-06" in page.text
