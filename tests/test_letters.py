"""Family letters over the API (docs/letters.md): made for a case in the household's language, read
and printed through the case's scope, mailed (a contact attempt the phone pulls) and returned (the
address flagged); the office's batches take only the students newly due; a phone asks for a letter
with ``letter.request``.

One small district of school year 2026-2027, whose days are counted as of the real today (the
letters are made as of the district's today): Wilby Middle's 7th grade and Driggs Elementary."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from schemas.auth import Role
from server import clock
from server.attendance.models import AttendanceRecord
from server.audit import Actor, AuditEntry
from server.auth import service as auth
from server.blobs import Blobs
from server.cases.models import Case, ContactAttempt
from server.cli import app as cli
from server.db import SessionFactory, create_engine, create_session_factory
from server.letters import service
from server.letters.models import Letter
from server.schools.models import InstructionalDay, School, SchoolYear
from server.settings import Settings
from server.students.models import Enrollment, Guardian, Household, Student
from tests.conftest import PASSWORD, app_for, client_for, make_settings
from tests.helpers import bearer, login
from tests.rules_fixtures import weekdays

YEAR = ("2026-2027", date(2026, 8, 31), date(2027, 6, 11))
ANA_UNEXCUSED = [date(2026, 9, 14), date(2026, 10, 5), date(2026, 10, 6), date(2026, 10, 7), date(2026, 10, 8)]
ANA_UNEXCUSED += [date(2026, 11, 2)]
ANA_EXCUSED = date(2026, 9, 21)


@dataclass
class World:
    factory: SessionFactory
    client: httpx.AsyncClient
    settings: Settings
    ids: dict[str, uuid.UUID]
    url: str

    async def auth(self, username: str, device_id: uuid.UUID | None = None) -> dict[str, str]:
        return bearer(await login(self.client, username, device_id=device_id))


async def _users(s: AsyncSession) -> dict[str, uuid.UUID]:
    made = {}
    for name, role, sup in (
        ("sup", Role.SUPERVISOR, None),
        ("sup2", Role.SUPERVISOR, None),
        ("cm", Role.CASE_MANAGER, "sup"),
        ("cm2", Role.CASE_MANAGER, "sup2"),
        ("office", Role.OFFICE_STAFF, None),
        ("admin", Role.ADMIN, None),
    ):
        user = await auth.create_user(
            s, Actor.system(), username=name, password=PASSWORD, role=role, supervisor_username=sup
        )
        await s.flush()
        made[name] = user.id
    return made


async def _school(s: AsyncSession, code: str, name: str, year: SchoolYear) -> School:
    school = School(id=uuid.uuid4(), code=code, name=name)
    s.add(school)
    await s.flush()
    days = weekdays(YEAR[1], YEAR[2])
    await s.execute(
        insert(InstructionalDay), [{"school_id": school.id, "day": d, "school_year_id": year.id} for d in days]
    )
    return school


async def _student(
    s: AsyncSession, school: School, year: SchoolYear, first: str, grade: str, home: Household | None = None
) -> Student:
    student = Student(
        id=uuid.uuid4(),
        student_number=uuid.uuid4().hex[:10],
        first_name=first,
        last_name="Test",
        grade=grade,
        school_id=school.id,
        household_id=home.id if home else None,
    )
    s.add(student)
    await s.flush()
    s.add(
        Enrollment(student_id=student.id, school_id=school.id, school_year_id=year.id, grade=grade, entered_on=YEAR[1])
    )
    return student


async def _absent(s: AsyncSession, student: Student, *days: date, **fields: Any) -> None:
    rows = [
        {"student_id": student.id, "day": d, "school_id": student.school_id, "minutes_present": 0}
        | {"minutes_scheduled": 360, "tardy": False}
        | fields
        for d in days
    ]
    if rows:
        await s.execute(insert(AttendanceRecord), rows)


async def _home(s: AsyncSession, language: str | None, guardian: str, address: str) -> Household:
    home = Household(id=uuid.uuid4(), external_id=uuid.uuid4().hex[:12], language=language, address=address)
    s.add(home)
    await s.flush()
    s.add(Guardian(id=uuid.uuid4(), household_id=home.id, name=guardian, relationship="parent"))
    return home


@pytest.fixture
async def world(fresh_database: str, tmp_path: Path) -> AsyncIterator[World]:
    engine = create_engine(fresh_database)
    factory = create_session_factory(engine)
    async with factory() as s:
        ids = await _users(s)
        year = SchoolYear(id=uuid.uuid4(), name=YEAR[0], starts_on=YEAR[1], ends_on=YEAR[2])
        s.add(year)
        await s.flush()
        wilby = await _school(s, "WMS", "Wilby Middle", year)
        driggs = await _school(s, "DES", "Driggs Elementary", year)
        lopez = await _home(s, "Spanish", "María López", "45 Cherry St, Apt 2, Waterbury, CT 06702")
        ana = await _student(s, wilby, year, "Ana", "7", lopez)
        luis = await _student(s, driggs, year, "Luis", "4", lopez)
        await _absent(s, ana, *ANA_UNEXCUSED)
        await _absent(s, ana, ANA_EXCUSED, reason_code="illness_verified", documentation_received_on=ANA_EXCUSED)
        await _absent(s, luis, date(2026, 10, 5), date(2026, 10, 6))
        pierre = await _home(s, "Haitian Creole", "Marie Pierre", "9 Elm St, Waterbury, CT 06704")
        jean = await _student(s, wilby, year, "Jean", "7", pierre)
        await _absent(s, jean, date(2026, 10, 13), date(2026, 10, 14), date(2026, 10, 15))
        zoe = await _student(s, wilby, year, "Zoe", "7", await _home(s, "en", "Sam Reyes", "1 Oak St, Waterbury, CT"))
        await _absent(s, zoe, *[date(2026, 11, d) for d in (9, 10, 12, 13)])
        for n in range(4):  # classmates with 0 to 3 absences, one a month: none due a letter
            kid = await _student(s, wilby, year, f"Classmate{n}", "7")
            await _absent(s, kid, *[date(2026, 9 + m, 16) for m in range(n)])
        cases = {}
        for key, student, manager in (("ana", ana, "cm"), ("jean", jean, "cm"), ("zoe", zoe, "cm2")):
            case = Case(
                id=uuid.uuid4(),
                student_id=student.id,
                school_id=wilby.id,
                status="active",
                case_manager_id=ids[manager],
                opened_at=datetime(2026, 10, 20, 14, tzinfo=UTC),
            )
            s.add(case)
            cases[key] = case.id
        await s.execute(text("UPDATE user_account SET phone = '(203) 555-0142' WHERE username = 'cm'"))
        await s.commit()
        ids |= {"year": year.id, "ana": ana.id, "luis": luis.id, "jean": jean.id, "zoe": zoe.id}
        ids |= {f"case_{k}": v for k, v in cases.items()} | {"lopez": lopez.id}
    settings = make_settings(data_dir=tmp_path)
    async with client_for(app_for(settings, factory)) as client:
        yield World(factory, client, settings, ids, fresh_database)
    await engine.dispose()


def _text(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def _flat(page: str) -> str:
    return " ".join(page.split())


async def _letter(w: World, case: str, headers: dict[str, str], **body: Any) -> httpx.Response:
    payload = {"id": str(body.pop("id", uuid.uuid4())), "kind": body.pop("kind", "truancy_notice")} | body
    return await w.client.post(f"/cases/{w.ids['case_' + case]}/letters", json=payload, headers=headers)


# --- one letter --------------------------------------------------------------------------------


async def test_a_spanish_familys_truancy_notice_says_everything_in_spanish(world: World) -> None:
    office = await world.auth("office")
    meeting = datetime(2026, 12, 15, 20, 30, tzinfo=UTC)  # 15:30 in Waterbury
    made = await _letter(world, "ana", office, meeting_at=meeting.isoformat(), meeting_place="Wilby Middle, room 12")
    assert made.status_code == 201, made.text
    letter = made.json()
    assert (letter["language"], letter["fallback"], letter["status"]) == ("es", False, "ready")
    assert letter["as_of"] == clock.today(world.settings).isoformat()
    assert (letter["student_id"], letter["case_id"]) == (str(world.ids["ana"]), str(world.ids["case_ana"]))

    pdf = await world.client.get(f"/letters/{letter['id']}/pdf", headers=office)
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    pages = _text(pdf.content)
    assert len(pages) == 1, "one page"
    page = _flat(pages[0])
    assert "Ana" in page and "Wilby Middle" in page and "María López" in page
    assert "45 Cherry St, Apt 2" in page and "Waterbury, CT 06702" in page
    for day in ("14 de septiembre de 2026", "5 de octubre de 2026", "8 de octubre de 2026", "2 de noviembre de 2026"):
        assert day in page, day
    assert "7" in page and "6" in page  # seven days missed, six of them unexcused
    assert "2,5" in page, "the classmates' median (0, 1, 2, 3, Jean's 3 and Zoe's 4), in Spanish"
    assert "15 de diciembre de 2026" in page, "the meeting's date"
    assert "room 12" in page
    for n in range(1, 8):
        assert f"{n}." in page or f"{n})" in page, f"tip {n}"
    assert "Luis" in page and "Driggs Elementary" in page, "the sibling's line"
    assert "(203) 555-0142" in page, "the case manager's phone"


async def test_a_language_without_a_catalog_gets_english_and_says_so(world: World) -> None:
    office = await world.auth("office")
    made = await _letter(world, "jean", office, kind="attendance_notice")
    assert made.status_code == 201, made.text
    assert (made.json()["language"], made.json()["fallback"]) == ("en", True)
    assert made.json()["requested_language"] == "Haitian Creole"
    page = _flat(_text((await world.client.get(f"/letters/{made.json()['id']}/pdf", headers=office)).content)[0])
    assert "Jean" in page and "October 13, 2026" in page


async def test_a_replayed_letter_makes_nothing_new_and_other_content_is_refused(world: World) -> None:
    cm = await world.auth("cm")
    letter_id = uuid.uuid4()
    first = await _letter(world, "ana", cm, id=letter_id, kind="custom", body="Please call me.")
    again = await _letter(world, "ana", cm, id=letter_id, kind="custom", body="Please call me.")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    other = await _letter(world, "ana", cm, id=letter_id, kind="custom", body="Something else")
    assert (other.status_code, other.json()["code"]) == (409, "duplicate_id")
    async with world.factory() as s:
        assert await s.scalar(select(func.count()).select_from(Letter)) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "custom"}, "body"),
        ({"kind": "attendance_notice", "body": "hello"}, "body"),
        ({"kind": "attendance_notice", "meeting_place": "School"}, "meeting_at, meeting_place"),
        ({"kind": "truancy_notice", "language": "Klingonese"}, "language"),
    ],
)
async def test_a_letter_asked_for_wrongly_is_refused_with_the_field_named(
    world: World, body: dict[str, Any], field: str
) -> None:
    answer = await _letter(world, "ana", await world.auth("cm"), **body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "malformed" and answer.json()["detail"].startswith(field), answer.json()


async def test_another_teams_case_manager_gets_404_for_the_letter_and_its_pdf(world: World) -> None:
    made = (await _letter(world, "ana", await world.auth("cm"))).json()
    other = await world.auth("cm2")
    for path in (f"/letters/{made['id']}", f"/letters/{made['id']}/pdf"):
        answer = await world.client.get(path, headers=other)
        assert answer.status_code == 404, path
    assert (await _letter(world, "ana", other)).status_code == 404
    assert (await world.client.get(f"/cases/{world.ids['case_ana']}/letters", headers=other)).status_code == 404
    async with world.factory() as s:
        refused = (await s.scalars(select(AuditEntry).where(AuditEntry.action.like("letter.%_refused")))).all()
        assert sorted(a.action for a in refused) == ["letter.pdf_refused", "letter.read_refused"]
        assert {a.student_id for a in refused} == {world.ids["ana"]}
    mine = await world.client.get(f"/letters/{made['id']}/pdf", headers=await world.auth("sup"))
    assert mine.status_code == 200, "her supervisor reads it"


async def test_every_read_of_a_letter_is_audited_with_its_student(world: World) -> None:
    cm = await world.auth("cm")
    made = (await _letter(world, "ana", cm)).json()
    await world.client.get(f"/letters/{made['id']}", headers=cm)
    await world.client.get(f"/letters/{made['id']}/pdf", headers=cm)
    listed = await world.client.get(f"/cases/{world.ids['case_ana']}/letters", headers=cm)
    assert [x["id"] for x in listed.json()] == [made["id"]]
    async with world.factory() as s:
        rows = (await s.scalars(select(AuditEntry).where(AuditEntry.action.like("letter.%")))).all()
    assert [(a.action, a.student_id) for a in rows] == [
        ("letter.create", world.ids["ana"]),
        ("letter.read", world.ids["ana"]),
        ("letter.pdf", world.ids["ana"]),
        ("letter.list", world.ids["ana"]),
    ]


# --- mailed and returned -----------------------------------------------------------------------------


async def test_a_mailed_letter_is_a_contact_the_phone_pulls_once(world: World) -> None:
    phone = uuid.uuid4()
    cm = await world.auth("cm", device_id=phone)
    office = await world.auth("office")
    made = (await _letter(world, "ana", office)).json()
    at = datetime(2026, 12, 4, 15, tzinfo=UTC)
    for _ in range(2):  # a retry logs nothing more
        mailed = await world.client.post(f"/letters/{made['id']}/mailed", json={"at": at.isoformat()}, headers=office)
        assert mailed.status_code == 200, mailed.text
        assert mailed.json()["status"] == "mailed"
    async with world.factory() as s:
        contacts = (await s.scalars(select(ContactAttempt))).all()
    assert [(c.case_id, c.method, c.outcome, c.at) for c in contacts] == [
        (world.ids["case_ana"], "letter", "letter_sent", at)
    ]
    pull = await world.client.post("/sync/pull", json={"client_id": str(phone), "schema_version": 1}, headers=cm)
    assert pull.status_code == 200, pull.text
    puts = {(c["type"], c["id"]): c["data"] for c in pull.json()["changes"]}
    contact = puts[("contact_attempt", str(contacts[0].id))]
    assert (contact["method"], contact["outcome"]) == ("letter", "letter_sent")
    letter = puts[("letter", made["id"])]
    assert (letter["kind"], letter["language"], letter["status"]) == ("truancy_notice", "es", "mailed")


async def test_only_the_office_marks_letters_and_a_ready_letter_cannot_come_back(world: World) -> None:
    made = (await _letter(world, "ana", await world.auth("cm"))).json()
    cm = await world.auth("cm")
    assert (await world.client.post(f"/letters/{made['id']}/mailed", json={}, headers=cm)).status_code == 403
    office = await world.auth("office")
    back = await world.client.post(f"/letters/{made['id']}/returned", json={}, headers=office)
    assert (back.status_code, back.json()["code"]) == (409, "invalid_transition")


async def test_a_returned_letter_flags_the_address_until_the_office_clears_it(world: World) -> None:
    office = await world.auth("office")
    made = (await _letter(world, "ana", office)).json()
    await world.client.post(f"/letters/{made['id']}/mailed", json={}, headers=office)
    back = await world.client.post(
        f"/letters/{made['id']}/returned", json={"note": "Moved, left no address"}, headers=office
    )
    assert back.status_code == 200, back.text
    assert back.json()["status"] == "returned" and back.json()["returned_note"] == "Moved, left no address"
    async with world.factory() as s:
        home = await s.get_one(Household, world.ids["lopez"])
        assert home.address_flagged_at is not None and "Moved, left no address" in (home.address_flag_note or "")
        outcomes = sorted((await s.scalars(select(ContactAttempt.outcome))).all())
        assert outcomes == ["letter_returned", "letter_sent"]
    cleared = await world.client.delete(f"/households/{world.ids['lopez']}/address-flag", headers=office)
    assert cleared.status_code == 204, cleared.text
    async with world.factory() as s:
        assert (await s.get_one(Household, world.ids["lopez"])).address_flagged_at is None


# --- kinds and batches -----------------------------------------------------------------------------


async def test_the_letter_kinds_of_the_year_are_listed_with_their_rules(world: World) -> None:
    answer = await world.client.get("/letter-kinds", headers=await world.auth("cm"))
    assert answer.status_code == 200, answer.text
    kinds = {k["kind"]: k for k in answer.json()}
    assert set(kinds) == {"attendance_notice", "truancy_notice", "habitual_truancy_notice"} | {
        "chronic_absence_notice",
        "custom",
    }
    assert kinds["attendance_notice"]["rule"] == {"when": "counts", "monthly": 3, "yearly": 7}
    assert kinds["truancy_notice"]["rule"] == {"when": "truant"}
    assert all(k["school_year"] == "2026-2027" and k["description"] for k in kinds.values())


async def _batch(w: World, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    batch_id = uuid.uuid4()
    payload = {"id": str(batch_id), "as_of": clock.today(w.settings).isoformat()} | body
    queued = await w.client.post("/letter-batches", json=payload, headers=headers)
    assert queued.status_code == 202, queued.text
    assert queued.json()["status"] == "queued"
    blobs = Blobs.from_settings(w.settings)
    await service.run_batch(w.factory, w.settings, blobs, batch_id)
    done = await w.client.get(f"/letter-batches/{batch_id}", headers=headers)
    assert done.status_code == 200, done.text
    result: dict[str, Any] = done.json()
    return result


async def test_a_batch_takes_only_the_students_newly_due_and_a_second_one_is_empty(world: World) -> None:
    office = await world.auth("office")
    before = (await _letter(world, "zoe", office)).json()  # Zoe's truancy notice went out already
    batch = await _batch(world, office)
    assert (batch["status"], batch["done"], batch["total"]) == ("done", 2, 2)
    async with world.factory() as s:
        made = {
            (x.student_id, x.kind, x.language, x.by_rule)
            for x in await s.scalars(select(Letter).where(Letter.batch_id == uuid.UUID(batch["id"])))
        }
        jobs = await s.scalar(
            text("SELECT count(*) FROM procrastinate.procrastinate_jobs WHERE task_name = 'letters.batch'")
        )
    assert made == {
        (world.ids["ana"], "truancy_notice", "es", True),
        (world.ids["jean"], "attendance_notice", "en", True),
    }, "not Zoe (a person sent hers), not Luis nor the classmates (not due)"
    assert jobs == 1, "the POST deferred the job"
    assert before["id"] not in batch["letters"]
    pdf = await world.client.get(f"/letter-batches/{batch['id']}/pdf", headers=office)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert len(_text(pdf.content)) == 2, "one page each"

    second = await _batch(world, office)
    assert (second["status"], second["total"], second["letters"]) == ("done", 0, [])


async def test_a_batch_marked_mailed_logs_each_contact(world: World) -> None:
    office = await world.auth("office")
    batch = await _batch(world, office)
    mailed = await world.client.post(f"/letter-batches/{batch['id']}/mailed", json={}, headers=office)
    assert mailed.status_code == 200, mailed.text
    async with world.factory() as s:
        letters = (await s.scalars(select(Letter).where(Letter.batch_id == uuid.UUID(batch["id"])))).all()
        contacts = (await s.scalars(select(ContactAttempt.case_id))).all()
    assert {x.status for x in letters} == {"mailed"}
    assert sorted(map(str, contacts)) == sorted(str(world.ids[k]) for k in ("case_ana", "case_jean", "case_zoe"))


async def test_a_letter_asked_for_on_the_phone_waits_for_the_next_batch(world: World) -> None:
    phone = uuid.uuid4()
    cm = await world.auth("cm", device_id=phone)
    letter_id = uuid.uuid4()
    args = {"id": str(letter_id), "case_id": str(world.ids["case_jean"]), "kind": "custom", "body": "Call me, please."}
    body = {
        "client_id": str(phone),
        "schema_version": 1,
        "mutations": [{"id": 1, "name": "letter.request", "args": args}],
    }
    for _ in range(2):  # a replay is a no-op
        pushed = await world.client.post("/sync/push", json=body, headers=cm)
        assert pushed.status_code == 200, pushed.text
    pull = await world.client.post("/sync/pull", json={"client_id": str(phone), "schema_version": 1}, headers=cm)
    puts = {(c["type"], c["id"]): c["data"] for c in pull.json()["changes"]}
    assert puts[("letter", str(letter_id))]["status"] == "requested"
    pdf = await world.client.get(f"/letters/{letter_id}/pdf", headers=cm)
    assert (pdf.status_code, pdf.json()["code"]) == (409, "not_ready")

    office = await world.auth("office")
    batch = await _batch(world, office, kinds=["habitual_truancy_notice"])  # nobody is due this kind
    assert batch["letters"] == [str(letter_id)], "the request alone"
    made = (await world.client.get(f"/letters/{letter_id}", headers=cm)).json()
    assert (made["status"], made["kind"], made["language"], made["fallback"]) == ("ready", "custom", "en", True)
    page = _flat(_text((await world.client.get(f"/letters/{letter_id}/pdf", headers=cm)).content)[0])
    assert "Call me, please." in page


async def test_a_batch_outside_any_school_year_is_refused_at_once(world: World) -> None:
    answer = await world.client.post(
        "/letter-batches", json={"id": str(uuid.uuid4()), "as_of": "2027-07-15"}, headers=await world.auth("office")
    )
    assert (answer.status_code, answer.json()["code"]) == (400, "outside_school_year")


def test_the_command_line_prints_the_days_batch_with_a_progress_bar(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", world.url)
    monkeypatch.setenv("DOORSTEP_DATA_DIR", str(tmp_path / "var"))
    out = tmp_path / "letters.pdf"
    today = clock.today(world.settings).isoformat()
    result = CliRunner().invoke(cli, ["letters", "batch", "--as-of", today, "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert f"3 letters as of {today} in" in " ".join(result.output.split())  # (rich wraps the path)
    assert len(_text(out.read_bytes())) == 3, "Ana's, Jean's and Zoe's"
    again = CliRunner().invoke(cli, ["letters", "batch", "--as-of", today, "--output", str(out)])
    assert again.exit_code == 0 and "0 letters" in again.output, again.output
    wrong = CliRunner().invoke(cli, ["letters", "batch", "--as-of", "2027-08-01", "--output", str(out)])
    assert wrong.exit_code == 1 and "no school year contains 2027-08-01" in wrong.output, wrong.output
