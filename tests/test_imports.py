"""CSV imports: rosters, calendars, attendance. Idempotent, corrections audited, bad rows by line."""

# ruff: noqa: E501  (CSV fixtures read best one record a line)

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from server.attendance.models import AttendanceRecord
from server.audit import AuditEntry
from server.rules.evaluate import evaluate_all
from server.rules.models import TruancyEpisode
from server.schools.models import School, SchoolYear
from server.students.models import Enrollment, Guardian, Household, Student
from tests.helpers import Client, bearer, login

ROSTER = """student_number,first_name,last_name,birth_date,grade,school_code,school_name,school_year,entered_on,exited_on,household_id,phone,language,address,latitude,longitude,guardian1_name,guardian1_relationship,guardian1_phone,guardian2_name
T-1001,Ada,Quill,2013-04-02,7,IMP1,Import Middle,2025-2026,2025-09-02,,H-1,555-0101,es,1 Elm St,41.55,-73.04,Rosa Quill,mother,555-0101,Luis Quill
T-1002,Ben,Quill,2015-01-09,5,IMP1,Import Middle,2025-2026,2025-09-02,,H-1,555-0101,es,1 Elm St,41.55,-73.04,Rosa Quill,mother,555-0101,
T-1003,Cy,Moss,2012-11-30,8,IMP2,Import Two,2025-2026,2025-09-02,,H-2,555-0202,en,2 Oak St,41.56,-73.05,Dee Moss,aunt,,
"""

CALENDAR = "school_code,school_name,school_year,day\n" + "".join(
    f"{code},,2025-2026,2025-09-{d:02d}\n" for code in ("IMP1", "IMP2") for d in (2, 3, 4, 5, 8, 9, 10, 11, 12, 15)
)

ATTENDANCE_HEADER = "student_number,school_code,day,minutes_present,minutes_scheduled,present_half_day,tardy,reason_code,documentation_received_on\n"
ATTENDANCE = """student_number,school_code,day,minutes_present,minutes_scheduled,present_half_day,tardy,reason_code,documentation_received_on
T-1001,IMP1,2025-09-02,0,360,,,illness,
T-1001,IMP1,2025-09-03,360,360,,true,,
T-1002,IMP1,2025-09-02,,,false,,,
T-1003,IMP2,2025-09-02,100,360,,,unexcused,
"""


async def post(client: Client, who: str, path: str, body: str, **params: str) -> Any:
    tokens = await login(client, who)
    return await client.post(
        path, content=body.encode(), params=params, headers={**bearer(tokens), "content-type": "text/csv"}
    )


async def load_all(client: Client) -> None:
    for path, body in (
        ("/rosters/imports", ROSTER),
        ("/calendars/imports", CALENDAR),
        ("/attendance/imports", ATTENDANCE),
    ):
        response = await post(client, "office1", path, body)
        assert response.status_code == 200, response.text


async def test_roster_import_creates_schools_years_households_guardians_enrollments(
    client: Client, db: AsyncSession
) -> None:
    response = await post(client, "office1", "/rosters/imports", ROSTER)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["rows"], body["applied"], body["rejected"]) == (3, True, 0)
    assert body["by_table"] == {
        "household": {"inserted": 2, "updated": 0},
        "student": {"inserted": 3, "updated": 0},
        "guardian": {"inserted": 3, "updated": 0},
        "enrollment": {"inserted": 3, "updated": 0},
    }
    assert body["evaluation_queued"] is True
    schools = (await db.scalars(select(School.name).where(School.code.in_(["IMP1", "IMP2"])))).all()
    assert sorted(schools) == ["Import Middle", "Import Two"]
    h1 = (await db.scalars(select(Household).where(Household.external_id == "H-1"))).one()
    assert (h1.phone, h1.language, h1.latitude, h1.longitude) == ("555-0101", "es", 41.55, -73.04)
    guardians = (await db.scalars(select(Guardian.name).where(Guardian.household_id == h1.id))).all()
    assert sorted(guardians) == ["Luis Quill", "Rosa Quill"]
    ada = (await db.scalars(select(Student).where(Student.student_number == "T-1001"))).one()
    assert (ada.household_id, ada.grade) == (h1.id, "7")
    entered = await db.scalar(select(Enrollment.entered_on).where(Enrollment.student_id == ada.id))
    assert str(entered) == "2025-09-02"
    jobs = await db.execute(text("SELECT task_name FROM procrastinate.procrastinate_jobs WHERE status = 'todo'"))
    assert [j for (j,) in jobs] == ["rules.evaluate"]


