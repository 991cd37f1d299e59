"""Queries for visit logs. Who may see one is ``server.scope.visit_logs``, passed in as ``visible``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from schemas.cases import VisitFlag, VisitLogStatus
from server.cases.models import Case, VisitLog


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


def _with_student() -> Any:
    """Visit logs with their case's student. The case is aliased, so the scope predicate's own
    ``Case`` stays a subquery of its own."""
    owner = aliased(Case)
    return select(VisitLog, owner.student_id).join(owner, owner.id == VisitLog.case_id)


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
