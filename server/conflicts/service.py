"""Reviewing and resolving sync conflicts. Nothing is picked silently: a person chooses."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cases import VisitNoteStatus
from schemas.conflicts import Choice, ConflictDetail, ConflictOut, ConflictStatus, ResolveRequest
from schemas.mutations import HouseholdChanges, Text
from schemas.sync import RecordType
from server import audit, scope
from server.audit import Actor
from server.auth.service import Principal
from server.cases.models import VisitNote
from server.conflicts.diff import conflict_diff
from server.errors import Conflict as ConflictError
from server.errors import InvalidInput, NotFound, StaleVersion
from server.students.models import Household
from server.sync.models import Conflict


class NoteText(msgspec.Struct, forbid_unknown_fields=True):
    body: Text


# What a resolution may write, per record type: the model, and the struct of the fields a person
# may set, the same bounds a phone's mutation meets (a resolution is a write that syncs to phones).
APPLICABLE: dict[str, tuple[Any, type[msgspec.Struct]]] = {
    "visit_note": (VisitNote, NoteText),
    "household": (Household, HouseholdChanges),
}


def visible_conflicts(principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause over ``Conflict`` (``server.scope.conflicts``): a supervisor her team's."""
    return scope.conflicts(scope.Reader.of(principal))


async def page(
    session: AsyncSession,
    principal: Principal,
    *,
    status: ConflictStatus | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
    record_type: RecordType | None = None,
    case_manager_id: uuid.UUID | None = None,
) -> Sequence[Conflict]:
    """Conflicts the principal may see, oldest first; ``case_manager_id`` is the conflict's author
    (the case manager whose change it holds)."""
    query = select(Conflict).where(visible_conflicts(principal)).order_by(Conflict.created_at, Conflict.id)
    if status is not None:
        query = query.where(Conflict.status == status)
    if record_type is not None:
        query = query.where(Conflict.record_type == record_type.value)
    if case_manager_id is not None:
        query = query.where(Conflict.author_id == case_manager_id)
    if after is not None:
        query = query.where(tuple_(Conflict.created_at, Conflict.id) > tuple_(*after))
    return (await session.scalars(query.limit(limit + 1))).all()


async def get(session: AsyncSession, principal: Principal, conflict_id: uuid.UUID) -> Conflict:
    row = await session.scalar(select(Conflict).where(Conflict.id == conflict_id, visible_conflicts(principal)))
    if row is None:
        raise NotFound("No such conflict")
    return row


def detail(row: Conflict) -> ConflictDetail:
    """The conflict for its reader, with a word-level diff of its texts (``server.conflicts.diff``)."""
    out = msgspec.convert(row, ConflictOut, from_attributes=True)
    fields = msgspec.structs.asdict(out)
    return ConflictDetail(**fields, diff=conflict_diff(row.record_type, row.mine, row.theirs))


async def resolve(
    session: AsyncSession, principal: Principal, actor: Actor, conflict_id: uuid.UUID, body: ResolveRequest
) -> Conflict:
    """Record the person's choice and, for ``mine`` or ``custom``, write it to the record.

    The record's version goes up, so every device holding it receives the result on its next pull.
    With ``expected_version``, a conflict that moved on since the person read it (resolved by
    someone else) is 409 ``stale_version`` with the conflict as it is now; a resolved one is 409
    ``conflict`` either way.
    """
    await get(session, principal, conflict_id)
    row = await session.scalar(
        select(Conflict).where(Conflict.id == conflict_id).with_for_update().execution_options(populate_existing=True)
    )
    assert row is not None
    if body.expected_version is not None and body.expected_version != row.version:
        current = msgspec.to_builtins(msgspec.convert(row, ConflictOut, from_attributes=True))
        raise StaleVersion(
            f"The conflict is at version {row.version}, not {body.expected_version}: read it again", current=current
        )
    if row.status != ConflictStatus.OPEN:
        raise ConflictError("This conflict is already resolved")
    applied: dict[str, Any] = {}
    if body.choice != Choice.THEIRS:
        source = row.mine if body.choice == Choice.MINE else body.data
        applied = await _apply(session, row, source)
    row.status = ConflictStatus.RESOLVED
    row.resolved_by = actor.user_id
    row.resolved_at = datetime.now(UTC)
    row.resolution = {"choice": body.choice.value, "note": body.note, "applied": applied}
    row.version += 1
    audit.record(session, actor, "conflict.resolve", "conflict", row.id, choice=body.choice.value)
    return row


async def _apply(session: AsyncSession, conflict: Conflict, source: Any) -> dict[str, Any]:
    if conflict.record_type not in APPLICABLE:
        raise InvalidInput(f"A {conflict.record_type} conflict can only be resolved with 'theirs'")
    model, shape = APPLICABLE[conflict.record_type]
    if not isinstance(source, dict):
        raise InvalidInput("Give the fields to apply in 'data'")
    allowed = shape.__struct_fields__
    given = {k: v for k, v in source.items() if k in allowed}
    if not given:
        raise InvalidInput(f"Nothing to apply: a {conflict.record_type} resolution sets {sorted(allowed)}")
    try:
        checked = msgspec.convert(given, shape)
    except msgspec.ValidationError as e:
        raise InvalidInput(str(e).replace("`$", "`$.data", 1)) from e
    fields = {k: v for k, v in msgspec.structs.asdict(checked).items() if v is not msgspec.UNSET}
    record = await session.scalar(select(model).where(model.id == conflict.record_id).with_for_update())
    if record is None:
        raise NotFound("The record of this conflict no longer exists")
    if conflict.record_type == "visit_note" and record.status == VisitNoteStatus.APPROVED:
        raise ConflictError("The note is approved and locked for good; add an addendum instead")
    if conflict.record_type == "visit_note" and record.status == VisitNoteStatus.SUBMITTED:
        raise ConflictError("The note is submitted and frozen; add an addendum instead")
    for key, value in fields.items():
        setattr(record, key, value)
    record.version += 1
    return fields