async def test_reimporting_the_same_files_changes_nothing(client: Client, db: AsyncSession) -> None:
    await load_all(client)
    audits_before = await db.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1))
    for path, body in (
        ("/rosters/imports", ROSTER),
        ("/calendars/imports", CALENDAR),
        ("/attendance/imports", ATTENDANCE),
    ):
        again = (await post(client, "office1", path, body)).json()
        assert (again["inserted"], again["updated"], again["deleted"]) == (0, 0, 0), path
        assert again["evaluation_queued"] is False
    corrections = await db.scalars(
        select(AuditEntry.action).where(AuditEntry.id > audits_before, AuditEntry.action.like("%.corrected"))
    )
    assert list(corrections) == []


async def test_a_corrected_row_replaces_the_earlier_one_and_is_audited(client: Client, db: AsyncSession) -> None:
    await load_all(client)
    corrected = ATTENDANCE.replace(
        "T-1001,IMP1,2025-09-02,0,360,,,illness,", "T-1001,IMP1,2025-09-02,0,360,,,illness_verified,2025-09-04"
    )
    result = (await post(client, "admin", "/attendance/imports", corrected)).json()
    assert (result["inserted"], result["updated"], result["unchanged"]) == (0, 1, 3)
    ada = await db.scalar(select(Student.id).where(Student.student_number == "T-1001"))
    record = (await db.scalars(select(AttendanceRecord).where(AttendanceRecord.student_id == ada))).all()
    first = next(r for r in record if r.day.isoformat() == "2025-09-02")
    assert (first.reason_code, str(first.documentation_received_on)) == ("illness_verified", "2025-09-04")
    entry = (await db.scalars(select(AuditEntry).where(AuditEntry.action == "attendance.corrected"))).one()
    assert entry.entity_id == f"{ada}/2025-09-02"
    assert entry.actor_role == "admin"
    assert entry.detail is not None and entry.detail["line"] == 2
    assert entry.detail["before"]["reason_code"] == "illness"
    assert entry.detail["after"]["reason_code"] == "illness_verified"
    assert entry.detail["after"]["documentation_received_on"] == "2025-09-04"
    # A roster correction: a new phone number for the household.
    roster = ROSTER.replace("H-2,555-0202", "H-2,555-0999")
    result = (await post(client, "office1", "/rosters/imports", roster)).json()
    assert result["by_table"]["household"] == {"inserted": 0, "updated": 1}
    household = (await db.scalars(select(Household).where(Household.external_id == "H-2"))).one()
    assert (household.phone, household.version) == ("555-0999", 2)
    audit = (await db.scalars(select(AuditEntry).where(AuditEntry.action == "household.corrected"))).one()
    assert audit.detail and (audit.detail["before"]["phone"], audit.detail["after"]["phone"]) == (
        "555-0202",
        "555-0999",
    )


BAD_ATTENDANCE = (
    ATTENDANCE
    + """T-9999,IMP1,2025-09-02,0,360,,,,
T-1003,IMP2,2025-02-30,0,360,,,,
T-1003,IMP2,2025-09-03,400,360,,,,
T-1003,IMP2,2025-09-04,0,360,,,vacation,
T-1003,IMP2,2025-09-05,,,,,,
T-1003,IMP2,2025-09-02,0,360,,,,
T-1003,IMP2
"""
)


