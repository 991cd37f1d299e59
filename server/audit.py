"""The append-only audit log.

One row per change (and per read of a student's record), written in the same
transaction as the change. A trigger in the migration refuses UPDATE, DELETE and
TRUNCATE on the table, so nothing, not even a bug, rewrites history.

FERPA's record of access (34 CFR 99.32): every read of a student's record, by any route or by a
phone's pull, and every refused one, is a row naming the student (``student_id``), with who read
it (user, role, device, request id). ``accesses`` pages through them for ``GET /audit`` and
``doorstep audit export``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Identity,
    Index,
    Integer,
    Select,
    String,
    cast,
    column,
    func,
    insert,
    literal,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, aliased, mapped_column

from schemas.text import scrub
from server.errors import NotFound
from server.orm import Base


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_entity", "entity_type", "entity_id"),
        Index("ix_audit_log_student", "student_id", "id"),
        Index("ix_audit_log_actor", "actor_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(nullable=False, server_default=func.now())
    actor_id: Mapped[uuid.UUID | None] = mapped_column()
    actor_role: Mapped[str | None] = mapped_column(String(32))
    device_id: Mapped[uuid.UUID | None] = mapped_column()
    action: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    entity_type: Mapped[str] = mapped_column(String(64), nullable=False)
    entity_id: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    student_id: Mapped[uuid.UUID | None] = mapped_column()
    """The student whose record was read or changed, if any (FERPA's record of access)."""


@dataclass(frozen=True)
class Actor:
    """Who is acting: built at the request edge (or by the CLI) and passed to services."""

    user_id: uuid.UUID | None
    role: str | None
    device_id: uuid.UUID | None = None
    request_id: str | None = None

    @classmethod
    def system(cls, request_id: str | None = None) -> Actor:
        return cls(user_id=None, role="system", request_id=request_id)


def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: object | None = None,
    *,
    student_id: uuid.UUID | None = None,
    **detail: Any,
) -> AuditEntry:
    """Add an audit row to the session; it is flushed and committed with the change it records.

    ``student_id``: the student whose record this touches (a student entity names itself)."""
    if student_id is None and entity_type == "student" and entity_id is not None:
        student_id = entity_id if isinstance(entity_id, uuid.UUID) else uuid.UUID(str(entity_id))
    entry = AuditEntry(
        actor_id=actor.user_id,
        actor_role=actor.role,
        device_id=actor.device_id,
        action=action,
        entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id),
        request_id=actor.request_id,
        detail=scrub(detail) or None,
        student_id=student_id,
    )
    session.add(entry)
    return entry


async def entries_for(session: AsyncSession, entity_type: str, entity_id: object) -> list[AuditEntry]:
    rows = await session.scalars(
        select(AuditEntry)
        .where(AuditEntry.entity_type == entity_type, AuditEntry.entity_id == str(entity_id))
        .order_by(AuditEntry.id)
    )
    return list(rows)


async def refuse_read(
    session: AsyncSession,
    actor: Actor,
    entity_type: str,
    requested_id: object,
    *,
    student_id: uuid.UUID | None,
    verb: str = "read",
    **detail: Any,
) -> NoReturn:
    """Refuse a read the caller may not make, and keep the refusal.

    The answer is the one a missing record gets (404 ``No such <entity_type>``): no hint that the
    record exists. The row (``<entity_type>.read_refused``, or ``<entity_type>.<verb>_refused`` for
    another act on a record out of reach, e.g. ``visit.decide_refused``) names the requested id
    and the student whose record it is (``None`` when there is no such record). An error rolls the
    request's transaction back, so the row is committed here on its own, after rolling back
    whatever the request did before (a read route has done nothing)."""
    await session.rollback()
    entry = record(session, actor, f"{entity_type}.{verb}_refused", entity_type, requested_id, **detail)
    entry.student_id = student_id  # the requested id may name no student at all
    await session.commit()
    raise NotFound(f"No such {entity_type}")


async def record_students(
    session: AsyncSession, actor: Actor, action: str, students: Sequence[tuple[uuid.UUID, int]], **detail: Any
) -> None:
    """One row per student delivered (entity ``student``, ``student_id`` set, the version sent in
    ``detail``), written by one ``INSERT … SELECT FROM unnest(…)``: one round trip however many."""
    if not students:
        return
    ids = literal([s for s, _ in students], ARRAY(UUID(as_uuid=True)))
    versions = literal([v for _, v in students], ARRAY(Integer))
    each = (
        func.unnest(ids, versions)
        .table_valued(column("id", UUID(as_uuid=True)), column("version", Integer))
        .render_derived(name="s")
    )
    row_detail = type_coerce(literal(detail, JSONB), JSONB).op("||")(func.jsonb_build_object("version", each.c.version))
    statement = insert(AuditEntry).from_select(
        [
            "actor_id",
            "actor_role",
            "device_id",
            "action",
            "entity_type",
            "entity_id",
            "request_id",
            "detail",
            "student_id",
        ],
        select(
            literal(actor.user_id, UUID(as_uuid=True)),
            literal(actor.role, String),
            literal(actor.device_id, UUID(as_uuid=True)),
            literal(action, String),
            literal("student", String),
            cast(each.c.id, String),
            literal(actor.request_id, String),
            row_detail,
            each.c.id,
        ).select_from(each),
    )
    await session.execute(statement)


@dataclass(frozen=True)
class AccessFilter:
    """Which rows: naming this student, by this actor, at or after ``since``, before ``until``."""

    student_id: uuid.UUID | None = None
    actor_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None

    def _others(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.actor_id is not None:
            conditions.append(AuditEntry.actor_id == self.actor_id)
        if self.since is not None:
            conditions.append(AuditEntry.at >= self.since)
        if self.until is not None:
            conditions.append(AuditEntry.at < self.until)
        return conditions

    def branches(self) -> list[list[ColumnElement[bool]]]:
        """The filter as alternatives, each a list of conditions that hold together. A student is
        named by ``student_id``, or (rows written before migration 0006) only as the entity: two
        branches, each read in id order from its own index (one ``OR`` would walk the whole log)."""
        if self.student_id is None:
            return [self._others()]
        return [
            [AuditEntry.student_id == self.student_id, *self._others()],
            [
                AuditEntry.student_id.is_(None),
                AuditEntry.entity_type == "student",
                AuditEntry.entity_id == str(self.student_id),
                *self._others(),
            ],
        ]


async def accesses(
    session: AsyncSession, which: AccessFilter, *, after: int | None, limit: int, newest_first: bool
) -> list[AuditEntry]:
    """Up to ``limit`` rows in id order (the order they were written), after the row ``after``
    (an id: below it when newest first, above it when oldest first)."""

    def page(entity: Any, conditions: list[ColumnElement[bool]]) -> Select[Any]:
        query = select(entity).where(*conditions)
        if after is not None:
            query = query.where(entity.id < after if newest_first else entity.id > after)
        return query.order_by(entity.id.desc() if newest_first else entity.id).limit(limit)

    branches = which.branches()
    if len(branches) == 1:
        return list(await session.scalars(page(AuditEntry, branches[0])))
    merged = aliased(AuditEntry, union_all(*(page(AuditEntry, b) for b in branches)).subquery("accesses"))
    return list(await session.scalars(page(merged, [])))


async def count_accesses(session: AsyncSession, which: AccessFilter) -> int:
    total = 0
    for conditions in which.branches():
        total += await session.scalar(select(func.count()).select_from(AuditEntry).where(*conditions)) or 0
    return total
