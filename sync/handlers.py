"""One handler per mutation name, registered with ``@handler``.

A handler names the records its mutation touches (``refs``, all loaded in one read for the whole
batch), checks the business rules (raising ``Rejected``), and hands the change to its record
type's policy (``sync.policies``). It never writes anything itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

from schemas.cases import FollowUpStatus, VisitLogStatus, VisitNoteStatus
from schemas.mutations import (
    ContactAttemptCreate,
    Fix,
    FollowUpComplete,
    FormPhotoRegister,
    HouseholdUpdate,
    MutationBase,
    VisitLogCheckIn,
    VisitLogCheckOut,
    VisitNoteAddAddendum,
    VisitNoteSave,
    VisitNoteSubmit,
)
from schemas.sync import RecordType, Status
from sync import flags, photos, policies
from sync.policies import BatchView, Decision, Rejected
from sync.store import CASE_HOME, PHOTO_UPLOADS, VISIT_HOME, Current, Ref

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


def wire_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# --- the handlers --------------------------------------------------------------------------------


def _contact_ref(m: ContactAttemptCreate) -> Ref:
    return Ref(RecordType.CONTACT_ATTEMPT, m.args.id)


@handler(ContactAttemptCreate, refs=lambda m: [case_ref(m.args.case_id), _contact_ref(m)])
def contact_attempt_create(view: BatchView, m: ContactAttemptCreate) -> Decision:
    require_case(view, m.args.case_id)
    data = msgspec.to_builtins(m.args)
    del data["id"]
    data["at"] = wire_time(m.args.at)
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


def _note_save_refs(m: VisitNoteSave) -> list[Ref]:
    refs = [_note_ref(m.args.id), case_ref(m.args.case_id)]
    return refs + ([Ref(RecordType.VISIT_LOG, m.args.visit_log_id)] if m.args.visit_log_id else [])


@handler(VisitNoteSave, refs=_note_save_refs)
def visit_note_save(view: BatchView, m: VisitNoteSave) -> Decision:
    ref = _note_ref(m.args.id)
    if m.args.visit_log_id is not None:
        visit = require_record(view, Ref(RecordType.VISIT_LOG, m.args.visit_log_id))
        if visit.deleted or visit.data["case_id"] != str(m.args.case_id):
            raise Rejected("case_mismatch", f"visit_log {m.args.visit_log_id} belongs to another case")
    visit_log_id = str(m.args.visit_log_id) if m.args.visit_log_id else None
    if view.get(ref) is None:
        require_case(view, m.args.case_id)
        data = {
            "case_id": str(m.args.case_id),
            "author_id": str(view.principal.user_id),
            "body": m.args.body,
            "status": VisitNoteStatus.DRAFT.value,
            "visit_log_id": visit_log_id,
            "review_status": None,
            "review_comment": None,
            "reviewed_by": None,
            "reviewed_at": None,
        }
        return policies.create(view, ref, data)
    current = require_record(view, ref)
    if current.data["case_id"] != str(m.args.case_id):
        raise Rejected("case_mismatch", f"visit_note {ref.id} belongs to another case")
    changes: dict[str, Any] = {"body": m.args.body}
    if visit_log_id is not None:  # absent: an older phone, which leaves the link as it is
        changes["visit_log_id"] = visit_log_id
    return policies.edit(view, ref, m.base_version, changes)


def _addendum_ref(m: VisitNoteAddAddendum) -> Ref:
    return Ref(RecordType.VISIT_NOTE_ADDENDUM, m.args.id)


@handler(VisitNoteAddAddendum, refs=lambda m: [_addendum_ref(m), _note_ref(m.args.note_id)])
def visit_note_add_addendum(view: BatchView, m: VisitNoteAddAddendum) -> Decision:
    """An addendum to a note that was submitted: submitted, approved (the one way to add to it), or
    returned since (the phone wrote it to a note it held as submitted). A draft is still edited by
    ``visit_note.save``."""
    note = require_record(view, _note_ref(m.args.note_id))
    if note.deleted:
        raise Rejected("unknown_record", f"no visit_note {m.args.note_id}")
    if note.data.get("status") == VisitNoteStatus.DRAFT.value:
        raise Rejected("not_submitted", f"visit_note {m.args.note_id} is a draft: save it instead")
    data = {"note_id": str(m.args.note_id), "body": m.args.body, "author_id": str(view.principal.user_id)}
    return policies.create(view, _addendum_ref(m), data)


@handler(VisitNoteSubmit, refs=lambda m: [_note_ref(m.args.id)])
def visit_note_submit(view: BatchView, m: VisitNoteSubmit) -> Decision:
    ref = _note_ref(m.args.id)
    require_record(view, ref)
    if m.base_version is None:
        raise Rejected("malformed", "visit_note.submit needs the base_version the user read")
    return policies.transition(view, ref, m.base_version, VisitNoteStatus.SUBMITTED.value)


# --- visit_log.check_in / visit_log.check_out ----------------------------------------------------


def _visit_ref(visit_id: uuid.UUID) -> Ref:
    return Ref(RecordType.VISIT_LOG, visit_id)


def _fix(args: Fix) -> flags.Location | None:
    if args.latitude is None or args.longitude is None or args.accuracy_m is None:
        return None
    return flags.Location(args.latitude, args.longitude, args.accuracy_m)


def _own_visit(view: BatchView, ref: Ref) -> Current | None:
    """The visit log if the sender made it (on a case that may have left her since), ``None``
    if there is none; another user's visit log answers as out of scope (it reveals nothing)."""
    current = view.get(ref)
    if current is None:
        return None
    if current.data.get("created_by") != str(view.principal.user_id):
        raise Rejected("not_in_scope", f"{ref.type} {ref.id} is not in your cases")
    return current