async def test_bad_rows_all_or_nothing_writes_nothing(client: Client, db: AsyncSession) -> None:
    for path, body in (("/rosters/imports", ROSTER), ("/calendars/imports", CALENDAR)):
        assert (await post(client, "office1", path, body)).status_code == 200
    response = await post(client, "office1", "/attendance/imports", BAD_ATTENDANCE)
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "import_rejected"
    assert [(b["line"], b["reason"]) for b in problem["bad_rows"]] == [
        (6, "unknown student_number T-9999"),
        (7, "day: not a date (YYYY-MM-DD): '2025-02-30'"),
        (8, "minutes_present must be between 0 and minutes_scheduled (> 0)"),
        (9, "reason_code: unknown code 'vacation'"),
        (10, "give minutes_present and minutes_scheduled, or present_half_day"),
        (11, "student_number and day repeats line 5"),
        (12, "expected 9 fields, found 2"),
    ]
    assert await db.scalar(select(AttendanceRecord.day).limit(1)) is None


async def test_bad_rows_good_rows_mode_applies_the_rest(client: Client, db: AsyncSession) -> None:
    for path, body in (("/rosters/imports", ROSTER), ("/calendars/imports", CALENDAR)):
        assert (await post(client, "office1", path, body)).status_code == 200
    response = await post(client, "office1", "/attendance/imports", BAD_ATTENDANCE, mode="good_rows")
    assert response.status_code == 200
    body = response.json()
    assert (body["applied"], body["inserted"], body["rejected"]) == (True, 4, 7)
    assert [b["line"] for b in body["bad_rows"]] == [6, 7, 8, 9, 10, 11, 12]


async def test_bad_roster_and_calendar_rows(client: Client) -> None:
    roster = ROSTER + "T-2001,Dot,,2013-01-01,7,IMP1,,2025-2026,2025-09-02,,,,,,,,,,,\n"
    roster += "T-2002,Eve,Park,2013-01-01,7,IMP1,,2025-26,2025-09-02,,,,,,,,,,,\n"
    roster += "T-2003,Fay,Park,2013-01-01,7,IMP1,,2025-2026,2025-09-02,,H-9,,,,95,,,,,\n"
    body = (await post(client, "office1", "/rosters/imports", roster, mode="good_rows")).json()
    assert [(b["line"], b["reason"]) for b in body["bad_rows"]] == [
        (5, "last_name is required"),
        (6, "school_year: expected two consecutive years like 2025-2026, got '2025-26'"),
        (7, "latitude: out of range"),
    ]
    calendar = "school_code,school_year,day\nIMP1,2025-2026,2026-08-01\nIMP1,2025-2026,2025-09-02\n"
    response = await post(client, "office1", "/calendars/imports", calendar)
    assert response.status_code == 422
    assert response.json()["bad_rows"] == [
        {"line": 2, "reason": "day 2026-08-01 is not in school year 2025-2026 (July to June)"}
    ]
    missing = await post(client, "office1", "/calendars/imports", "school_code,day\nIMP1,2025-09-02\n")
    assert missing.json()["bad_rows"] == [{"line": 1, "reason": "missing column(s): school_year"}]


