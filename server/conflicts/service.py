"""Reviewing and resolving sync conflicts. Nothing is picked silently: a person chooses."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cases import VisitNoteStatus
from schemas.conflicts import Choice, ConflictDetail, ConflictOut, ConflictStatus, ResolveRequest
from schemas.mutations import HouseholdChanges, Text
from schemas.sync import RecordType
from server import audit, scope
from server.audit import Actor
from server.auth.service import Principal
from server.cases.models import (
    Case,
    ContactAttempt,
    FollowUp,
    FormPhoto,
    VisitLog,
    VisitNote,
    VisitNoteAddendum,
)
from server.conflicts.diff import conflict_diff
from server.errors import Conflict as ConflictError
from server.errors import InvalidInput, NotFound, StaleVersion
from server.students.models import Household
from server.sync import versions
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
    actor: Actor,
) -> Sequence[Conflict]:
    """Conflicts the principal may see, oldest first; ``case_manager_id`` is the conflict's author
    (the case manager whose change it holds). Up to ``limit + 1`` rows (the extra one says there is
    a next page); each of the first ``limit`` is a read, audited
    (``conflict.listed``: a conflict holds a student's record, in ``mine`` and ``theirs``)."""
    query = select(Conflict).where(visible_conflicts(principal)).order_by(Conflict.created_at, Conflict.id)
    if status is not None:
        query = query.where(Conflict.status == status)
    if record_type is not None:
        query = query.where(Conflict.record_type == record_type.value)
    if case_manager_id is not None:
        query = query.where(Conflict.author_id == case_manager_id)
    if after is not None:
        query = query.where(tuple_(Conflict.created_at, Conflict.id) > tuple_(*after))
    rows = (await session.scalars(query.limit(limit + 1))).all()
    students = await students_of(session, rows[:limit])
    for row in rows[:limit]:
        audit.record(session, actor, "conflict.listed", "conflict", row.id, student_id=students.get(row.id))
    return rows


async def get(session: AsyncSession, principal: Principal, actor: Actor, conflict_id: uuid.UUID) -> Conflict:
    """The conflict, if ``principal`` may see it; otherwise 404. The read is audited
    (``conflict.read``, with the student whose record it holds), and so is a refused one."""
    row = await session.scalar(select(Conflict).where(Conflict.id == conflict_id, visible_conflicts(principal)))
    if row is None:
        hidden = await session.get(Conflict, conflict_id)
        student = (await students_of(session, [hidden])).get(conflict_id) if hidden else None
        await audit.refuse_read(session, actor, "conflict", conflict_id, student_id=student)
    student = (await students_of(session, [row])).get(row.id)
    audit.record(session, actor, "conflict.read", "conflict", row.id, student_id=student)
    return row


def _student_of(record_type: str, ids: list[uuid.UUID]) -> Select[uuid.UUID, uuid.UUID] | None:
    """(record id, student id) for records of one type: through the record's case (a household is
    shared by siblings, so it names no one student)."""
    if record_type == RecordType.CASE:
        return select(Case.id, Case.student_id).where(Case.id.in_(ids))
    if record_type == RecordType.STUDENT:
        return None
    if record_type == RecordType.VISIT_NOTE_ADDENDUM:
        return (
            select(VisitNoteAddendum.id, Case.student_id)
            .join(VisitNote, VisitNote.id == VisitNoteAddendum.note_id)
            .join(Case, Case.id == VisitNote.case_id)
            .where(VisitNoteAddendum.id.in_(ids))
        )
    under_case: dict[str, Any] = {
        RecordType.CONTACT_ATTEMPT: ContactAttempt,
        RecordType.VISIT_NOTE: VisitNote,
        RecordType.VISIT_LOG: VisitLog,
        RecordType.FOLLOW_UP: FollowUp,
        RecordType.FORM_PHOTO: FormPhoto,
    }
    model = under_case.get(record_type)
    if model is None:
        return None
    return select(model.id, Case.student_id).join(Case, Case.id == model.case_id).where(model.id.in_(ids))


async def students_of(session: AsyncSession, rows: Sequence[Conflict]) -> dict[uuid.UUID, uuid.UUID]:
    """The student each conflict's record belongs to, where one does: one query per record type."""
    by_type: dict[str, list[Conflict]] = {}
    for row in rows:
        by_type.setdefault(row.record_type, []).append(row)
    found: dict[uuid.UUID, uuid.UUID] = {}
    for record_type, group in by_type.items():
        if record_type == RecordType.STUDENT:
            found |= {row.id: row.record_id for row in group}
            continue
        query = _student_of(record_type, [row.record_id for row in group])
        if query is None:
            continue
        students = {record_id: student_id for record_id, student_id in (await session.execute(query)).all()}
        found |= {row.id: students[row.record_id] for row in group if row.record_id in students}
    return found


async def bases(session: AsyncSession, rows: Sequence[Conflict]) -> dict[uuid.UUID, Any]:
    """Each conflict's base, in one read: the record at ``base_version`` as the server kept it
    (``server.sync.versions``), or a base the row itself holds; absent when neither is known (no
    ``base_version``, or that version was never kept: it predates the history, or was an
    intermediate state of one push)."""
    wanted = {
        row.id: (row.record_type, row.record_id, row.base_version)
        for row in rows
        if row.base is None and row.base_version is not None
    }
    kept = await versions.at(session, set(wanted.values()))
    found = {row.id: row.base for row in rows if row.base is not None}
    return found | {cid: kept[key].data for cid, key in wanted.items() if key in kept}


def out(row: Conflict, base: Any) -> ConflictOut:
    """The conflict as the API answers it, with its base (``bases``)."""
    return msgspec.structs.replace(msgspec.convert(row, ConflictOut, from_attributes=True), base=base)


def detail(row: Conflict, base: Any) -> ConflictDetail:
    """The conflict for its reader, with its base (``bases``) and a word-level diff of its texts
    (``server.conflicts.diff``)."""
    fields = msgspec.structs.asdict(out(row, base))
    return ConflictDetail(**fields, diff=conflict_diff(row.record_type, row.mine, row.theirs))


async def resolve(
    session: AsyncSession, principal: Principal, actor: Actor, conflict_id: uuid.UUID, body: ResolveRequest
) -> Conflict:
    """Record the person's choice and, for ``mine`` or ``custom``, write it to the record.

    The record's version goes up, so every device holding it receives the result on its next pull.
    The write is a new version: the server's version it replaces stays in the record's history
    (``record_version``), as does every one before it, so no choice destroys a version.
    With ``expected_version``, a conflict that moved on since the person read it (resolved by
    someone else) is 409 ``stale_version`` with the conflict as it is now; a resolved one is 409
    ``conflict`` either way.
    """
    await get(session, principal, actor, conflict_id)
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