@handler(
    VisitLogCheckIn,
    refs=lambda m: [_visit_ref(m.args.id), case_ref(m.args.case_id), Ref(CASE_HOME, m.args.case_id)],
)
def visit_log_check_in(view: BatchView, m: VisitLogCheckIn) -> Decision:
    """Applied even on a case that was reassigned or closed meanwhile: flagged, not rejected (the
    visit happened). Only a case that does not exist is refused."""
    ref = _visit_ref(m.args.id)
    existing = _own_visit(view, ref)
    if existing is not None and not existing.deleted:
        if existing.data["case_id"] != str(m.args.case_id):
            raise Rejected("case_mismatch", f"visit_log {ref.id} belongs to another case")
        return Decision(Status.APPLIED, existing.version, flags=tuple(existing.data.get("flags") or ()))
    case = view.get(case_ref(m.args.case_id))
    if case is None or case.deleted:
        raise Rejected("unknown_case", f"no case {m.args.case_id}")
    coordinates = _coordinates(view.get(Ref(CASE_HOME, m.args.case_id)))
    case_file = flags.CaseFile(
        case.data.get("case_manager_id"),
        case.data.get("status", ""),
        _parse_time(case.data.get("opened_at")),
        _parse_time(case.data.get("closed_at")),
    )
    found, distance = flags.location_flags(_fix(m.args), coordinates)
    found += flags.case_flags(case_file, str(view.principal.user_id), m.args.at)
    found += flags.time_flags(m.args.at, view.received_at)
    data = {
        "case_id": str(m.args.case_id),
        "created_by": str(view.principal.user_id),
        "status": VisitLogStatus.OPEN.value,
        "checked_in_at": wire_time(m.args.at),
        "latitude": m.args.latitude,
        "longitude": m.args.longitude,
        "accuracy_m": m.args.accuracy_m,
        "altitude_m": m.args.altitude_m,
        "distance_m": round(distance, 1) if distance is not None else None,
        "checked_out_at": None,
        "outcome": None,
        "out_latitude": None,
        "out_longitude": None,
        "out_accuracy_m": None,
        "flags": flags.ordered(found),
        "truancy": None,  # server context: the PostgreSQL store fills it (server.visits.context)
    }
    decision = policies.create(view, ref, data)
    return _with_flags(view, ref, decision)


def _coordinates(home: Current | None) -> tuple[float, float] | None:
    """A derived home record's coordinates, if it has both."""
    if home is None or home.data.get("latitude") is None or home.data.get("longitude") is None:
        return None
    return float(home.data["latitude"]), float(home.data["longitude"])


def _with_flags(view: BatchView, ref: Ref, decision: Decision) -> Decision:
    current = view.get(ref)
    stored = tuple(current.data.get("flags") or ()) if current is not None else ()
    return Decision(decision.status, decision.version, decision.conflict_id, stored)