async def test_calendar_import_sets_the_year_span_and_can_remove_a_day(client: Client, db: AsyncSession) -> None:
    await post(client, "office1", "/rosters/imports", ROSTER)
    assert (await post(client, "office1", "/calendars/imports", CALENDAR)).status_code == 200
    year = (await db.scalars(select(SchoolYear).where(SchoolYear.name == "2025-2026"))).one()
    assert (str(year.starts_on), str(year.ends_on)) == ("2025-09-02", "2025-09-15")
    school = await db.scalar(select(School.id).where(School.code == "IMP1"))
    tokens = await login(client, "cm1")
    read = await client.get(f"/schools/{school}/calendar", params={"school_year": "2025-2026"}, headers=bearer(tokens))
    assert read.status_code == 200
    assert len(read.json()["days"]) == 10
    removed = await post(
        client,
        "admin",
        "/calendars/imports",
        "school_code,school_year,day,in_session\nIMP1,2025-2026,2025-09-05,false\n",
    )
    assert removed.json()["deleted"] == 1
    read = await client.get(f"/schools/{school}/calendar", params={"school_year": "2025-2026"}, headers=bearer(tokens))
    assert "2025-09-05" not in read.json()["days"]
    audit = (await db.scalars(select(AuditEntry).where(AuditEntry.action == "calendar.day_removed"))).one()
    assert audit.entity_id == f"{school}/2025-09-05"
    unknown = await client.get(
        f"/schools/{school}/calendar", params={"school_year": "1999-2000"}, headers=bearer(tokens)
    )
    assert unknown.status_code == 404


async def test_only_office_staff_and_admins_import(client: Client) -> None:
    for who in ("cm1", "sup1", "counselor1"):
        for path in ("/rosters/imports", "/calendars/imports", "/attendance/imports"):
            assert (await post(client, who, path, "x\n")).status_code == 403, (who, path)


# --- The header: an unknown column refuses the whole file ------------------------------------

ATTENDANCE_COLUMNS = [
    "student_number",
    "school_code",
    "day",
    "minutes_present",
    "minutes_scheduled",
    "present_half_day",
    "tardy",
    "reason_code",
    "documentation_received_on",
]


@pytest.mark.parametrize("mode", ["all_or_nothing", "good_rows"])
@pytest.mark.parametrize(
    ("path", "body", "unknown"),
    [
        ("/rosters/imports", ROSTER.replace(",guardian2_name\n", ",guardian_2_name\n", 1), ["guardian_2_name"]),
        (
            "/calendars/imports",
            CALENDAR.replace("school_year,day", "schoolyear,school_year,day", 1).replace(
                ",2025-2026,", ",x,2025-2026,"
            ),
            ["schoolyear"],
        ),
        (
            "/attendance/imports",
            ATTENDANCE.replace("reason_code,documentation_received_on", "reason,documentation_date", 1),
            ["reason", "documentation_date"],
        ),
    ],
)
async def test_an_unknown_column_refuses_the_whole_file_in_either_mode(
    client: Client, db: AsyncSession, path: str, body: str, unknown: list[str], mode: str
) -> None:
    if path == "/attendance/imports":
        for setup, csv in (("/rosters/imports", ROSTER), ("/calendars/imports", CALENDAR)):
            assert (await post(client, "office1", setup, csv)).status_code == 200
    written = ("%.import", "%.corrected", "%.voided", "calendar.%")
    imports = select(func.count()).select_from(AuditEntry).where(or_(*(AuditEntry.action.like(a) for a in written)))
    audits_before = await db.scalar(imports)
    response = await post(client, "office1", path, body, mode=mode)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "unknown_columns"
    assert problem["type"] == "urn:doorstep:problem:unknown_columns"
    assert problem["unknown"] == unknown
    assert all(name in problem["detail"] for name in unknown)
    assert "student_number" in problem["expected"] or "school_code" in problem["expected"]
    assert not set(unknown) & set(problem["expected"])
    # Nothing was written: no record, no audit row, no evaluation queued.
    assert await db.scalar(imports) == audits_before
    assert await db.scalar(select(AttendanceRecord.day).limit(1)) is None
    if path == "/rosters/imports":
        assert await db.scalar(select(Student.id).where(Student.student_number == "T-1001")) is None
    if path == "/calendars/imports":
        assert await db.scalar(select(SchoolYear.id).where(SchoolYear.name == "2025-2026")) is None


async def test_the_expected_attendance_columns_are_listed(client: Client) -> None:
    for setup, csv in (("/rosters/imports", ROSTER), ("/calendars/imports", CALENDAR)):
        assert (await post(client, "office1", setup, csv)).status_code == 200
    body = ATTENDANCE.replace("reason_code", "reason", 1)
    problem = (await post(client, "office1", "/attendance/imports", body)).json()
    assert (problem["unknown"], problem["expected"]) == (["reason"], [*ATTENDANCE_COLUMNS, "void"])


