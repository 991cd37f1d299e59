"""Queries for visit logs and visit records in review. Who may see one is ``server.scope``
(``visit_logs``, ``visits``, ``decidable_visits``, ``visit_decisions``), passed in as ``visible``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select, tuple_
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from schemas.cases import VisitFlag, VisitLogStatus, VisitNoteStatus
from schemas.visits import ReviewDecision, VisitStatus
from server.cases.models import Case, FormPhoto, VisitLog, VisitNote, VisitNoteAddendum
from server.visits.models import VisitDecision


@dataclass(frozen=True)
class Filters:
    flagged: bool | None = None
    """True: visit logs with at least one flag; False: those with none."""
    flag: VisitFlag | None = None
    case_id: uuid.UUID | None = None
    status: VisitLogStatus | None = None

    def where(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.flagged is not None:
            count = func.jsonb_array_length(VisitLog.flags)
            conditions.append(count > 0 if self.flagged else count == 0)
        if self.flag is not None:
            conditions.append(VisitLog.flags.contains([self.flag.value]))
        if self.case_id is not None:
            conditions.append(VisitLog.case_id == self.case_id)
        if self.status is not None:
            conditions.append(VisitLog.status == self.status.value)
        return conditions


_OWNER = aliased(Case)
"""A visit log's case, aliased, so the scope predicate's own ``Case`` stays a subquery of its own.
Made once: an alias and its columns cost about a millisecond of Python each time they are made."""


def _with_student() -> Any:
    """Visit logs with their case's student."""
    return select(VisitLog, _OWNER.student_id).join(_OWNER, _OWNER.id == VisitLog.case_id)


