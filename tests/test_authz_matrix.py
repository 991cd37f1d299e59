"""The authorization matrix: every route of the app × every role, and for a route that names a
record, the record of the caller's own caseload and one of another caseload.

The expectations are data (``MATRIX``), written out by hand rather than read from the routes'
declarations, so a changed declaration shows up here. The route table is walked from the app:
a route missing from the matrix (or a row whose route is gone) fails with its name.

- a role the row allows: not 401/403; for its own record also not 404;
- a role it does not allow: 403;
- another caseload's record: 404, as for a record that does not exist, unless the role sees
  that record anyway (office staff and admins see everything).

Each role's request runs in a savepoint rolled back after it, so one role's change (a case
reassigned, a conflict resolved, a device revoked) never decides another's answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from msgspec import to_builtins
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from schemas.auth import Role
from schemas.letters import DEFAULT_KINDS
from schemas.sync import SCHEMA_VERSION
from server.app import create_app
from server.auth import tokens
from server.auth.models import Device
from server.cases.models import FormPhoto, Referral, VisitLog, VisitNote
from server.letters.models import Letter, LetterBatch
from server.resources.models import Resource
from server.schools.models import SchoolYear
from server.settings import Settings
from server.sync.models import Conflict
from server.uploads.models import Upload
from tests import factories as f
from tests.conftest import PASSWORD, make_settings
from tests.helpers import device

USERS: dict[Role, str] = {
    Role.CASE_MANAGER: "cm1",  # sup1's team
    Role.SUPERVISOR: "sup1",
    Role.OFFICE_STAFF: "office1",
    Role.ATTENDANCE_COUNSELOR: "counselor1",  # works at the north school
    Role.ADMIN: "admin",
}
EVERYONE = frozenset(Role)
ALL_SEEING = frozenset({Role.OFFICE_STAFF, Role.ADMIN})
CM, SUP, OFFICE, COUNSELOR, ADMIN = (
    Role.CASE_MANAGER,
    Role.SUPERVISOR,
    Role.OFFICE_STAFF,
    Role.ATTENDANCE_COUNSELOR,
    Role.ADMIN,
)


@dataclass
class World:
    """One record of each kind in the callers' own caseload (north school, cm1 on sup1's team)
    and one in another (south school, cm5 on sup2's team)."""

    own: dict[str, uuid.UUID]
    other: dict[str, uuid.UUID]
    devices: dict[Role, uuid.UUID] = field(default_factory=dict)
    case_manager: uuid.UUID = field(default_factory=uuid.uuid4)


Body = Callable[[World, Role], Any]


@dataclass(frozen=True)
class Row:
    """What one route answers each role. ``roles=None``: a public route."""

    roles: frozenset[Role] | None
    record: str | None = None
    """The kind of record the path names, if any (a key of ``World.own``)."""
    other_seen_by: frozenset[Role] = ALL_SEEING
    """Roles for whom the other caseload's record is visible (and so allowed, not 404)."""
    scoped: bool = True
    """False for records no caseload owns (a school, a school year): only the role decides."""
    json: Body | None = None
    csv: bytes | None = None
    query: dict[str, str] = field(default_factory=dict)
    console: int | None = None
    """A console page (not a bearer route): what it answers every role's bearer token, since that is
    no console session (303 to the sign-in page; a form post without its CSRF token is 403). The
    session, its roles and its scope are tested in tests/test_console.py."""


def _transition(w: World, r: Role) -> dict[str, Any]:
    return {"status": "contacting"}


def _resolve(w: World, r: Role) -> dict[str, Any]:
    return {"choice": "theirs", "note": "matrix"}


def _decide(w: World, r: Role) -> dict[str, Any]:
    return {"decision_id": str(uuid.uuid4()), "decision": "return", "comment": "matrix", "expected_version": 2}


def _sync(w: World, r: Role) -> dict[str, Any]:
    return {"client_id": str(w.devices[r]), "schema_version": SCHEMA_VERSION, "mutations": []}


def _pull(w: World, r: Role) -> dict[str, Any]:
    return {"client_id": str(w.devices[r]), "schema_version": SCHEMA_VERSION}


PUBLIC_DOCS = Row(roles=None)
CASEWORKERS = frozenset({CM, SUP, ADMIN})
SYNCING = frozenset({CM, SUP, OFFICE, ADMIN})
IMPORTERS = frozenset({OFFICE, ADMIN})
RULE_READERS = frozenset({ADMIN, SUP, OFFICE})
REFERRAL_READERS = frozenset({COUNSELOR, SUP, OFFICE, ADMIN})
REVIEWERS = frozenset({OFFICE, SUP, ADMIN})

MATRIX: dict[str, Row] = {
    "GET /health": Row(roles=None),
    "GET /ready": Row(roles=None),
    "POST /auth/login": Row(roles=None),  # sent with the role's own credentials (see _request)
    "POST /auth/refresh": Row(roles=None),  # sent with the role's own refresh token
    "POST /auth/logout": Row(roles=EVERYONE, json=lambda w, r: {}),
    "GET /users/me": Row(roles=EVERYONE),
    "GET /users": Row(roles=frozenset({SUP, ADMIN})),
    "GET /devices": Row(roles=frozenset({SUP, ADMIN})),
    "POST /devices/{device_id}/revoke": Row(roles=frozenset({SUP, ADMIN}), record="device"),
    "GET /cases": Row(roles=EVERYONE),
    "GET /cases/{case_id}": Row(roles=EVERYONE, record="case"),
    "POST /cases/{case_id}/assign": Row(
        roles=frozenset({SUP, ADMIN}), record="case", json=lambda w, r: {"case_manager_id": str(w.case_manager)}
    ),
    "POST /cases/{case_id}/transition": Row(roles=CASEWORKERS, record="case", json=_transition),
    "POST /cases/{case_id}/service-referrals": Row(
        roles=CASEWORKERS, record="case", json=lambda w, r: {"resource": "Food bank", "referred_on": "2025-10-01"}
    ),
    "POST /cases/{case_id}/follow-ups": Row(
        roles=CASEWORKERS, record="case", json=lambda w, r: {"title": "Call back", "due_on": "2025-10-01"}
    ),
    "GET /form-photos/{photo_id}": Row(roles=EVERYONE, record="form_photo"),
    "GET /form-photos/{photo_id}/file": Row(roles=EVERYONE, record="form_photo"),
    "GET /form-photos/{photo_id}/thumbnail": Row(roles=EVERYONE, record="form_photo"),
    # tus: asked without Tus-Resumable, an allowed caller gets 412; an upload is its uploader's alone
    # (another user's is 404: tests/server_sync/test_tus.py), so here only the role decides.
    "POST /uploads": Row(roles=SYNCING),
    "HEAD /uploads/{upload_id}": Row(roles=SYNCING, record="upload", scoped=False),
    "PATCH /uploads/{upload_id}": Row(roles=SYNCING, record="upload", scoped=False),
    "DELETE /uploads/{upload_id}": Row(roles=SYNCING, record="upload", scoped=False),
    "GET /students": Row(roles=EVERYONE, query={"student_number": "T0000000"}),
    "GET /students/{student_id}": Row(roles=EVERYONE, record="student"),
    "GET /students/{student_id}/truancy": Row(roles=EVERYONE, record="student"),
    "GET /conflicts": Row(roles=REVIEWERS),
    "GET /conflicts/{conflict_id}": Row(roles=REVIEWERS, record="conflict"),
    "POST /conflicts/{conflict_id}/resolve": Row(roles=frozenset({OFFICE, ADMIN}), record="conflict", json=_resolve),
    "GET /referrals": Row(roles=REFERRAL_READERS),
    "POST /referrals": Row(
        roles=frozenset({COUNSELOR}),
        json=lambda w, r: {"id": str(uuid.uuid4()), "student_id": str(w.own["student"]), "reason": "matrix"},
    ),
    "GET /referrals/{referral_id}": Row(roles=REFERRAL_READERS, record="referral"),
    "GET /truant-students": Row(roles=frozenset({COUNSELOR, ADMIN})),
    "POST /referrals/{referral_id}/override": Row(
        roles=frozenset({SUP}), record="referral", json=lambda w, r: {"note": "matrix"}
    ),
    "POST /sync/push": Row(roles=SYNCING, json=_sync),
    "POST /sync/pull": Row(roles=SYNCING, json=_pull),
    "GET /school-years": Row(roles=RULE_READERS),
    "GET /school-years/{school_year_id}/rules": Row(roles=RULE_READERS, record="school_year", scoped=False),
    "PUT /school-years/{school_year_id}/rules": Row(
        roles=frozenset({ADMIN}), record="school_year", scoped=False, json=lambda w, r: {"note": "matrix"}
    ),
    "GET /school-years/{school_year_id}/rules/versions": Row(roles=RULE_READERS, record="school_year", scoped=False),
    "GET /parent-meetings/overdue": Row(roles=frozenset({ADMIN, SUP, OFFICE, CM})),
    "GET /dashboard": Row(roles=REVIEWERS),
    "GET /reports": Row(roles=REVIEWERS, query={"from": "2025-09-01", "to": "2026-06-30"}),
    "GET /visit-logs": Row(roles=EVERYONE, query={"flagged": "true"}),
    "GET /visit-logs/{visit_log_id}": Row(roles=EVERYONE, record="visit_log"),
    "GET /visits": Row(roles=EVERYONE, query={"status": "submitted"}),
    "GET /visits/{visit_id}": Row(roles=EVERYONE, record="visit"),
    # the visit's case manager's supervisor (sup1 for cm1's visit) or an admin; another team's: 404
    "POST /visits/{visit_id}/decisions": Row(roles=frozenset({SUP, ADMIN}), record="visit", json=_decide),
    "POST /rosters/imports": Row(roles=IMPORTERS, csv=b"student_number\n"),
    "POST /calendars/imports": Row(roles=IMPORTERS, csv=b"school_code\n"),
    "POST /attendance/imports": Row(roles=IMPORTERS, csv=b"student_number\n"),
    "GET /schools/{school_id}/calendar": Row(roles=EVERYONE, record="school", scoped=False),
    "GET /audit": Row(roles=frozenset({ADMIN})),
    # the district's directory of resources: no caseload owns it, everyone reads it, the office writes it
    "GET /assessment-factors": Row(roles=EVERYONE),
    "GET /resources": Row(roles=EVERYONE, query={"active": "true"}),
    "POST /resources": Row(roles=IMPORTERS, json=lambda w, r: {"name": f"Matrix pantry {r}"}),
    "PUT /resources/{resource_id}": Row(
        roles=IMPORTERS, record="resource", scoped=False, json=lambda w, r: {"name": "Matrix pantry", "active": False}
    ),
    "POST /resources/imports": Row(roles=IMPORTERS, csv=b"name\n"),
    # family letters: seen through the case's scope; the office prints, mails and takes them back
    "POST /cases/{case_id}/letters": Row(
        roles=frozenset({CM, SUP, OFFICE, ADMIN}), record="case", json=lambda w, r: _letter()
    ),
    "GET /cases/{case_id}/letters": Row(roles=EVERYONE, record="case"),
    "GET /letters/{letter_id}": Row(roles=EVERYONE, record="letter"),
    "GET /letters/{letter_id}/pdf": Row(roles=EVERYONE, record="letter"),
    "POST /letters/{letter_id}/mailed": Row(roles=IMPORTERS, record="letter", json=lambda w, r: {}),
    "POST /letters/{letter_id}/returned": Row(roles=IMPORTERS, record="letter", json=lambda w, r: {}),
    "DELETE /households/{household_id}/address-flag": Row(roles=IMPORTERS, record="household"),
    "GET /letter-kinds": Row(roles=EVERYONE, query={"as_of": "2025-10-01"}),
    "PUT /letter-kinds/{school_year_id}": Row(
        roles=frozenset({ADMIN}), record="school_year", scoped=False, json=lambda w, r: to_builtins(DEFAULT_KINDS)
    ),
    "POST /letter-batches": Row(
        roles=IMPORTERS, json=lambda w, r: {"id": str(uuid.uuid4()), "as_of": "2025-10-01", "kinds": ["custom"]}
    ),
    "GET /letter-batches/{batch_id}": Row(roles=IMPORTERS, record="letter_batch", scoped=False),
    "GET /letter-batches/{batch_id}/pdf": Row(roles=IMPORTERS, record="letter_batch", scoped=False),
    "POST /letter-batches/{batch_id}/mailed": Row(
        roles=IMPORTERS, record="letter_batch", scoped=False, json=lambda w, r: {}
    ),
    # The console: a session cookie, never a bearer token (tests/test_console.py)
    "GET /console": Row(roles=None, console=303),
    "GET /console/sign-in": Row(roles=None, console=200),
    "POST /console/sign-in": Row(roles=None, console=403),
    "POST /console/sign-out": Row(roles=None, console=303),  # no session: to sign-in, before CSRF
    "GET /console/cases": Row(roles=None, console=303),
    "GET /console/cases/{case_id}": Row(roles=None, console=303, record="case", scoped=False),
    "GET /console/approvals": Row(roles=None, console=303),
    "GET /console/visits/{visit_id}": Row(roles=None, console=303, record="visit", scoped=False),
    "POST /console/visits/{visit_id}/decisions": Row(roles=None, console=303, record="visit", scoped=False),
    "GET /console/form-photos/{photo_id}/thumbnail": Row(roles=None, console=303, record="form_photo", scoped=False),
    "GET /console/conflicts": Row(roles=None, console=303),
    "GET /console/conflicts/{conflict_id}": Row(roles=None, console=303, record="conflict", scoped=False),
    "POST /console/conflicts/{conflict_id}/resolve": Row(roles=None, console=303, record="conflict", scoped=False),
    "GET /console/imports": Row(roles=None, console=303),
    "POST /console/imports/{kind}": Row(roles=None, console=303),
    "GET /console/truant-students": Row(roles=None, console=303),
    "GET /console/referrals/new": Row(roles=None, console=303),
    "POST /console/referrals": Row(roles=None, console=303),
    "GET /console/referrals/{referral_id}": Row(roles=None, console=303, record="referral", scoped=False),
    "GET /console/cases/unassigned": Row(roles=None, console=303),
    "POST /console/cases/{case_id}/assign": Row(roles=None, console=303, record="case", scoped=False),
    "GET /console/dashboard": Row(roles=None, console=303),
    "GET /console/dashboard/overdue-meetings": Row(roles=None, console=303),
    "GET /console/reports": Row(roles=None, console=303),
    "GET /console/resources": Row(roles=None, console=303),
    "GET /console/resources/new": Row(roles=None, console=303),
    "POST /console/resources": Row(roles=None, console=303),
    "POST /console/resources/import": Row(roles=None, console=303),
    "GET /console/resources/{resource_id}": Row(roles=None, console=303, record="resource", scoped=False),
    "POST /console/resources/{resource_id}": Row(roles=None, console=303, record="resource", scoped=False),
    "GET /console/letters": Row(roles=None, console=303),
    "POST /console/letters/batches": Row(roles=None, console=303),
    "GET /console/letters/batches/{batch_id}": Row(roles=None, console=303, record="letter_batch", scoped=False),
    "GET /console/letters/batches/{batch_id}/pdf": Row(roles=None, console=303, record="letter_batch", scoped=False),
    "POST /console/letters/batches/{batch_id}/mailed": Row(
        roles=None, console=303, record="letter_batch", scoped=False
    ),
    "GET /console/letters/{letter_id}/pdf": Row(roles=None, console=303, record="letter", scoped=False),
    "POST /console/letters/{letter_id}/mailed": Row(roles=None, console=303, record="letter", scoped=False),
    "POST /console/letters/{letter_id}/returned": Row(roles=None, console=303, record="letter", scoped=False),
    "POST /console/letters/households/{household_id}/address-checked": Row(
        roles=None, console=303, record="household", scoped=False
    ),
    "POST /console/cases/{case_id}/letters": Row(roles=None, console=303, record="case", scoped=False),
    "GET /console/static/{file_path}": Row(roles=None),
    "HEAD /console/static/{file_path}": Row(roles=None),
    # The field app's shell (public: static files, no data; the app signs in like any phone)
    "GET /app": Row(roles=None),
    "GET /app/{file_path}": Row(roles=None),
    "HEAD /app/{file_path}": Row(roles=None),
    # The documentation (public: the schema is no secret)
    "GET /schema": PUBLIC_DOCS,
    "GET /schema/openapi.json": PUBLIC_DOCS,
    "GET /schema/oauth2-redirect.html": PUBLIC_DOCS,
    "GET /schema/{path}": PUBLIC_DOCS,
    "GET /schema/assets/{file_path}": PUBLIC_DOCS,
    "HEAD /schema/assets/{file_path}": PUBLIC_DOCS,
}

KNOWN_DEVIATIONS: dict[tuple[str, Role, str], tuple[int, str]] = {
    # (route, role, "own" | "other"): (the status it answers today, why; who fixes it)
}


def app_routes(app: Litestar) -> set[str]:
    found = set()
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                found |= {f"{method} {route.path_format}" for method in handler.http_methods if method != "OPTIONS"}
    return found


ROUTES = sorted(app_routes(create_app(make_settings())) | set(MATRIX))


def test_the_matrix_has_a_row_for_every_route_of_the_app(app: Litestar) -> None:
    assert sorted(app_routes(app) - set(MATRIX)) == [], "add these routes to MATRIX"
    assert sorted(set(MATRIX) - app_routes(app)) == [], "these rows name no route any more"


async def _token(db: AsyncSession, settings: Settings, username: str) -> tuple[uuid.UUID, str]:
    """A device and an access token for ``username``, made directly (no password hashing)."""
    user_id = await f.user_id(db, username)
    phone = uuid.uuid4()
    db.add(Device(id=phone, user_id=user_id, name="matrix", platform="test", app_version="1"))
    await db.flush()
    claims = tokens.new_claims("access", user_id, phone, 0, settings.access_token_seconds)
    return phone, tokens.encode(settings.jwt_secret, claims)


async def _conflict(db: AsyncSession, case_id: uuid.UUID, author: uuid.UUID) -> uuid.UUID:
    note = VisitNote(id=uuid.uuid4(), case_id=case_id, author_id=author, body="server text", status="draft")
    db.add(note)
    await db.flush()
    row = Conflict(
        id=uuid.uuid4(),
        record_type="visit_note",
        record_id=note.id,
        kind="keep_both",
        author_id=author,
        base={"body": "base"},
        mine={"body": "device text"},
        theirs={"body": "server text"},
    )
    db.add(row)
    await db.flush()
    return row.id


async def _photo(db: AsyncSession, case_id: uuid.UUID) -> uuid.UUID:
    row = FormPhoto(
        id=uuid.uuid4(),
        case_id=case_id,
        form_type="consent",
        sha256="0" * 64,
        size=1,
        content_type="image/jpeg",
        taken_at=datetime.now(UTC),
        upload_status="pending",
    )
    db.add(row)
    await db.flush()
    return row.id


async def _upload(db: AsyncSession, user_id: uuid.UUID) -> uuid.UUID:
    row = Upload(
        id=uuid.uuid4(),
        form_photo_id=uuid.uuid4(),
        user_id=user_id,
        length=10,
        metadata_={},
        parts=[],
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    db.add(row)
    await db.flush()
    return row.id


async def _visit_log(db: AsyncSession, case_id: uuid.UUID, author: uuid.UUID) -> uuid.UUID:
    row = VisitLog(
        id=uuid.uuid4(),
        case_id=case_id,
        created_by=author,
        status="open",
        checked_in_at=datetime.now(UTC),
        flags=["location_missing"],
    )
    db.add(row)
    await db.flush()
    return row.id


async def _visit(db: AsyncSession, case_id: uuid.UUID, author: uuid.UUID) -> uuid.UUID:
    """A visit in review: a visit log with its submitted note (at version 2)."""
    visit_id = await _visit_log(db, case_id, author)
    note = VisitNote(
        id=uuid.uuid4(),
        case_id=case_id,
        author_id=author,
        body="at the door",
        status="submitted",
        submitted_at=datetime.now(UTC),
        visit_log_id=visit_id,
        version=2,
    )
    db.add(note)
    await db.flush()
    return visit_id


async def _referral(
    db: AsyncSession, student_id: uuid.UUID, school_id: uuid.UUID, counselor: uuid.UUID, case_id: uuid.UUID | None
) -> uuid.UUID:
    row = Referral(
        id=uuid.uuid4(),
        student_id=student_id,
        school_id=school_id,
        counselor_id=counselor,
        reason="matrix",
        status="ineligible" if case_id is None else "eligible",
        ineligible_reasons=None if case_id else ["not truant"],
        content_hash="0" * 64,
        case_id=case_id,
    )
    db.add(row)
    await db.flush()
    return row.id


async def _resource(db: AsyncSession) -> uuid.UUID:
    row = Resource(id=uuid.uuid4(), name="Matrix food pantry", factors=["food_insecurity"], languages=["en"])
    db.add(row)
    await db.flush()
    return row.id


def _letter() -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "kind": "attendance_notice"}


async def _letter_row(db: AsyncSession, case_id: uuid.UUID, student_id: uuid.UUID) -> uuid.UUID:
    """A letter made (``ready``) under the case, with no words kept: its PDF answers 409."""
    row = Letter(id=uuid.uuid4(), case_id=case_id, student_id=student_id, kind="attendance_notice", status="ready")
    db.add(row)
    await db.flush()
    return row.id


def _household(student: Any) -> uuid.UUID:
    assert student.household_id is not None
    household: uuid.UUID = student.household_id
    return household


async def _batch(db: AsyncSession) -> uuid.UUID:
    row = LetterBatch(id=uuid.uuid4(), as_of=date(2025, 10, 1), status="queued")
    db.add(row)
    await db.flush()
    return row.id


async def build_world(db: AsyncSession, settings: Settings) -> tuple[World, dict[Role, str]]:
    north, south = await f.school(db, "North"), await f.school(db, "South")
    await f.counselor_at(db, "counselor1", north)
    await f.counselor_at(db, "counselor2", south)
    cm1, cm2, cm5 = [await f.user_id(db, u) for u in ("cm1", "cm2", "cm5")]
    counselor1, counselor2 = await f.user_id(db, "counselor1"), await f.user_id(db, "counselor2")
    kid_a, kid_b = await f.student(db, north), await f.student(db, south)
    case_a, case_b = await f.case(db, kid_a, manager=cm1), await f.case(db, kid_b, manager=cm5)
    year = SchoolYear(id=uuid.uuid4(), name="2025-2026", starts_on=date(2025, 7, 1), ends_on=date(2026, 6, 30))
    db.add(year)
    devices_a = Device(id=uuid.uuid4(), user_id=cm1, last_seen_at=datetime.now(UTC))
    devices_b = Device(id=uuid.uuid4(), user_id=cm5, last_seen_at=datetime.now(UTC))
    db.add_all([devices_a, devices_b])
    await db.flush()
    w = World(
        own={
            "case": case_a.id,
            "student": kid_a.id,
            "conflict": await _conflict(db, case_a.id, cm1),
            "form_photo": await _photo(db, case_a.id),
            "visit_log": await _visit_log(db, case_a.id, cm1),
            "visit": await _visit(db, case_a.id, cm1),
            "referral": await _referral(db, kid_a.id, north.id, counselor1, None),
            "device": devices_a.id,
            "school_year": year.id,
            "school": north.id,
            "upload": await _upload(db, cm1),
            "resource": await _resource(db),
            "letter": await _letter_row(db, case_a.id, kid_a.id),
            "letter_batch": await _batch(db),
            "household": _household(kid_a),
        },
        other={
            "case": case_b.id,
            "student": kid_b.id,
            "conflict": await _conflict(db, case_b.id, cm5),
            "form_photo": await _photo(db, case_b.id),
            "visit_log": await _visit_log(db, case_b.id, cm5),
            "visit": await _visit(db, case_b.id, cm5),
            "referral": await _referral(db, kid_b.id, south.id, counselor2, case_b.id),
            "device": devices_b.id,
            "letter": await _letter_row(db, case_b.id, kid_b.id),
            "household": _household(kid_b),
        },
        case_manager=cm2,  # on sup1's team
    )
    bearers = {}
    for role, username in USERS.items():
        w.devices[role], bearers[role] = await _token(db, settings, username)
    await db.commit()
    return w, bearers


async def _request(
    client: httpx.AsyncClient, route: str, row: Row, w: World, role: Role, bearer: str, record: uuid.UUID | None
) -> httpx.Response:
    method, template = route.split(" ")
    path = template
    if "{" in template:
        name = template[template.index("{") : template.index("}") + 1]
        path = template.replace(name, str(record) if record else "openapi.json")
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    if route == "POST /auth/login":
        body = {"username": USERS[role], "password": PASSWORD, "device": device(uuid.uuid4())}
        return await client.post(path, json=body)
    if route == "POST /auth/refresh":
        login = {"username": USERS[role], "password": PASSWORD, "device": device(uuid.uuid4())}
        pair = (await client.post("/auth/login", json=login)).json()
        return await client.post(path, json={"refresh_token": pair["refresh_token"]})
    if row.csv is not None:
        headers["Content-Type"] = "text/csv"
        return await client.request(method, path, content=row.csv, headers=headers, params=row.query)
    json = row.json(w, role) if row.json else None
    return await client.request(method, path, json=json, headers=headers, params=row.query)


def _expected(row: Row, role: Role, which: str) -> str:
    if row.roles is not None and role not in row.roles:
        return "403"
    if row.record is None or not row.scoped:
        return "allowed"
    if which == "own" or role in row.other_seen_by:
        return "visible"
    return "404"


def _meets(expected: str, status: int) -> bool:
    match expected:
        case "403" | "404":
            return status == int(expected)
        case "allowed":
            return status not in (401, 403) and status < 500
        case _:  # visible
            return status not in (401, 403, 404) and status < 500


@pytest.mark.parametrize("route", ROUTES)
async def test_authorization_matrix(
    route: str, client: httpx.AsyncClient, connection: AsyncConnection, db: AsyncSession, settings: Settings
) -> None:
    row = MATRIX.get(route)
    if row is None:
        pytest.fail(f"{route} is in the app but not in the authorization matrix: add its row to MATRIX")
    if row.console is not None:  # asked with each role's bearer token, which opens no console page
        w, bearers = await build_world(db, settings)
    elif row.roles is None:  # public: asked without a token (login and refresh with the role's own credentials)
        w, bearers = World(own={}, other={}), dict.fromkeys(Role, "")
    else:
        w, bearers = await build_world(db, settings)
    cases = ["own", "other"] if row.record is not None and row.scoped else ["own"]
    wrong = []
    for role in Role:
        for which in cases:
            record = (w.own if which == "own" else w.other).get(row.record or "")
            savepoint = await connection.begin_nested()
            try:
                response = await _request(client, route, row, w, role, bearers[role], record)
            finally:
                await savepoint.rollback()
            if row.console is not None:
                if response.status_code != row.console:
                    wrong.append(f"{role}: a bearer token got {response.status_code}, not {row.console}")
                continue
            expected = _expected(row, role, which)
            known = KNOWN_DEVIATIONS.get((route, role, which))
            if known is not None:
                if response.status_code != known[0]:
                    wrong.append(f"{role} {which}: known deviation is gone ({response.status_code}): drop it")
                continue
            if not _meets(expected, response.status_code):
                wrong.append(f"{role} {which}: expected {expected}, got {response.status_code} {response.text[:160]}")
    assert wrong == [], f"{route}:\n" + "\n".join(wrong)