async def test_a_misspelled_column_cannot_undo_an_excused_absence(client: Client, db: AsyncSession) -> None:
    """Re-sending a day with its reason under a misspelled header used to update the stored record:
    the excused absence became unexcused, with no documentation."""
    await load_all(client)
    resent = ATTENDANCE.replace("reason_code,documentation_received_on", "reason,documentation_date", 1)
    response = await post(client, "office1", "/attendance/imports", resent, mode="good_rows")
    assert response.status_code == 422
    assert response.json()["code"] == "unknown_columns"
    ada = await db.scalar(select(Student.id).where(Student.student_number == "T-1001"))
    reason = await db.scalar(
        select(AttendanceRecord.reason_code).where(
            AttendanceRecord.student_id == ada, AttendanceRecord.day == date(2025, 9, 2)
        )
    )
    assert reason == "illness"
    corrections = await db.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "attendance.corrected")
    )
    assert corrections == 0


async def test_a_repeated_column_refuses_the_whole_file(client: Client) -> None:
    body = "school_code,school_year,day,DAY\nIMP1,2025-2026,2025-09-02,2025-09-03\n"
    response = await post(client, "office1", "/calendars/imports", body, mode="good_rows")
    assert response.status_code == 422
    problem = response.json()
    assert (problem["code"], problem["repeated"]) == ("repeated_columns", ["day"])


async def test_minutes_that_contradict_present_half_day_are_a_bad_row(client: Client, db: AsyncSession) -> None:
    for path, body in (("/rosters/imports", ROSTER), ("/calendars/imports", CALENDAR)):
        assert (await post(client, "office1", path, body)).status_code == 200
    body = ATTENDANCE + "T-1003,IMP2,2025-09-03,360,360,false,,,\n"
    response = await post(client, "office1", "/attendance/imports", body)
    assert response.status_code == 422
    assert response.json()["bad_rows"] == [
        {
            "line": 6,
            "reason": "minutes_present and present_half_day disagree: 360 of 360 minutes is at least half the day",
        }
    ]
    assert await db.scalar(select(AttendanceRecord.day).limit(1)) is None


# --- Mid-year transfers: one roster row per enrollment -----------------------------------------

ROSTER_HEADER = ROSTER.splitlines()[0] + "\n"
ADA_AT_IMP1 = "T-1001,Ada,Quill,2013-04-02,7,IMP1,Import Middle,2025-2026,2025-09-02,{exit},H-1,555-0101,es,1 Elm St,41.55,-73.04,Rosa Quill,mother,555-0101,Luis Quill\n"
ADA_AT_IMP2 = "T-1001,Ada,Quill,2013-04-02,8,IMP2,Import Two,2025-2026,{enter},,H-1,555-0101,es,1 Elm St,41.55,-73.04,Rosa Quill,mother,555-0101,Luis Quill\n"
OTHERS = "".join(ROSTER.splitlines(keepends=True)[2:])


async def enrollments(db: AsyncSession, student_number: str) -> list[tuple[str, str, str | None, str | None]]:
    rows = await db.execute(
        select(School.code, Enrollment.entered_on, Enrollment.exited_on, Enrollment.grade)
        .join(School, School.id == Enrollment.school_id)
        .join(Student, Student.id == Enrollment.student_id)
        .where(Student.student_number == student_number)
        .order_by(Enrollment.entered_on)
    )
    return [(code, str(entered), str(exited) if exited else None, grade) for code, entered, exited, grade in rows]


