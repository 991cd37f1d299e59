"""Truant students to refer: the students a counselor may see (her schools'; an admin's, all) who are
truant on a date, each with why (the rules engine's answer, the one a referral's eligibility reads),
and whether she was referred already or has an open case.

Each student on a page is an access to her record: one ``student.listed`` row each, ``via`` the door
that showed her (the API's list or the console's page)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cases import CaseStatus, ReferralStatus, StudentSummary, TruantPage, TruantStudent
from server import audit
from server.audit import Actor
from server.auth.service import Principal
from server.cases import repository as cases
from server.cases.scope import visible_cases
from server.pagination import decode_cursor, encode_cursor
from server.referrals import repository as repo
from server.rules import service as rules
from server.students import repository as students
from server.students.scope import visible_students


def decode(cursor: str) -> tuple[date, uuid.UUID]:
    """A ``next_cursor`` of this list: the day a student became truant and her id."""
    at, student_id = decode_cursor(cursor)
    return at.date(), student_id


def _encode(day: date, student_id: uuid.UUID) -> str:
    return encode_cursor(datetime.combine(day, time.min), student_id)


async def page(
    session: AsyncSession,
    principal: Principal,
    actor: Actor,
    as_of: date,
    *,
    limit: int,
    after: tuple[date, uuid.UUID] | None = None,
    via: str,
) -> TruantPage:
    """Up to ``limit`` truant students the principal may see, those truant longest first (by the day
    each became truant, then id), and the cursor of the next page (``None`` on the last). Raises
    OutsideSchoolYear when no school year starts on or before ``as_of``."""
    found, more = await rules.truant_students(session, visible_students(principal), as_of, limit=limit, after=after)
    ids = [t.student_id for t in found]
    people = await students.many(session, set(ids))
    open_cases = await cases.open_for_students(session, visible_cases(principal), ids)
    referrals = await repo.latest_for_students(session, principal, ids)
    items = []
    for truancy in found:
        sid = truancy.student_id
        audit.record(session, actor, "student.listed", "student", sid, via=via, as_of=truancy.as_of.isoformat())
        case, referral = open_cases.get(sid), referrals.get(sid)
        items.append(
            TruantStudent(
                student=msgspec.convert(people[sid], StudentSummary, from_attributes=True),
                truancy=truancy,
                case_id=case.id if case else None,
                case_status=CaseStatus(case.status) if case else None,
                referral_id=referral.id if referral else None,
                referral_status=ReferralStatus(referral.status) if referral else None,
                referred_at=referral.created_at if referral else None,
            )
        )
    last = found[-1] if found else None
    cursor = _encode(last.became_truant_on, last.student_id) if more and last else None
    return TruantPage(items=items, next_cursor=cursor)