async def page(
    session: AsyncSession,
    visible: ColumnElement[bool],
    filters: Filters,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[tuple[VisitLog, uuid.UUID]]:
    """Live visit logs in (checked_in_at, id) order, keyset-paginated after ``after``, each with its
    student; fetches limit + 1."""
    query = (
        _with_student()
        .where(visible, VisitLog.deleted_at.is_(None), *filters.where())
        .order_by(VisitLog.checked_in_at, VisitLog.id)
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(tuple_(VisitLog.checked_in_at, VisitLog.id) > tuple_(*after))
    return [(visit, student_id) for visit, student_id in await session.execute(query)]


async def get(
    session: AsyncSession, visit_log_id: uuid.UUID, visible: ColumnElement[bool]
) -> tuple[VisitLog, uuid.UUID] | None:
    query = _with_student().where(VisitLog.id == visit_log_id, VisitLog.deleted_at.is_(None), visible)
    row = (await session.execute(query)).first()
    return (row[0], row[1]) if row is not None else None


async def student_of(session: AsyncSession, visit_log_id: uuid.UUID) -> uuid.UUID | None:
    """The student of a visit log's case, whoever asks (for the audit row of a refused read)."""
    return await session.scalar(
        select(Case.student_id).join(VisitLog, VisitLog.case_id == Case.id).where(VisitLog.id == visit_log_id)
    )


# --- visit records: a visit log with the note that brought it to review ---------------------------

QUEUED = (VisitNoteStatus.SUBMITTED.value, VisitNoteStatus.APPROVED.value, VisitNoteStatus.RETURNED.value)
"""The note statuses of a visit in review: it reached the queue when its note was submitted."""


@dataclass(frozen=True)
class QueueFilters:
    status: VisitStatus | None = None
    case_manager_id: uuid.UUID | None = None
    """The case manager who made the visit (the visit log's author)."""
    flag: VisitFlag | None = None
    older_than_days: int | None = None
    """Submitted at least this many days ago."""

    def where(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.status is not None:
            conditions.append(VisitNote.status == self.status.value)
        if self.case_manager_id is not None:
            conditions.append(VisitLog.created_by == self.case_manager_id)
        if self.flag is not None:
            conditions.append(VisitLog.flags.contains([self.flag.value]))
        if self.older_than_days is not None:
            conditions.append(VisitNote.submitted_at <= func.now() - timedelta(days=self.older_than_days))
        return conditions


def _the_note() -> Any:
    """The visit's note, correlated to ``VisitLog``: the first note linked to it that was submitted
    (a visit has one note; should a phone link a second, the first one made is the visit's)."""
    linked = aliased(VisitNote)
    return (
        select(linked.id)
        .where(linked.visit_log_id == VisitLog.id, linked.deleted_at.is_(None), linked.status.in_(QUEUED))
        .order_by(linked.created_at, linked.id)
        .limit(1)
        .correlate(VisitLog)
        .scalar_subquery()
    )


_THE_NOTE = _the_note()
"""Made once, as ``_OWNER`` is."""

QUEUED_AT: Any = func.coalesce(VisitNote.submitted_at, VisitNote.created_at)
"""A visit's place in the queue: when its note was submitted (the queue's keyset order)."""


def _visits(*columns: Any) -> Any:
    """Visits in review with their note, student and place in the queue (or ``columns`` of them)."""
    return (
        select(*(columns or (VisitLog, VisitNote, _OWNER.student_id, QUEUED_AT.label("queued_at"))))
        .select_from(VisitLog)
        .join(_OWNER, _OWNER.id == VisitLog.case_id)
        .join(VisitNote, VisitNote.id == _THE_NOTE)
        .where(VisitLog.deleted_at.is_(None))
    )


@dataclass(frozen=True)
class VisitRow:
    visit: VisitLog
    note: VisitNote
    student_id: uuid.UUID
    queued_at: datetime


async def visit_page(
    session: AsyncSession,
    visible: ColumnElement[bool],
    filters: QueueFilters,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[VisitRow]:
    """Visits in review, oldest submission first, keyset-paginated after ``after``; fetches limit + 1."""
    query = _visits().where(visible, *filters.where()).order_by(QUEUED_AT, VisitLog.id).limit(limit + 1)
    if after is not None:
        query = query.where(tuple_(QUEUED_AT, VisitLog.id) > tuple_(*after))
    return [VisitRow(*row) for row in await session.execute(query)]


async def visit_count(
    session: AsyncSession, visible: ColumnElement[bool], filters: QueueFilters
) -> tuple[int, datetime | None]:
    """How many visits the queue holds under ``filters`` (the rows ``visit_page`` pages through),
    and the oldest one's place in it (its submission)."""
    query = _visits(func.count(), func.min(QUEUED_AT)).where(visible, *filters.where())
    count, oldest = (await session.execute(query)).one()
    return int(count), oldest


async def visit(session: AsyncSession, visit_id: uuid.UUID, visible: ColumnElement[bool]) -> VisitRow | None:
    row = (await session.execute(_visits().where(VisitLog.id == visit_id, visible))).first()
    return VisitRow(*row) if row is not None else None


async def lock_note(session: AsyncSession, note_id: uuid.UUID) -> VisitNote:
    """The note, row-locked until the transaction ends and read afresh (a decision and a push on
    the same note go one after the other)."""
    note = await session.scalar(
        select(VisitNote).where(VisitNote.id == note_id).with_for_update().execution_options(populate_existing=True)
    )
    assert note is not None, "a note is never deleted from the table (tombstones stay)"
    return note


async def addenda(session: AsyncSession, note_id: uuid.UUID) -> Sequence[VisitNoteAddendum]:
    query = (
        select(VisitNoteAddendum)
        .where(VisitNoteAddendum.note_id == note_id, VisitNoteAddendum.deleted_at.is_(None))
        .order_by(VisitNoteAddendum.created_at, VisitNoteAddendum.id)
    )
    return (await session.scalars(query)).all()


async def photos(session: AsyncSession, visit_id: uuid.UUID) -> Sequence[FormPhoto]:
    query = (
        select(FormPhoto)
        .where(FormPhoto.visit_log_id == visit_id, FormPhoto.deleted_at.is_(None))
        .order_by(FormPhoto.taken_at, FormPhoto.id)
    )
    return (await session.scalars(query)).all()


async def decisions(session: AsyncSession, visit_id: uuid.UUID) -> Sequence[VisitDecision]:
    query = (
        select(VisitDecision)
        .where(VisitDecision.visit_log_id == visit_id)
        .order_by(VisitDecision.decided_at, VisitDecision.id)
    )
    return (await session.scalars(query)).all()


async def decision(session: AsyncSession, decision_id: uuid.UUID) -> VisitDecision | None:
    return await session.get(VisitDecision, decision_id, populate_existing=True)


async def add_decision(session: AsyncSession, row: dict[str, Any]) -> bool:
    """Insert a decision; False if its id was taken meanwhile (by a concurrent request)."""
    inserted = await session.scalar(
        postgresql.insert(VisitDecision).values(**row).on_conflict_do_nothing().returning(VisitDecision.id)
    )
    return inserted is not None


async def database_now(session: AsyncSession) -> datetime:
    """The transaction's time, the clock ``submitted_at`` is stamped with."""
    now: datetime | None = await session.scalar(select(func.now()))
    assert now is not None
    return now


@dataclass(frozen=True)
class TurnaroundRow:
    decided_by: uuid.UUID
    decisions: int
    approved: int
    returned: int
    mean_seconds: float
    median_seconds: float
    max_seconds: float


async def turnaround(
    session: AsyncSession, visible: ColumnElement[bool], *, since: datetime | None, until: datetime | None
) -> list[TurnaroundRow]:
    """Per reviewer: her decisions (``decided_at`` in [since, until)) on notes with a known
    submission time, and the seconds from submission to decision."""
    seconds = func.extract("epoch", VisitDecision.decided_at - VisitDecision.submitted_at)
    count = func.count(VisitDecision.id)
    query = (
        select(
            VisitDecision.decided_by,
            count,
            count.filter(VisitDecision.decision == ReviewDecision.APPROVE.value),
            count.filter(VisitDecision.decision == ReviewDecision.RETURN.value),
            func.avg(seconds),
            func.percentile_cont(0.5).within_group(seconds),
            func.max(seconds),
        )
        .where(visible, VisitDecision.submitted_at.is_not(None))
        .group_by(VisitDecision.decided_by)
        .order_by(VisitDecision.decided_by)
    )
    if since is not None:
        query = query.where(VisitDecision.decided_at >= since)
    if until is not None:
        query = query.where(VisitDecision.decided_at < until)
    return [
        TurnaroundRow(who, int(n), int(ok), int(back), float(mean), float(median), float(longest))
        for who, n, ok, back, mean, median, longest in await session.execute(query)
    ]