async def test_a_mid_year_transfer_imports_both_enrollments(client: Client, db: AsyncSession) -> None:
    roster = ROSTER_HEADER + ADA_AT_IMP1.format(exit="2025-10-31") + OTHERS + ADA_AT_IMP2.format(enter="2025-11-03")
    response = await post(client, "office1", "/rosters/imports", roster)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["rows"], body["rejected"], body["unchanged"]) == (4, 0, 0)
    assert body["by_table"]["student"] == {"inserted": 3, "updated": 0}
    assert body["by_table"]["enrollment"] == {"inserted": 4, "updated": 0}
    assert await enrollments(db, "T-1001") == [
        ("IMP1", "2025-09-02", "2025-10-31", "7"),
        ("IMP2", "2025-11-03", None, "8"),
    ]
    # The student's school and grade are those of her latest enrollment.
    ada = (await db.scalars(select(Student).where(Student.student_number == "T-1001"))).one()
    assert (await db.get(School, ada.school_id), ada.grade) == (
        (await db.scalars(select(School).where(School.code == "IMP2"))).one(),
        "8",
    )
    again = (await post(client, "office1", "/rosters/imports", roster)).json()
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 4)


async def test_a_transfer_sent_after_the_first_roster_closes_the_earlier_enrollment(
    client: Client, db: AsyncSession
) -> None:
    assert (await post(client, "office1", "/rosters/imports", ROSTER)).status_code == 200
    # Only the new enrollment: it overlaps the stored one, still open. Refused, and said why.
    alone = ROSTER_HEADER + ADA_AT_IMP2.format(enter="2025-11-03")
    response = await post(client, "office1", "/rosters/imports", alone)
    assert response.status_code == 422
    assert response.json()["bad_rows"] == [
        {
            "line": 2,
            "reason": "enrollment dates overlap a stored enrollment not in this file (IMP1 from 2025-09-02, open): "
            "send it with its exited_on in the same file",
        }
    ]
    both = ROSTER_HEADER + ADA_AT_IMP1.format(exit="2025-10-31") + ADA_AT_IMP2.format(enter="2025-11-03")
    response = await post(client, "office1", "/rosters/imports", both)
    assert response.status_code == 200, response.text
    assert response.json()["by_table"]["enrollment"] == {"inserted": 1, "updated": 1}
    assert await enrollments(db, "T-1001") == [
        ("IMP1", "2025-09-02", "2025-10-31", "7"),
        ("IMP2", "2025-11-03", None, "8"),
    ]


async def test_overlapping_or_repeated_enrollments_and_disagreeing_names_are_bad_rows(client: Client) -> None:
    roster = (
        ROSTER_HEADER
        + ADA_AT_IMP1.format(exit="2025-11-14")
        + ADA_AT_IMP2.format(enter="2025-11-03")
        + ADA_AT_IMP1.format(exit="2025-11-14")
        + ADA_AT_IMP2.format(enter="2025-12-01").replace("Ada,Quill", "Ada,Quil")
        + OTHERS
    )
    response = await post(client, "office1", "/rosters/imports", roster, mode="good_rows")
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(b["line"], b["reason"]) for b in body["bad_rows"]] == [
        (3, "enrollment dates overlap line 2 (IMP1 from 2025-09-02 to 2025-11-14)"),
        (4, "student_number, school_code, school_year and entered_on repeats line 2"),
        (5, "first_name, last_name and birth_date differ from line 2 (same student_number)"),
    ]
    assert (body["rows"], body["rejected"], body["by_table"]["enrollment"]["inserted"]) == (6, 3, 3)


# --- Voiding attendance imported by mistake ----------------------------------------------------

VOID_HEADER = ATTENDANCE.splitlines()[0] + ",void\n"


