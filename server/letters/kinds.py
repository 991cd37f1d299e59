"""The letter kinds of a school year, and who is due which.

A kind's due-rule reads the rules engine's answer as of the letter's date (``schemas.letters``).
Kinds are tiered by ``rank``: a student is due the gravest kind whose rule holds, and only while
no letter of that rank or a graver one was made for her this school year (whoever asked for it),
so a family never gets the same kind twice in a year, nor an early notice after a truancy notice.
A person may still ask for any letter at any time (``POST /cases/{id}/letters``, ``letter.request``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import RowMapping, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.letters import DEFAULT_KINDS, DueRule, DueWhen, LetterKind, LetterKindConfig
from server.letters.models import Letter, LetterKindSet
from server.students.models import Student


async def configured(session: AsyncSession, school_year_id: uuid.UUID) -> tuple[LetterKindConfig, ...]:
    """The year's kinds as an admin set them, or the defaults."""
    row = await session.get(LetterKindSet, school_year_id)
    if row is None:
        return DEFAULT_KINDS
    return tuple(msgspec.convert(row.kinds, list[LetterKindConfig]))


def holds(rule: DueRule, status: Mapping[str, Any] | RowMapping) -> bool:
    """Does the rule hold for a student's row of ``rules_repo.statuses``?"""
    match rule.when:
        case DueWhen.COUNTS:
            month_max = int(status["month_max"])
            unexcused = int(status["unexcused"])
            return (rule.monthly is not None and month_max >= rule.monthly) or (
                rule.yearly is not None and unexcused >= rule.yearly
            )
        case DueWhen.TRUANT:
            return status["monthly_trigger"] is not None or status["yearly_trigger"] is not None
        case DueWhen.HABITUAL:
            return status["habitual_trigger"] is not None
        case DueWhen.CHRONIC:
            return bool(status["chronic"])
    return False


@dataclass(frozen=True)
class Due:
    student_id: uuid.UUID
    kind: LetterKind


async def ranks_sent(
    session: AsyncSession, school_year_id: uuid.UUID, kinds: tuple[LetterKindConfig, ...]
) -> dict[uuid.UUID, int]:
    """Each student's gravest rank of a letter made or asked for this school year."""
    rank = {k.kind.value: k.rank for k in kinds}
    found: dict[uuid.UUID, int] = {}
    rows = await session.execute(
        select(Letter.student_id, Letter.kind).where(
            Letter.school_year_id == school_year_id, Letter.deleted_at.is_(None)
        )
    )
    for student_id, kind in rows:
        found[student_id] = max(found.get(student_id, 0), rank.get(kind, 0))
    return found


async def due(
    session: AsyncSession,
    school_year_id: uuid.UUID,
    statuses: Mapping[uuid.UUID, RowMapping],
    kinds: tuple[LetterKindConfig, ...],
    only: Iterable[LetterKind] | None = None,
) -> list[Due]:
    """The students newly due a letter, each with the gravest kind due (of ``only``, when given),
    in student order; live students only."""
    wanted = set(only) if only is not None else None
    ladder = sorted(
        (k for k in kinds if k.active and k.rule.when is not DueWhen.NEVER and (wanted is None or k.kind in wanted)),
        key=lambda k: -k.rank,
    )
    if not ladder:
        return []
    sent = await ranks_sent(session, school_year_id, kinds)
    live = set(await session.scalars(select(Student.id).where(Student.deleted_at.is_(None))))
    found = []
    for student_id in sorted(statuses):
        if student_id not in live:
            continue
        status = statuses[student_id]
        for k in ladder:
            if holds(k.rule, status):
                if k.rank > sent.get(student_id, 0):
                    found.append(Due(student_id, k.kind))
                break
    return found
