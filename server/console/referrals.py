"""Referrals: the counselor's truant students (the same service as ``GET /truant-students``), the
referral form (the same service as ``POST /referrals``) and the referral it made; and the
supervisor's unassigned referred cases with their Assign forms (the same service as
``POST /cases/{id}/assign``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template

from schemas.auth import Role
from schemas.cases import CaseStatus, ReferralIn, ReferralStatus
from schemas.rules import Rule
from server import audit, clock
from server.auth import repository as users
from server.cases import repository as case_repo
from server.cases import service as cases
from server.cases.scope import visible_cases
from server.console.pages import PAGE_SIZE, case_managers, listed_students, page
from server.console.session import PATH, signed_in
from server.deps import AuthRequest, Db, actor_of
from server.errors import (
    DuplicateWithDifferentContent,
    Forbidden,
    InvalidInput,
    InvalidTransition,
    NotFound,
    OutsideSchoolYear,
)
from server.pagination import decode_cursor, encode_cursor
from server.referrals import repository as referral_repo
from server.referrals import service as referrals
from server.referrals import truant
from server.rules import service as rules
from server.students import repository as students
from server.students.scope import visible_student

COUNSELORS = (Role.ATTENDANCE_COUNSELOR, Role.ADMIN)
ASSIGNERS = (Role.SUPERVISOR, Role.ADMIN)
REFERRAL_READERS = (Role.ATTENDANCE_COUNSELOR, Role.SUPERVISOR, Role.OFFICE_STAFF, Role.ADMIN)
RULE_NAMES = {Rule.MONTHLY: "Monthly rule", Rule.YEARLY: "Yearly rule", Rule.HABITUAL: "Habitual truancy"}
MAX_REASON = 4000


def _today(request: AuthRequest) -> date:
    return clock.today(request.app.state.settings)


def _day(request: AuthRequest, text: str | None) -> date | None:
    """A date field's value (empty: the district's today); ``None`` when it is not a date."""
    if not text:
        return _today(request)
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


# --- truant students ------------------------------------------------------------------------------


@get("/truant-students", opt=signed_in(*COUNSELORS))
async def truant_students(
    request: AuthRequest, db: Db, as_of: FromQuery[str | None] = None, cursor: FromQuery[str | None] = None
) -> Template:
    day = _day(request, as_of)
    context: dict[str, Any] = {"as_of": as_of or _today(request).isoformat(), "rule_names": RULE_NAMES}
    if day is None:
        message = "That is not a date. Enter it as year-month-day, for example 2025-12-15."
        return page(request, "truant_students.html", 400, date_error=message, found=None, **context)
    after = truant.decode(cursor) if cursor else None
    try:
        found = await truant.page(
            db, request.user, actor_of(request), day, limit=PAGE_SIZE, after=after, via="console_truant_students"
        )
    except OutsideSchoolYear:
        message = f"There is no school year on record on or before {day.isoformat()}: choose a later date."
        return page(request, "truant_students.html", date_error=message, found=None, **context)
    next_url = None
    if found.next_cursor:
        next_url = f"{PATH}/truant-students?" + urlencode({"as_of": day.isoformat(), "cursor": found.next_cursor})
    return page(
        request,
        "truant_students.html",
        found=found,
        day=day,
        next_url=next_url,
        paged=bool(cursor),
        may_refer=request.user.role is Role.ATTENDANCE_COUNSELOR,
        date_error=None,
        **context,
    )


# --- the referral form and the referral -----------------------------------------------------------


async def _form_page(
    request: AuthRequest, db: Db, student_id: uuid.UUID, as_of: str, status_code: int = 200, **context: Any
) -> Template:
    """The referral form for a student the counselor may see (404 otherwise, the refusal audited),
    with her truancy on the form's date: what the referral's eligibility will read."""
    actor = actor_of(request)
    student = await visible_student(db, request.user, actor, student_id)
    day = _day(request, as_of)
    report = await rules.report_near(db, student.id, day) if day else None
    audit.record(db, actor, "student.truancy.read", "student", student.id, as_of=as_of, via="console_referral_form")
    open_case = (await case_repo.open_for_students(db, visible_cases(request.user), [student.id])).get(student.id)
    latest = (await referral_repo.latest_for_students(db, request.user, [student.id])).get(student.id)
    return page(
        request,
        "referral_form.html",
        status_code,
        student=student,
        report=report,
        open_case=open_case,
        latest=latest,
        rule_names=RULE_NAMES,
        referral_id=uuid.uuid4(),
        **({"as_of": as_of, "reason": "", "problem": None, "date_error": None, "ineligible": False} | context),
    )


@get("/referrals/new", opt=signed_in(Role.ATTENDANCE_COUNSELOR))
async def referral_form(
    request: AuthRequest, db: Db, student_id: FromQuery[str], as_of: FromQuery[str | None] = None
) -> Template:
    try:
        sid = uuid.UUID(student_id)
    except ValueError as exc:
        raise InvalidInput("Not a student id") from exc
    return await _form_page(request, db, sid, as_of or _today(request).isoformat())


@dataclass
class ReferralForm:
    id: str = ""
    student_id: str = ""
    as_of: str = ""
    reason: str = ""
    refer_anyway: str = ""


ReferralBody = Annotated[ReferralForm, Body(media_type=RequestEncodingType.URL_ENCODED)]


@post("/referrals", opt=signed_in(Role.ATTENDANCE_COUNSELOR), status_code=303)
async def refer(request: AuthRequest, db: Db, data: ReferralBody) -> Response[Any]:
    """A referral, as a plain form post: the same service as ``POST /referrals``. Made (or sent
    again with the same form), to the referral's page. Refused, the form again with the reason and
    nothing changed: a student outside the counselor's schools (404), a date that is not one, a form
    already used for another referral, and a student who is not eligible on that date unless the
    counselor asked to refer her anyway (the API keeps such a referral for a supervisor's override)."""
    try:
        referral_id, student_id = uuid.UUID(data.id), uuid.UUID(data.student_id)
    except ValueError as exc:
        raise InvalidInput("This form is not one the console gave out") from exc
    await visible_student(db, request.user, actor_of(request), student_id)  # 404 outside her schools
    reason = data.reason.strip()
    kept = {"as_of": data.as_of, "reason": data.reason}
    day = _day(request, data.as_of)
    if day is None:
        message = "That is not a date. Enter it as year-month-day, for example 2025-12-15."
        return await _form_page(request, db, student_id, status_code=400, date_error=message, **kept)
    if len(reason) > MAX_REASON or "\x00" in reason:
        message = f"Say why in at most {MAX_REASON} characters."
        return await _form_page(request, db, student_id, status_code=400, problem=message, **kept)
    body = ReferralIn(id=referral_id, student_id=student_id, reason=reason)
    try:
        referral, created = await referrals.create(db, request.user, actor_of(request), body, day)
    except DuplicateWithDifferentContent:
        await db.rollback()
        return await _form_page(request, db, student_id, status_code=409, problem=_USED, **kept)
    if created and referral.status == ReferralStatus.INELIGIBLE and not data.refer_anyway:
        reasons = list(referral.ineligible_reasons or [])
        await db.rollback()
        return await _form_page(
            request, db, student_id, status_code=409, ineligible=True, problem=None, reasons=reasons, **kept
        )
    return Redirect(f"{PATH}/referrals/{referral.id}", status_code=303)


@get("/referrals/{referral_id:uuid}", opt=signed_in(*REFERRAL_READERS))
async def referral_page(request: AuthRequest, db: Db, referral_id: FromPath[uuid.UUID]) -> Template:
    referral = await referral_repo.get(db, request.user, referral_id)
    if referral is None:
        raise NotFound("No such referral")
    audit.record(db, actor_of(request), "referral.read", "referral", referral.id, student_id=referral.student_id)
    student = (await students.many(db, {referral.student_id})).get(referral.student_id)
    names = {u.id: u.display_name for u in await users.list_users(db)}
    return page(request, "referral.html", referral=referral, student=student, names=names)


# --- unassigned referred cases and Assign ---------------------------------------------------------


@get("/cases/unassigned", opt=signed_in(*ASSIGNERS))
async def unassigned_cases(request: AuthRequest, db: Db, cursor: FromQuery[str | None] = None) -> Template:
    """The referred cases with no case manager that the caller may see (``GET /cases?status=referred
    &unassigned=true``), each with an Assign form."""
    after = decode_cursor(cursor) if cursor else None
    rows, more = await cases.page(
        db, request.user, limit=PAGE_SIZE, after=after, status=CaseStatus.REFERRED, unassigned=True
    )
    people = await listed_students(request, db, {c.id: c.student_id for c in rows}, "console_unassigned")
    next_cursor = encode_cursor(rows[-1].opened_at, rows[-1].id) if more and rows else None
    return page(
        request,
        "unassigned_cases.html",
        cases=rows,
        students=people,
        managers=await case_managers(db, request.user, active_only=True),
        next_cursor=next_cursor,
        paged=bool(cursor),
    )


@dataclass
class AssignForm:
    case_manager_id: str = ""


AssignBody = Annotated[AssignForm, Body(media_type=RequestEncodingType.URL_ENCODED)]


@post("/cases/{case_id:uuid}/assign", opt=signed_in(*ASSIGNERS), status_code=303)
async def assign_case(request: AuthRequest, db: Db, case_id: FromPath[uuid.UUID], data: AssignBody) -> Response[Any]:
    """Assign, as a plain form post: the same service as ``POST /cases/{id}/assign``. Done, to the
    case page; refused, a page saying why, nothing changed (another team's case: 404)."""
    if not data.case_manager_id:
        return page(request, "error.html", 400, title="Choose a case manager", message=_NO_CHOICE)
    try:
        manager = uuid.UUID(data.case_manager_id)
    except ValueError as exc:
        raise InvalidInput("This form is not one the console gave out") from exc
    try:
        await cases.assign(db, request.user, actor_of(request), case_id, manager)
    except Forbidden:
        await db.rollback()
        return page(request, "error.html", 403, title="Not your team", message=_NOT_TEAM)
    except InvalidTransition:
        await db.rollback()
        return page(request, "error.html", 409, title="Case closed", message=_CLOSED)
    return Redirect(f"{PATH}/cases/{case_id}", status_code=303)


_USED = "This form was already used for another referral, so nothing was referred. Check it and send it again."
_NO_CHOICE = "Nothing was assigned: choose the case manager to assign the case to, then press Assign."
_NOT_TEAM = "Nothing was assigned: you assign cases to the case managers of your own team."
_CLOSED = "Nothing was assigned: this case is closed. A new referral opens a new case."


HANDLERS = [truant_students, referral_form, refer, referral_page, unassigned_cases, assign_case]
