"""What the server attaches to a visit log as context when it arrives: the student's truancy status
on the visit's date.

Server context, not a sync decision: the sync handlers (pure) leave ``truancy`` null, and the
PostgreSQL store fills it in the push's own transaction when it inserts a new visit log
(``server.sync.pg_store``). The memory store, which has no rules engine, leaves it null.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.cases.models import Case
from server.rules import service as rules


def visit_date(checked_in_at: datetime) -> date:
    """The day a visit is dated for the rules: its check-in time's date in UTC (the server keeps
    every time in UTC and knows no district time zone, as for a case's opening day)."""
    return checked_in_at.astimezone(UTC).date()


async def truancy(session: AsyncSession, visits: Sequence[tuple[uuid.UUID, datetime]]) -> list[dict[str, Any] | None]:
    """For each visit, given as (case id, check-in time): the report ``GET
    /students/{id}/truancy?as_of=<visit date>`` answers for the case's student, as JSON values, or
    ``None`` where that route answers a problem (no school year contains the day). Never raises for
    want of a school year or of attendance: a visit is stored whatever the rules know. Each
    (student, day) is computed once."""
    case_ids = sorted({case_id for case_id, _ in visits})
    rows = await session.execute(select(Case.id, Case.student_id).where(Case.id.in_(case_ids)))
    student_of: dict[uuid.UUID, uuid.UUID] = {case_id: student_id for case_id, student_id in rows}
    answers: dict[tuple[uuid.UUID, date], dict[str, Any] | None] = {}
    out: list[dict[str, Any] | None] = []
    for case_id, at in visits:
        student_id = student_of.get(case_id)
        if student_id is None:
            out.append(None)
            continue
        key = (student_id, visit_date(at))
        if key not in answers:
            report = await rules.truancy_on(session, *key)
            answers[key] = msgspec.to_builtins(report) if report is not None else None
        out.append(answers[key])
    return out
