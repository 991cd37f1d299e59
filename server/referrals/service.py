"""Referrals from attendance counselors: idempotent by the client's id, checked against the rules.

An eligible referral opens a case, or attaches to the student's open case. An ineligible one is
kept, with the reasons, until a supervisor overrides it with a note (or never).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cases import ReferralIn, ReferralStatus
from server import audit
from server.audit import Actor
from server.auth.service import Principal
from server.cases import repository as cases
from server.cases import service as case_service
from server.cases.models import Case, Referral
from server.errors import Conflict, DuplicateWithDifferentContent, NotFound
from server.referrals.eligibility import check
from server.referrals.repository import visible_referrals
from server.students.models import Student
from server.students.scope import visible_student


def content_hash(body: ReferralIn) -> str:
    return hashlib.sha256(f"{body.student_id}|{body.reason}".encode()).hexdigest()


async def create(
    session: AsyncSession, principal: Principal, actor: Actor, body: ReferralIn, as_of: date
) -> tuple[Referral, bool]:
    """Record a referral; returns it and whether it is new (False: a retry of the same one)."""
    digest = content_hash(body)
    existing = await session.scalar(select(Referral).where(Referral.id == body.id).with_for_update())
    if existing is not None:
        if existing.content_hash != digest or existing.counselor_id != principal.user_id:
            raise DuplicateWithDifferentContent(f"Referral {body.id} was already made with different content")
        return existing, False
    # A student of another school answers as no student (404, the refusal audited), as every read does.
    student = await visible_student(session, principal, actor, body.student_id)
    verdict = await check(session, student.id, as_of)
    referral = Referral(
        id=body.id,
        student_id=student.id,
        school_id=student.school_id,
        counselor_id=principal.user_id,
        reason=body.reason,
        status=ReferralStatus.ELIGIBLE if verdict.eligible else ReferralStatus.INELIGIBLE,
        ineligible_reasons=None if verdict.eligible else verdict.reasons,
        content_hash=digest,
    )
    session.add(referral)
    await session.flush()
    if verdict.eligible:
        referral.case_id = (await _open_or_attach(session, actor, student)).id
    audit.record(
        session, actor, "referral.create", "referral", referral.id, student_id=student.id, status=referral.status
    )
    return referral, True


async def override(
    session: AsyncSession, principal: Principal, actor: Actor, referral_id: uuid.UUID, note: str
) -> Referral:
    """A supervisor accepts an ineligible referral, with a note; it then opens or joins a case."""
    referral = await session.scalar(
        select(Referral).where(Referral.id == referral_id, visible_referrals(principal)).with_for_update()
    )
    if referral is None:
        raise NotFound("No such referral")
    if referral.status != ReferralStatus.INELIGIBLE:
        raise Conflict(f"Only an ineligible referral can be overridden (this one is {referral.status})")
    student = await session.get(Student, referral.student_id)
    assert student is not None
    referral.status = ReferralStatus.OVERRIDDEN
    referral.override_note = note
    referral.overridden_by = principal.user_id
    referral.version += 1
    referral.case_id = (await _open_or_attach(session, actor, student)).id
    audit.record(session, actor, "referral.override", "referral", referral.id, note=note)
    return referral


async def _open_or_attach(session: AsyncSession, actor: Actor, student: Student) -> Case:
    case = await cases.open_case_for_student(session, student.id)
    if case is not None:
        audit.record(session, actor, "case.referral_attached", "case", case.id)
        return case
    return await case_service.open_case(session, actor, student.id, student.school_id)
