"""Referral routes: counselors refer, supervisors override, staff read."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

import msgspec
from litestar import Response, Router, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from schemas.auth import Role
from schemas.cases import OverrideRequest, ReferralIn, ReferralOut, ReferralStatus, TruantPage
from server import audit, clock
from server.auth.guards import allow
from server.cases.models import Referral
from server.deps import AuthRequest, Config, Db, actor_of
from server.errors import NotFound
from server.referrals import repository as repo
from server.referrals import service, truant

READERS = allow(Role.ATTENDANCE_COUNSELOR, Role.SUPERVISOR, Role.OFFICE_STAFF, Role.ADMIN)


def _out(row: Referral) -> ReferralOut:
    return msgspec.convert(row, ReferralOut, from_attributes=True)


@post("/referrals", opt=allow(Role.ATTENDANCE_COUNSELOR))
async def create_referral(
    request: AuthRequest, db: Db, settings: Config, data: JSONBody[ReferralIn], as_of: FromQuery[date | None] = None
) -> Response[ReferralOut]:
    """201 for a new referral; 200 with the same answer when the same referral is sent again."""
    referral, created = await service.create(db, request.user, actor_of(request), data, as_of or clock.today(settings))
    return Response(_out(referral), status_code=201 if created else 200)


@post("/referrals/{referral_id:uuid}/override", opt=allow(Role.SUPERVISOR), status_code=200)
async def override_referral(
    request: AuthRequest, db: Db, referral_id: FromPath[uuid.UUID], data: JSONBody[OverrideRequest]
) -> ReferralOut:
    return _out(await service.override(db, request.user, actor_of(request), referral_id, data.note))


@get("/referrals", opt=READERS)
async def list_referrals(
    request: AuthRequest, db: Db, status: FromQuery[ReferralStatus | None] = None
) -> list[ReferralOut]:
    """The 200 most recent referrals the caller may see; each is a read of its student's record."""
    rows = await repo.recent(db, request.user, status)
    actor = actor_of(request)
    for row in rows:
        audit.record(db, actor, "referral.read", "referral", row.id, student_id=row.student_id, via="list")
    return [_out(r) for r in rows]


@get("/referrals/{referral_id:uuid}", opt=READERS)
async def read_referral(request: AuthRequest, db: Db, referral_id: FromPath[uuid.UUID]) -> ReferralOut:
    row = await repo.get(db, request.user, referral_id)
    if row is None:
        raise NotFound("No such referral")
    audit.record(db, actor_of(request), "referral.read", "referral", row.id, student_id=row.student_id)
    return _out(row)


@get("/truant-students", opt=allow(Role.ATTENDANCE_COUNSELOR, Role.ADMIN))
async def truant_students(
    request: AuthRequest,
    db: Db,
    settings: Config,
    as_of: FromQuery[date | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    cursor: FromQuery[str | None] = None,
) -> TruantPage:
    """The students at the counselor's schools (an admin: all) truant on ``as_of`` (default today),
    with why, and their latest referral and open case; keyset pages. Each listed student is audited."""
    after = truant.decode(cursor) if cursor else None
    day = as_of or clock.today(settings)
    return await truant.page(db, request.user, actor_of(request), day, limit=limit, after=after, via="truant_students")


router = Router(
    path="/", route_handlers=[create_referral, override_referral, list_referrals, read_referral, truant_students]
)
