"""Cases: the caller's caseload as a list, and a case page for every role that may see it."""

from __future__ import annotations

import uuid

from litestar import get
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from schemas.auth import Role
from schemas.cases import CaseStatus
from schemas.rules import Rule
from server.auth import repository as users
from server.auth.guards import ALL_ROLES
from server.cases import service as cases
from server.console.charts import month_chart
from server.console.pages import PAGE_SIZE, choice, listed_students, page
from server.console.session import (
    signed_in,
)
from server.deps import AuthRequest, Db, actor_of
from server.pagination import decode_cursor, encode_cursor
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
    actor = actor_of(request)
    detail = await cases.read(db, request.user, actor, case_id, request.app.state.settings)
    household = await students.household(db, detail.student.household_id)
    guardians = await students.guardians(db, detail.student.household_id)
    logs, _ = await visits.page(db, request.user, actor, visit_repo.Filters(case_id=case_id), limit=200, after=None)
    notes = await cases.notes(db, case_id)
    truancy = detail.truancy
    chart = None
    if truancy is not None and truancy.months:
        monthly = next((r.threshold for r in truancy.rules if r.rule is Rule.MONTHLY), None)
        chart = month_chart(truancy.months, monthly)
    return page(
        request,
        "case.html",
        detail=detail,
        household=household,
        guardians=guardians,
        visit_logs=logs,
        notes=notes,
        chart=chart,
        names={u.id: u.display_name for u in await users.list_users(db)},
        may_assign=request.user.role in (Role.SUPERVISOR, Role.ADMIN),
    )


HANDLERS = [home, case_list, case_page]