@handler(VisitLogCheckOut, refs=lambda m: [_visit_ref(m.args.id), Ref(VISIT_HOME, m.args.id)])
def visit_log_check_out(view: BatchView, m: VisitLogCheckOut) -> Decision:
    """``open`` → ``checked_out`` once; the same check-out again is a no-op. The author may check
    out of a visit on a case that left her while she was offline, as she could check in. Its fix
    is checked against home like the check-in's (``sync.flags.check_out_flags``); what it finds
    joins the visit's flags, each stored once."""
    ref = _visit_ref(m.args.id)
    current = _own_visit(view, ref)
    if current is None:
        raise Rejected("unknown_record", f"no visit_log {ref.id}")
    if current.data.get("status") == VisitLogStatus.CHECKED_OUT.value:
        return Decision(Status.APPLIED, current.version, flags=tuple(current.data.get("flags") or ()))
    checked_in = _parse_time(current.data.get("checked_in_at"))
    if checked_in is not None and m.args.at < checked_in:
        raise Rejected("malformed", "a check-out before its check-in - at `$.args.at`")
    extra = {
        "checked_out_at": wire_time(m.args.at),
        "outcome": m.args.outcome.value,
        "out_latitude": m.args.latitude,
        "out_longitude": m.args.longitude,
        "out_accuracy_m": m.args.accuracy_m,
        "flags": flags.ordered(
            list(current.data.get("flags") or [])
            + flags.check_out_flags(_fix(m.args), _coordinates(_visit_home(view, ref, current)))
            + flags.time_flags(m.args.at, view.received_at)
        ),
    }
    expected = m.base_version if m.base_version is not None else current.version
    decision = policies.transition(view, ref, expected, VisitLogStatus.CHECKED_OUT.value, extra)
    return _with_flags(view, ref, decision)


def _visit_home(view: BatchView, ref: Ref, visit: Current) -> Current | None:
    """The home of a visit's case: loaded by the visit's id, or, for a visit checked in earlier in
    this batch (not there when the batch was loaded), by its case's, which that check-in loaded."""
    return view.get(Ref(VISIT_HOME, ref.id)) or view.get(Ref(CASE_HOME, uuid.UUID(visit.data["case_id"])))


# --- follow_up.complete --------------------------------------------------------------------------


@handler(FollowUpComplete, refs=lambda m: [Ref(RecordType.FOLLOW_UP, m.args.id)])
def follow_up_complete(view: BatchView, m: FollowUpComplete) -> Decision:
    ref = Ref(RecordType.FOLLOW_UP, m.args.id)
    require_record(view, ref)
    if m.base_version is None:
        raise Rejected("malformed", "follow_up.complete needs the base_version the user read")
    extra: dict[str, Any] = {"completed_at": wire_time(m.args.at), "completed_by": str(view.principal.user_id)}
    if m.args.note is not None:
        extra["note"] = m.args.note
    return policies.transition(view, ref, m.base_version, FollowUpStatus.DONE.value, extra)


# --- form_photo.register -------------------------------------------------------------------------


def _photo_refs(m: FormPhotoRegister) -> list[Ref]:
    refs = [Ref(RecordType.FORM_PHOTO, m.args.id), case_ref(m.args.case_id), Ref(PHOTO_UPLOADS, m.args.id)]
    return refs + ([_visit_ref(m.args.visit_log_id)] if m.args.visit_log_id else [])


@handler(FormPhotoRegister, refs=_photo_refs)
def form_photo_register(view: BatchView, m: FormPhotoRegister) -> Decision:
    """Insert-only. The file may have come first: then registration and file meet here
    (``sync.photos``); otherwise they meet when the upload finishes."""
    ref = Ref(RecordType.FORM_PHOTO, m.args.id)
    require_case(view, m.args.case_id)
    if m.args.visit_log_id is not None:
        visit = require_record(view, _visit_ref(m.args.visit_log_id))
        if visit.deleted or visit.data["case_id"] != str(m.args.case_id):
            raise Rejected("case_mismatch", f"visit_log {m.args.visit_log_id} belongs to another case")
    data = {
        "case_id": str(m.args.case_id),
        "visit_log_id": str(m.args.visit_log_id) if m.args.visit_log_id else None,
        "form_type": m.args.form_type.value,
        "sha256": m.args.sha256,
        "size": m.args.size,
        "content_type": m.args.content_type,
        "taken_at": wire_time(m.args.taken_at),
        "created_by": str(view.principal.user_id),
    }
    current = view.get(ref)
    if current is not None and current.in_scope and not current.deleted:
        if {k: current.data.get(k) for k in data} == data:  # a replay: the upload fields are the server's
            return Decision(Status.APPLIED, current.version)
        return policies.create(view, ref, data | {k: current.data.get(k) for k in _UPLOAD_FIELDS})
    uploads = view.get(Ref(PHOTO_UPLOADS, m.args.id))
    return policies.create(view, ref, data | photos.meet(m.args.sha256, uploads.data["uploads"] if uploads else []))


_UPLOAD_FIELDS = ("upload_status", "upload_error", "exif_latitude", "exif_longitude")
