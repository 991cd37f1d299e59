"""Cases: the caller's caseload as a list, and a case page for every role that may see it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from litestar import Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from schemas.auth import Role
from schemas.cases import CaseDetail, CaseStatus, FollowUpKind, FollowUpOut
from schemas.casework import FACTORS, AssessmentOut, Factor, FactorCategory, MeetingPlace
from schemas.reports import MeetingOutcome
from schemas.rules import Rule
from server import clock
from server.auth import repository as users
from server.auth.guards import ALL_ROLES
from server.cases import service as cases
from server.console import letters as letter_pages
from server.console.charts import month_chart
from server.console.pages import PAGE_SIZE, choice, listed_students, page
from server.console.reports import CATEGORY_NAMES
from server.console.session import (
    PATH,
    signed_in,
)
from server.deps import AuthRequest, Db, actor_of
from server.letters import service as letter_service
from server.pagination import decode_cursor, encode_cursor
from server.reports import service as reports
from server.reports.repository import MeetingDeadline
from server.students import repository as students
from server.visits import repository as visit_repo
from server.visits import service as visits


@get("/", opt=signed_in(*ALL_ROLES))
async def home(request: AuthRequest) -> Template:
    return page(request, "home.html")


@get("/cases", opt=signed_in(*ALL_ROLES))
async def case_list(
    request: AuthRequest, db: Db, cursor: FromQuery[str | None] = None, status: FromQuery[str | None] = None
) -> Template:
    after = decode_cursor(cursor) if cursor else None
    chosen = choice(CaseStatus, status)  # the dashboard links each status's count here
    rows, more = await cases.page(db, request.user, limit=PAGE_SIZE, after=after, status=chosen)
    people = await listed_students(request, db, {c.id: c.student_id for c in rows}, "console_cases")
    next_cursor = encode_cursor(rows[-1].opened_at, rows[-1].id) if more and rows else None
    return page(
        request,
        "cases.html",
        cases=rows,
        students=people,
        next_cursor=next_cursor,
        paged=bool(cursor),
        status=chosen.value if chosen else "",
    )


@get("/cases/{case_id:uuid}", opt=signed_in(*ALL_ROLES))
async def case_page(request: AuthRequest, db: Db, case_id: FromPath[uuid.UUID]) -> Template:
    return await _case_page(request, db, case_id)


@post("/cases/{case_id:uuid}/letters", opt=signed_in(*letter_service.WRITERS), status_code=303)
async def make_letter(request: AuthRequest, db: Db, case_id: FromPath[uuid.UUID]) -> Response[Any]:
    """Make a letter from the case page (``letter_pages.make_letter``): made, back to the case's
    letters; refused, the case page again with the form's problems by their fields."""
    made = await letter_pages.make_letter(request, db, case_id)
    if made.refused:
        await db.rollback()
        return await _case_page(request, db, case_id, made.status_code, made)
    return Redirect(f"{PATH}/cases/{case_id}#letters", status_code=303)


async def _case_page(
    request: AuthRequest, db: Db, case_id: uuid.UUID, status_code: int = 200, made: letter_pages.Made | None = None
) -> Template:
    actor = actor_of(request)
    settings = request.app.state.settings
    detail = await cases.read(db, request.user, actor, case_id, settings)
    household = await students.household(db, detail.student.household_id)
    guardians = await students.guardians(db, detail.student.household_id)
    logs, _ = await visits.page(db, request.user, actor, visit_repo.Filters(case_id=case_id), limit=200, after=None)
    notes = await cases.notes(db, case_id)
    truancy = detail.truancy
    chart = None
    if truancy is not None and truancy.months:
        monthly = next((r.threshold for r in truancy.rules if r.rule is Rule.MONTHLY), None)
        chart = month_chart(truancy.months, monthly)
    today = clock.today(settings)
    required = [f.id for f in detail.follow_ups if f.kind is FollowUpKind.PARENT_MEETING and f.trigger_day]
    deadlines = await reports.meeting_deadlines(db, request.user, required, settings.time_zone)
    return page(
        request,
        "case.html",
        status_code,
        **await letter_pages.on_case(request, db, case_id, made),
        detail=detail,
        household=household,
        guardians=guardians,
        visit_logs=logs,
        notes=notes,
        chart=chart,
        names={u.id: u.display_name for u in await users.list_users(db)},
        may_assign=request.user.role in (Role.SUPERVISOR, Role.ADMIN),
        today=today,
        factor_groups=factor_groups,
        factor_label=lambda code: FACTORS[code][1],
        kind_names=KIND_NAMES,
        place_names=PLACE_NAMES,
        deadlines=deadlines,
        met=_meetings_met(detail, deadlines, today),
        open_follow_ups=[f for f in detail.follow_ups if f.completed_at is None],
        done_follow_ups=sorted(
            (f for f in detail.follow_ups if f.completed_at is not None), key=lambda f: f.completed_at, reverse=True
        ),
    )


KIND_NAMES = {
    FollowUpKind.PARENT_MEETING: "Parent meeting",
    FollowUpKind.FOLLOW_UP: "Follow-up",
    FollowUpKind.PHONE_CALL: "Phone call",
    FollowUpKind.HOME_VISIT: "Home visit",
    FollowUpKind.SCHOOL_MEETING: "School meeting",
}
PLACE_NAMES = {
    MeetingPlace.HOME: "at home",
    MeetingPlace.SCHOOL: "at school",
    MeetingPlace.PHONE: "by phone",
    MeetingPlace.VIDEO: "by video",
    MeetingPlace.OTHER: "elsewhere",
}


def factor_groups(assessment: AssessmentOut) -> list[tuple[str, list[Factor]]]:
    """An assessment's factors grouped by category, in the categories' order (``FACTORS``)."""
    named = set(assessment.factors)
    groups: dict[FactorCategory, list[Factor]] = {}
    for code, (category, _label) in FACTORS.items():
        if code in named:
            groups.setdefault(category, []).append(code)
    return [(CATEGORY_NAMES[c], codes) for c, codes in groups.items()]


@dataclass(frozen=True)
class Met:
    """The rules' meeting deadline a parent meeting completed, and whether it was in time."""

    follow_up: FollowUpOut
    deadline: MeetingDeadline
    outcome: MeetingOutcome


def _meetings_met(detail: CaseDetail, deadlines: dict[uuid.UUID, MeetingDeadline], today: date) -> dict[uuid.UUID, Met]:
    """By meeting id: the deadline it met (a meeting completes the rules' open meeting follow-ups at
    its ``held_at``, ``sync.casework.parent_meeting_record``)."""
    found = {}
    for meeting in detail.parent_meetings:
        for f in detail.follow_ups:
            deadline = deadlines.get(f.id)
            if deadline is not None and f.completed_at == meeting.held_at:
                found[meeting.id] = Met(f, deadline, reports.outcome(deadline, today))
                break
    return found


HANDLERS = [home, case_list, case_page, make_letter]
