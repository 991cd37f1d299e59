"""Visit records in review: the supervisor's queue, the whole record, decisions, turnaround.

A visit record is a visit log with its note, addenda, photos and flags; it reaches the queue when
its note is submitted (``visit_note.submit`` of a note whose ``visit_log_id`` is set), and its id
is the visit log's. Who sees one is ``server.scope.visits``; who decides, ``decidable_visits``.
Every function takes the session and the principal (and the audit actor) and answers msgspec
structs, so the API and the console call the same ones. They flush; the request edge commits.

Reads name the student in the audit log: a listing one row per student shown
(``student.listed``, ``detail.via`` ``visits``), a read ``visit.read``, a refused read
``visit.read_refused``, a refused decision ``visit.decide_refused`` (both answered as a missing
visit is), a decision ``visit.decide`` and its replay ``visit.decide_replayed``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import and_
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cases import FormPhotoOut
from schemas.visits import (
    DecisionIn,
    ReviewDecision,
    SupervisorTurnaround,
    VisitOut,
    VisitPage,
    VisitState,
    VisitSummary,
)
from server import audit, scope
from server.audit import Actor
from server.auth.service import Principal
from server.cases.models import VisitLog, VisitNote
from server.errors import DuplicateWithDifferentContent, InvalidInput, NotAwaitingDecision, StaleVersion
from server.pagination import encode_cursor
from server.visits import repository as repo
from server.visits.models import VisitDecision
from sync import review
from sync.flags import MATCH_RADIUS_M
from sync.policies import Rejected


def _state(visit: VisitLog, note: VisitNote) -> VisitState:
    return msgspec.convert(
        {
            "id": visit.id,
            "case_id": visit.case_id,
            "case_manager_id": visit.created_by,
            "status": note.status,
            "version": note.version,
            "review_status": note.review_status,
            "review_comment": note.review_comment,
            "reviewed_by": note.reviewed_by,
            "reviewed_at": note.reviewed_at,
        },
        VisitState,
        from_attributes=True,
    )


def _summary(row: repo.VisitRow) -> VisitSummary:
    visit, note = row.visit, row.note
    return msgspec.convert(
        {
            "id": visit.id,
            "case_id": visit.case_id,
            "student_id": row.student_id,
            "case_manager_id": visit.created_by,
            "status": note.status,
            "version": note.version,
            "submitted_at": note.submitted_at,
            "checked_in_at": visit.checked_in_at,
            "flags": visit.flags,
            "distance_m": visit.distance_m,
            "accuracy_m": visit.accuracy_m,
            "review_status": note.review_status,
            "reviewed_at": note.reviewed_at,
        },
        VisitSummary,
        from_attributes=True,
    )


async def page(
    session: AsyncSession,
    principal: Principal,
    actor: Actor,
    filters: repo.QueueFilters,
    *,
    limit: int = 50,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> VisitPage:
    """Up to ``limit`` visits in review that the principal may see, oldest submission first, and
    the cursor of the next page (``None`` on the last)."""
    rows = await repo.visit_page(session, scope.visits(scope.Reader.of(principal)), filters, limit=limit, after=after)
    shown = rows[:limit]
    by_student: dict[uuid.UUID, list[str]] = {}
    for row in shown:
        by_student.setdefault(row.student_id, []).append(str(row.visit.id))
    for student_id, visits in by_student.items():
        audit.record(session, actor, "student.listed", "student", student_id, via="visits", visit_ids=visits)
    more = len(rows) > limit
    cursor = encode_cursor(shown[-1].queued_at, shown[-1].visit.id) if more else None
    return VisitPage(items=[_summary(row) for row in shown], next_cursor=cursor)


async def read(session: AsyncSession, principal: Principal, actor: Actor, visit_id: uuid.UUID) -> VisitOut:
    """The whole visit record, if the principal may see it; otherwise 404 (as for none, or for a
    visit log whose note was never submitted), and the refusal kept."""
    found = await repo.visit(session, visit_id, scope.visits(scope.Reader.of(principal)))
    if found is None:
        await audit.refuse_read(session, actor, "visit", visit_id, student_id=await repo.student_of(session, visit_id))
    visit, note = found.visit, found.note
    addenda = await repo.addenda(session, note.id)
    photos = await repo.photos(session, visit.id)
    decisions = await repo.decisions(session, visit.id)
    audit.record(
        session, actor, "visit.read", "visit", visit.id, student_id=found.student_id, case_id=str(visit.case_id)
    )
    return msgspec.convert(
        {
            "id": visit.id,
            "case_id": visit.case_id,
            "student_id": found.student_id,
            "case_manager_id": visit.created_by,
            "status": note.status,
            "version": note.version,
            "note": note,
            "addenda": addenda,
            "photos": [msgspec.convert(p, FormPhotoOut, from_attributes=True) for p in photos],
            "flags": visit.flags,
            "checked_in_at": visit.checked_in_at,
            "checked_out_at": visit.checked_out_at,
            "outcome": visit.outcome,
            "distance_m": visit.distance_m,
            "accuracy_m": visit.accuracy_m,
            "radius_m": MATCH_RADIUS_M,
            "truancy": visit.truancy,
            "decisions": [
                {
                    "id": d.id,
                    "decision": d.decision,
                    "comment": d.comment,
                    "decided_by": d.decided_by,
                    "decided_at": d.decided_at,
                    "submitted_at": d.submitted_at,
                }
                for d in decisions
            ],
        },
        VisitOut,
        from_attributes=True,
    )


def _check(body: DecisionIn) -> None:
    if body.decision is ReviewDecision.RETURN and not (body.comment or "").strip():
        message = "A return needs a comment that says what to change"
        raise InvalidInput(
            f"{message} - at `$.comment`", errors=[{"message": message, "key": "comment", "source": "body"}]
        )


def _same(stored: VisitDecision, visit_id: uuid.UUID, body: DecisionIn, principal: Principal) -> bool:
    return (stored.visit_log_id, stored.decided_by, stored.decision, stored.comment, stored.expected_version) == (
        visit_id,
        principal.user_id,
        body.decision.value,
        body.comment,
        body.expected_version,
    )


async def decide(
    session: AsyncSession, principal: Principal, actor: Actor, visit_id: uuid.UUID, body: DecisionIn
) -> VisitState:
    """Approve or return a submitted visit, as the case manager's supervisor (or an admin).

    In order: a return without a comment is 400 ``malformed`` (``comment``); a visit the principal
    may not decide on is 404, as for none; a ``decision_id`` used before answers that decision's
    body again if this is the same decision, else 409 ``duplicate_id``; a stale
    ``expected_version`` is 409 ``stale_version`` with ``current``; a note not awaiting a decision
    is 409 ``invalid_transition``. Otherwise the note moves (its version goes up, so the case
    manager's phone gets the review on its next pull) and the decision is kept."""
    _check(body)
    reader = scope.Reader.of(principal)
    found = await repo.visit(session, visit_id, and_(scope.visits(reader), scope.decidable_visits(reader)))
    if found is None:
        student_id = await repo.student_of(session, visit_id)
        await audit.refuse_read(session, actor, "visit", visit_id, student_id=student_id, verb="decide")
    visit = found.visit
    note = await repo.lock_note(session, found.note.id)
    stored = await repo.decision(session, body.decision_id)
    if stored is not None:
        if not _same(stored, visit_id, body, principal):
            raise DuplicateWithDifferentContent(f"Decision {body.decision_id} was already taken with another body")
        audit.record(
            session,
            actor,
            "visit.decide_replayed",
            "visit",
            visit.id,
            student_id=found.student_id,
            decision_id=str(stored.id),
        )
        return msgspec.convert(stored.response, VisitState)
    current = _state(visit, note)
    if note.version != body.expected_version:
        raise StaleVersion(
            f"The visit is at version {note.version}, not {body.expected_version}: read it again",
            current=msgspec.to_builtins(current),
        )
    now = await repo.database_now(session)
    try:
        review_fields = review.decide(note.status, body.decision, body.comment, principal.user_id, now)
    except Rejected as exc:
        raise NotAwaitingDecision(exc.detail, current=msgspec.to_builtins(current)) from exc
    submitted_at = note.submitted_at
    note.status = review_fields["status"]
    note.review_status = review_fields["review_status"]
    note.review_comment = review_fields["review_comment"]
    note.reviewed_by = principal.user_id
    note.reviewed_at = now
    note.version += 1
    state = _state(visit, note)
    row: dict[str, Any] = {
        "id": body.decision_id,
        "visit_log_id": visit.id,
        "note_id": note.id,
        "decided_by": principal.user_id,
        "decision": body.decision.value,
        "comment": body.comment,
        "expected_version": body.expected_version,
        "submitted_at": submitted_at,
        "decided_at": now,
        "response": msgspec.to_builtins(state),
    }
    if not await repo.add_decision(session, row):  # the id was taken by a request that ran meanwhile
        raise DuplicateWithDifferentContent(f"Decision {body.decision_id} was already taken with another body")
    detail = {"decision": body.decision.value, "decision_id": str(body.decision_id), "note_id": str(note.id)}
    audit.record(session, actor, "visit.decide", "visit", visit.id, student_id=found.student_id, **detail)
    await session.flush()
    return state


async def turnaround(
    session: AsyncSession, principal: Principal, *, since: datetime | None = None, until: datetime | None = None
) -> list[SupervisorTurnaround]:
    """How fast visits are decided: per reviewer, from the note's submission to the decision, over
    the decisions on visits the principal may see (a supervisor: her team's), decided in
    [``since``, ``until``). A return and the approval after the resubmission count apart."""
    rows = await repo.turnaround(session, scope.visit_decisions(scope.Reader.of(principal)), since=since, until=until)
    return [
        SupervisorTurnaround(
            supervisor_id=r.decided_by,
            decisions=r.decisions,
            approved=r.approved,
            returned=r.returned,
            mean_seconds=r.mean_seconds,
            median_seconds=r.median_seconds,
            max_seconds=r.max_seconds,
        )
        for r in rows
    ]
