"""Voiding an enrollment imported by mistake: a roster row with ``void`` true deletes the stored
enrollment it names, audited, and queues a re-evaluation (as attendance's voids do)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit import AuditEntry
from server.rules.evaluate import evaluate_all
from server.rules.models import TruancyEpisode
from server.schools.models import School
from server.students.models import Enrollment, Student
from tests.helpers import Client
from tests.test_imports import (
    ADA_AT_IMP1,
    ADA_AT_IMP2,
    ATTENDANCE,
    CALENDAR,
    OTHERS,
    ROSTER,
    ROSTER_HEADER,
    enrollments,
    post,
)

VOID_HEADER = ROSTER_HEADER.rstrip("\n") + ",void\n"
COLUMNS = VOID_HEADER.rstrip("\n").split(",")


def void_row(student_number: str, school_code: str, entered_on: str, void: str = "true", **more: str) -> str:
    """A roster row that gives only an enrollment's key (and ``void``), every other field blank."""
    values = {
        "student_number": student_number,
        "school_code": school_code,
        "school_year": "2025-2026",
        "entered_on": entered_on,
        "void": void,
    } | more
    return ",".join(values.get(c, "") for c in COLUMNS) + "\n"


def with_void_column(rows: str) -> str:
    """Roster rows (no ``void`` column) as rows of a file that has one, left blank."""
    return "".join(line + ",\n" for line in rows.splitlines())


async def _ada(db: AsyncSession) -> Student:
    query = select(Student).where(Student.student_number == "T-1001").execution_options(populate_existing=True)
    return (await db.scalars(query)).one()


async def _school(db: AsyncSession, code: str) -> School:
    return (await db.scalars(select(School).where(School.code == code))).one()


async def test_an_enrollment_imported_by_mistake_is_voided_audited_and_re_evaluated(
    client: Client, db: AsyncSession
) -> None:
    # A transfer to IMP2 that never happened: Ada stayed at IMP1.
    roster = ROSTER_HEADER + ADA_AT_IMP1.format(exit="2025-10-31") + OTHERS + ADA_AT_IMP2.format(enter="2025-11-03")
    assert (await post(client, "office1", "/rosters/imports", roster)).status_code == 200
    ada = await _ada(db)
    assert (ada.school_id, ada.grade) == ((await _school(db, "IMP2")).id, "8")
    wrong = await db.scalar(
        select(Enrollment.id).where(Enrollment.student_id == ada.id, Enrollment.entered_on == date(2025, 11, 3))
    )
    await db.execute(text("DELETE FROM procrastinate.procrastinate_jobs"))
    before = await db.scalar(select(func.coalesce(func.max(AuditEntry.id), 0)))  # others' rows aside

    voids = VOID_HEADER + void_row("T-1001", "IMP2", "2025-11-03")
    response = await post(client, "office1", "/rosters/imports", voids)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["rows"], body["deleted"], body["inserted"], body["updated"], body["unchanged"]) == (1, 1, 0, 1, 0)
    assert body["by_table"]["student"] == {"inserted": 0, "updated": 1}
    assert body["evaluation_queued"] is True
    jobs = await db.execute(text("SELECT task_name FROM procrastinate.procrastinate_jobs WHERE status = 'todo'"))
    assert [j for (j,) in jobs] == ["rules.evaluate"]
    assert await enrollments(db, "T-1001") == [("IMP1", "2025-09-02", "2025-10-31", "7")]
    # Her record is that of her latest enrollment left: IMP1, grade 7.
    ada = await _ada(db)
    assert (ada.school_id, ada.grade, ada.version) == ((await _school(db, "IMP1")).id, "7", 2)

    rows = (await db.scalars(select(AuditEntry).where(AuditEntry.id > before).order_by(AuditEntry.id))).all()
    voided = [r for r in rows if r.action == "enrollment.voided"]
    assert [(v.entity_type, v.entity_id, v.student_id, v.actor_role) for v in voided] == [
        ("enrollment", str(wrong), ada.id, "office_staff")
    ]
    assert voided[0].detail is not None
    assert voided[0].detail["line"] == 2
    assert voided[0].detail["before"] == {
        "school_code": "IMP2",
        "school_year": "2025-2026",
        "grade": "8",
        "entered_on": "2025-11-03",
        "exited_on": None,
    }
    (moved,) = [r for r in rows if r.action == "student.corrected"]
    assert moved.detail is not None and moved.detail["line"] == 2
    assert (moved.detail["before"]["grade"], moved.detail["after"]["grade"]) == ("8", "7")
    (summary,) = [r for r in rows if r.action == "roster.import"]
    assert summary.detail is not None and (summary.detail["deleted"], summary.detail["updated"]) == (1, 1)
    assert voided[0].detail["import_id"] == summary.entity_id

    # Sending the void again changes nothing.
    again = (await post(client, "office1", "/rosters/imports", voids)).json()
    assert (again["deleted"], again["updated"], again["unchanged"], again["evaluation_queued"]) == (0, 0, 1, False)