async def test_attendance_imported_by_mistake_is_voided_audited_and_re_evaluated(
    client: Client, db: AsyncSession
) -> None:
    await load_all(client)
    await db.execute(text("DELETE FROM procrastinate.procrastinate_jobs"))
    ada = await db.scalar(select(Student.id).where(Student.student_number == "T-1001"))
    # The row as it was imported, with void=true; or just its keys.
    voids = VOID_HEADER + "T-1001,IMP1,2025-09-02,0,360,,,illness,,true\nT-1002,IMP1,2025-09-02,,,,,,,yes\n"
    before = await db.scalar(select(func.coalesce(func.max(AuditEntry.id), 0)))  # others' rows aside
    response = await post(client, "office1", "/attendance/imports", voids)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["rows"], body["deleted"], body["inserted"], body["updated"], body["unchanged"]) == (2, 2, 0, 0, 0)
    assert body["evaluation_queued"] is True
    jobs = await db.execute(text("SELECT task_name FROM procrastinate.procrastinate_jobs WHERE status = 'todo'"))
    assert [j for (j,) in jobs] == ["rules.evaluate"]
    days = await db.scalars(select(AttendanceRecord.day).where(AttendanceRecord.student_id == ada))
    assert [str(d) for d in days] == ["2025-09-03"]
    voided = (
        await db.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "attendance.voided", AuditEntry.id > before)
            .order_by(AuditEntry.id)
        )
    ).all()
    voided = sorted(voided, key=lambda v: v.detail["line"] if v.detail else 0)  # one row a line, any order
    assert voided[0].student_id == ada  # a parent's records request lists it
    assert [(v.entity_id, v.actor_role) for v in voided][0] == (f"{ada}/2025-09-02", "office_staff")
    assert [v.detail and (v.detail["line"], v.detail["before"]["reason_code"]) for v in voided] == [
        (2, "illness"),
        (3, None),
    ]
    summary = (await db.scalars(select(AuditEntry).where(AuditEntry.action == "attendance.import"))).all()[-1]
    assert summary.detail and summary.detail["deleted"] == 2
    # Sending the voids again changes nothing.
    again = (await post(client, "office1", "/attendance/imports", voids)).json()
    assert (again["deleted"], again["unchanged"], again["evaluation_queued"]) == (0, 2, False)


async def test_a_void_must_name_the_school_of_the_record(client: Client, db: AsyncSession) -> None:
    await load_all(client)
    voids = VOID_HEADER + "T-1003,IMP1,2025-09-02,,,,,,,true\nT-1001,IMP1,2025-09-03,,,,,,,maybe\n"
    response = await post(client, "office1", "/attendance/imports", voids)
    assert response.status_code == 422
    assert response.json()["bad_rows"] == [
        {"line": 2, "reason": "void: the record of this day is at school IMP2, not IMP1"},
        {"line": 3, "reason": "void: expected true or false, got 'maybe'"},
    ]
    assert await db.scalar(select(func.count()).select_from(AttendanceRecord)) == 4


async def test_voiding_absences_ends_the_episode_they_triggered(client: Client, db: AsyncSession) -> None:
    for path, body in (("/rosters/imports", ROSTER), ("/calendars/imports", CALENDAR)):
        assert (await post(client, "office1", path, body)).status_code == 200
    absences = "".join(f"T-1001,IMP1,2025-09-{d:02d},0,360,,,unexcused,\n" for d in (2, 3, 4, 5))
    assert (await post(client, "office1", "/attendance/imports", ATTENDANCE_HEADER + absences)).status_code == 200
    await evaluate_all(db, date(2025, 9, 12))
    open_episode = select(TruancyEpisode.rule).where(TruancyEpisode.ended_on.is_(None))
    assert list(await db.scalars(open_episode)) == ["chronic"]  # 4 absences in 9 school days
    await db.execute(text("DELETE FROM procrastinate.procrastinate_jobs"))  # the queued job has run
    void = VOID_HEADER + "".join(f"T-1001,IMP1,2025-09-{d:02d},,,,,,,true\n" for d in (2, 3, 4, 5))
    response = (await post(client, "office1", "/attendance/imports", void)).json()
    assert (response["deleted"], response["evaluation_queued"]) == (4, True)
    await evaluate_all(db, date(2025, 9, 12))  # what the queued job does
    assert list(await db.scalars(open_episode)) == []
