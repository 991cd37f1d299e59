"""One handler per mutation name, registered with ``@handler``.

A handler names the records its mutation touches (``refs``, all loaded in one read for the whole
batch), checks the business rules (raising ``Rejected``), and hands the change to its record
type's policy (``sync.policies``). It never writes anything itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Any, TypeVar

import msgspec

from schemas.cases import VisitNoteStatus
from schemas.mutations import (
    ContactAttemptCreate,
    HouseholdUpdate,
    MutationBase,
    VisitNoteSave,
    VisitNoteSubmit,
)
from schemas.sync import RecordType
from sync import policies
from sync.policies import BatchView, Decision, Rejected
from sync.store import Current, Ref

M = TypeVar("M", bound=MutationBase)
Apply = Callable[[BatchView, M], Decision]


@dataclass(frozen=True)
class Handler:
    refs: Callable[[Any], list[Ref]]
    apply: Callable[[BatchView, Any], Decision]


HANDLERS: dict[type[MutationBase], Handler] = {}


def handler(mutation: type[M], refs: Callable[[M], list[Ref]]) -> Callable[[Apply[M]], Apply[M]]:
    def register(apply: Apply[M]) -> Apply[M]:
        HANDLERS[mutation] = Handler(refs, apply)
        return apply

    return register


def case_ref(case_id: uuid.UUID) -> Ref:
    return Ref(RecordType.CASE, case_id)


def require_case(view: BatchView, case_id: uuid.UUID) -> None:
    case = view.get(case_ref(case_id))
    if case is None or case.deleted:
        raise Rejected("unknown_case", f"no case {case_id}")
    if not case.in_scope:
        raise Rejected("not_in_scope", f"case {case_id} is not assigned to you")


def require_record(view: BatchView, ref: Ref) -> Current:
    current = view.get(ref)
    if current is None:
        raise Rejected("unknown_record", f"no {ref.type} {ref.id}")
    if not current.in_scope:
        raise Rejected("not_in_scope", f"{ref.type} {ref.id} is not in your cases")
    return current


# --- the handlers --------------------------------------------------------------------------------


def _contact_ref(m: ContactAttemptCreate) -> Ref:
    return Ref(RecordType.CONTACT_ATTEMPT, m.args.id)


@handler(ContactAttemptCreate, refs=lambda m: [case_ref(m.args.case_id), _contact_ref(m)])
def contact_attempt_create(view: BatchView, m: ContactAttemptCreate) -> Decision:
    require_case(view, m.args.case_id)
    data = msgspec.to_builtins(m.args)
    del data["id"]
    data["at"] = m.args.at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    data.setdefault("note", None)
    data["created_by"] = str(view.principal.user_id)
    return policies.create(view, _contact_ref(m), data)


@handler(HouseholdUpdate, refs=lambda m: [Ref(RecordType.HOUSEHOLD, m.args.id)])
def household_update(view: BatchView, m: HouseholdUpdate) -> Decision:
    ref = Ref(RecordType.HOUSEHOLD, m.args.id)
    require_record(view, ref)
    changes = msgspec.to_builtins(m.args.changes)  # UNSET fields are left out, null stays
    if not changes:
        raise Rejected("malformed", "changes names no field")
    return policies.edit(view, ref, m.base_version, changes)


def _note_ref(note_id: uuid.UUID) -> Ref:
    return Ref(RecordType.VISIT_NOTE, note_id)


@handler(VisitNoteSave, refs=lambda m: [_note_ref(m.args.id), case_ref(m.args.case_id)])
def visit_note_save(view: BatchView, m: VisitNoteSave) -> Decision:
    ref = _note_ref(m.args.id)
    if view.get(ref) is None:
        require_case(view, m.args.case_id)
        data = {
            "case_id": str(m.args.case_id),
            "author_id": str(view.principal.user_id),
            "body": m.args.body,
            "status": VisitNoteStatus.DRAFT.value,
        }
        return policies.create(view, ref, data)
    current = require_record(view, ref)
    if current.data["case_id"] != str(m.args.case_id):
        raise Rejected("case_mismatch", f"visit_note {ref.id} belongs to another case")
    return policies.edit(view, ref, m.base_version, {"body": m.args.body})


@handler(VisitNoteSubmit, refs=lambda m: [_note_ref(m.args.id)])
def visit_note_submit(view: BatchView, m: VisitNoteSubmit) -> Decision:
    ref = _note_ref(m.args.id)
    require_record(view, ref)
    if m.base_version is None:
        raise Rejected("malformed", "visit_note.submit needs the base_version the user read")
    return policies.transition(view, ref, m.base_version, VisitNoteStatus.SUBMITTED.value)