async def test_a_void_and_the_right_enrollment_in_one_file(client: Client, db: AsyncSession) -> None:
    """Ada was enrolled at the wrong school: void that enrollment and send the right one. The
    right one's dates overlap the voided one's, which is no longer stored."""
    assert (await post(client, "office1", "/rosters/imports", ROSTER)).status_code == 200
    right = ADA_AT_IMP2.format(enter="2025-09-02")
    fix = VOID_HEADER + void_row("T-1001", "IMP1", "2025-09-02") + with_void_column(right)
    response = await post(client, "office1", "/rosters/imports", fix)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["deleted"], body["by_table"]["enrollment"], body["unchanged"]) == (
        1,
        {"inserted": 1, "updated": 0},
        0,
    )
    assert await enrollments(db, "T-1001") == [("IMP2", "2025-09-02", None, "8")]
    ada = await _ada(db)
    assert (ada.school_id, ada.grade) == ((await _school(db, "IMP2")).id, "8")


async def test_a_void_names_a_stored_student_school_and_year(client: Client, db: AsyncSession) -> None:
    assert (await post(client, "office1", "/rosters/imports", ROSTER)).status_code == 200
    voids = (
        VOID_HEADER
        + void_row("T-9999", "IMP1", "2025-09-02")
        + void_row("T-1001", "NOPE", "2025-09-02")
        + void_row("T-1001", "IMP1", "2025-09-02", school_year="2030-2031")
        + void_row("T-1001", "IMP1", "2025-09-02", void="maybe")
        + void_row("T-1002", "IMP1", "")
        + void_row("T-1003", "IMP2", "2025-09-02")
        + with_void_column(ROSTER.splitlines()[3])  # T-1003 voided and sent on one line each
        + void_row("T-1002", "IMP1", "2025-09-09")  # no such enrollment: nothing to void
    )
    response = await post(client, "office1", "/rosters/imports", voids)
    assert response.status_code == 422
    assert [(b["line"], b["reason"]) for b in response.json()["bad_rows"]] == [
        (2, "unknown student_number T-9999"),
        (3, "unknown school_code NOPE"),
        (4, "unknown school_year 2030-2031"),
        (5, "void: expected true or false, got 'maybe'"),
        (6, "entered_on is required"),
        (8, "student_number, school_code, school_year and entered_on repeats line 7"),
    ]
    assert await db.scalar(select(func.count()).select_from(Enrollment)) == 3
    assert await db.scalar(select(func.count()).where(School.code == "NOPE")) == 0
    # The good rows alone: T-1003's enrollment voided; T-1002's void of nothing unchanged.
    response = await post(client, "office1", "/rosters/imports", voids, mode="good_rows")
    body = response.json()
    assert (body["rejected"], body["deleted"], body["unchanged"]) == (6, 1, 1)
    assert await enrollments(db, "T-1003") == []
    assert len(await enrollments(db, "T-1002")) == 1


async def test_voiding_an_enrollment_ends_the_episode_it_made(client: Client, db: AsyncSession) -> None:
    """One absence in nine enrolled school days is chronic absence; with the enrollment voided
    there are no enrolled days, and the episode ends at the next evaluation."""
    for path, body in (
        ("/rosters/imports", ROSTER),
        ("/calendars/imports", CALENDAR),
        ("/attendance/imports", ATTENDANCE),
    ):
        assert (await post(client, "office1", path, body)).status_code == 200, path
    ada = (await _ada(db)).id
    chronic = select(TruancyEpisode.student_id).where(
        TruancyEpisode.ended_on.is_(None), TruancyEpisode.rule == "chronic"
    )
    await evaluate_all(db, date(2025, 9, 12))
    assert ada in set(await db.scalars(chronic))
    await db.execute(text("DELETE FROM procrastinate.procrastinate_jobs"))  # the queued job has run
    response = (
        await post(client, "office1", "/rosters/imports", VOID_HEADER + void_row("T-1001", "IMP1", "2025-09-02"))
    ).json()
    assert (response["deleted"], response["evaluation_queued"]) == (1, True)
    await evaluate_all(db, date(2025, 9, 12))  # what the queued job does
    assert ada not in set(await db.scalars(chronic))
