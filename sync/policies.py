"""Conflict policies: how each record type takes a change a device made from an older version.

Every record type declares its policy in ``RECORD_TYPES``, the one table of them:

=================  =============  ======================================================================
type               policy         on a change from a device
=================  =============  ======================================================================
case, student      server_owned   devices read them; no mutation writes them; a case carries its
                                  student's ``truancy`` and its open ``follow_ups``, which the server
                                  keeps (``SERVER_KEPT``, ``sync.case_summary``)
household          field_lww      per-field last-writer-wins in server order; a stale ``base_version``
                                  still applies, and a conflict row records it for review
contact_attempt    insert_only    a create with an id that exists is a no-op (``applied``, same
                                  version); with other content, a ``duplicate_id`` conflict, no write
visit_note         keep_both      a save from a stale base leaves the server text and keeps the
                                  device's text in a conflict row; ``status`` is a state machine:
                                  a device moves draft → submitted and returned → submitted (with
                                  an expected version), a supervisor's review submitted → approved
                                  or returned (``sync.review``, on the server); a submitted note
                                  is frozen: a save to it becomes a ``frozen`` conflict; an
                                  approved one is locked: any change a device sends becomes an
                                  ``edited_after_approval`` conflict; a returned one is edited as
                                  a draft is, and stays returned until it is submitted again
visit_note_        insert_only    an addendum to a note past its draft; like contact_attempt
addendum
visit_log          insert_only    a check-in with an id that exists is a no-op; ``status`` is a state
                                  machine (open → checked_out, once), the check-out adds its fields;
                                  ``truancy`` is the server's context, filled on PostgreSQL only
follow_up          keep_both      made by the rules, the API or a phone (``follow_up.schedule``, a
                                  create like insert_only's); a device completes it (``status`` open →
                                  done with an expected version; a stale one: a conflict, still open)
                                  and moves its due date (``follow_up.reschedule``: every earlier date
                                  kept in ``rescheduled``); a done one is frozen; ``trigger_day`` is
                                  the day the student became truant, on a deadline the rules made;
                                  ``flags`` what its scheduling broke (``case_closed``)
form_photo         insert_only    a photo of a signed form, registered by the phone; the file follows
                                  by upload (``upload_status`` pending, later received or refused)
conflict           server_owned   made by the engine, seen by its author
resource           server_owned   the district's directory, kept by office staff; every phone holds it
assessment         keep_both      why the child misses school; the same id saved again is an edit from
                                  a base version, like a note's (a stale one: a conflict, server's kept)
service_referral   field_lww      a referral to a resource: created once (a create like insert_only's),
                                  then its ``status`` moves; a stale update still applies, and the
                                  change it overtook is kept in a conflict row
parent_meeting     insert_only    a meeting held with the family; recording it completes the student's
                                  open parent-meeting follow-ups (``sync.casework``)
letter             insert_only    a family letter under the case; a phone asks for one
                                  (``letter.request``: a create like insert_only's, status
                                  ``requested``), the office makes, prints and mails it (the server
                                  moves ``status``; docs/letters.md)
=================  =============  ======================================================================

For every policy, an edit of a deleted record wins: the record comes back with the edit, and the
pair goes to review as an ``edit_vs_delete`` conflict (but for a record in a locked state, which
nothing a device sends brings back or changes). A conflict row holds ``base_version`` (the
version the device started from), ``mine`` (what the device sent) and ``theirs`` (the server's
record when it arrived). The store keeps every version of every record (``sync.store.Version``:
its data, who wrote it, from which device and mutation or route), so the base itself is the
kept version ``base_version`` (unknown only when that version predates the history, or was an
intermediate state of one push), and a resolution writes a new version: no version is ever lost.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from schemas.sync import RecordType, Status
from sync.store import Current, Data, Principal, Ref, Write


class Policy(enum.StrEnum):
    SERVER_OWNED = "server_owned"
    INSERT_ONLY = "insert_only"
    FIELD_LWW = "field_lww"
    KEEP_BOTH = "keep_both"


@dataclass(frozen=True)
class RecordPolicy:
    policy: Policy
    fields: tuple[str, ...]
    """The keys of the record's ``data`` on the wire."""
    state_field: str | None = None
    transitions: frozenset[tuple[str, str]] = frozenset()
    """The moves a device's mutation may make."""
    frozen_states: frozenset[str] = frozenset()
    """States in which a device's edit is kept as a ``frozen`` conflict; the record stays."""
    locked_states: frozenset[str] = frozenset()
    """States a decision on the server locked for good: every change a device sends (an edit or a
    move of the state) is kept as an ``edited_after_approval`` conflict; the record stays."""
    review_transitions: frozenset[tuple[str, str]] = frozenset()
    """The moves a reviewer's decision on the server makes (``sync.review``), never a device."""


SERVER_KEPT: dict[str, tuple[str, ...]] = {RecordType.CASE: ("truancy", "follow_ups")}
"""Fields the server keeps on a record from other records (``sync.case_summary``): a write of the
record itself never sets them; each store derives them, and a change to them bumps the record's
version like any other change."""

RECORD_TYPES: dict[str, RecordPolicy] = {
    RecordType.CASE: RecordPolicy(
        Policy.SERVER_OWNED,
        ("student_id", "case_manager_id", "status", "opened_at", "closed_at") + SERVER_KEPT[RecordType.CASE],
    ),
    RecordType.STUDENT: RecordPolicy(
        Policy.SERVER_OWNED, ("student_number", "first_name", "last_name", "grade", "household_id")
    ),
    RecordType.HOUSEHOLD: RecordPolicy(
        Policy.FIELD_LWW, ("phone", "alt_phone", "language", "address", "latitude", "longitude")
    ),
    RecordType.CONTACT_ATTEMPT: RecordPolicy(
        Policy.INSERT_ONLY, ("case_id", "method", "outcome", "at", "note", "created_by")
    ),
    RecordType.VISIT_NOTE: RecordPolicy(
        Policy.KEEP_BOTH,
        ("case_id", "author_id", "body", "status", "visit_log_id")
        + ("review_status", "review_comment", "reviewed_by", "reviewed_at"),
        state_field="status",
        transitions=frozenset({("draft", "submitted"), ("returned", "submitted")}),
        frozen_states=frozenset({"submitted", "approved"}),
        locked_states=frozenset({"approved"}),
        review_transitions=frozenset({("submitted", "approved"), ("submitted", "returned")}),
    ),
    RecordType.VISIT_NOTE_ADDENDUM: RecordPolicy(Policy.INSERT_ONLY, ("note_id", "body", "author_id")),
    RecordType.VISIT_LOG: RecordPolicy(
        Policy.INSERT_ONLY,
        ("case_id", "created_by", "status", "checked_in_at", "latitude", "longitude", "accuracy_m", "altitude_m")
        + ("distance_m", "checked_out_at", "outcome", "out_latitude", "out_longitude", "out_accuracy_m", "flags")
        + ("truancy",),
        state_field="status",
        transitions=frozenset({("open", "checked_out")}),
    ),
    RecordType.FOLLOW_UP: RecordPolicy(
        Policy.KEEP_BOTH,
        ("case_id", "student_id", "kind", "title", "due_on", "status", "completed_at", "completed_by", "note")
        + ("created_by", "rescheduled", "trigger_day", "flags"),
        state_field="status",
        transitions=frozenset({("open", "done")}),
        frozen_states=frozenset({"done"}),
    ),
    RecordType.FORM_PHOTO: RecordPolicy(
        Policy.INSERT_ONLY,
        ("case_id", "visit_log_id", "form_type", "sha256", "size", "content_type", "taken_at", "created_by")
        + ("upload_status", "upload_error", "exif_latitude", "exif_longitude"),
    ),
    RecordType.CONFLICT: RecordPolicy(
        Policy.SERVER_OWNED,
        ("record_type", "record_id", "kind", "base_version", "mine", "theirs", "theirs_version")
        + ("author_id", "client_id", "mutation_id", "status", "resolved_at", "resolution"),
    ),
    RecordType.RESOURCE: RecordPolicy(
        Policy.SERVER_OWNED,
        ("name", "factors", "languages", "address", "phone", "website", "hours", "latitude", "longitude", "active"),
    ),
    RecordType.ASSESSMENT: RecordPolicy(
        Policy.KEEP_BOTH,
        ("case_id", "author_id", "at", "factors", "primary_factor", "visit_log_id", "strengths", "student_voice")
        + ("notes", "flags"),
    ),
    RecordType.SERVICE_REFERRAL: RecordPolicy(
        Policy.FIELD_LWW,
        ("case_id", "resource_id", "resource_name", "factor", "at", "status", "status_at", "note", "created_by")
        + ("flags", "updates"),
    ),
    RecordType.PARENT_MEETING: RecordPolicy(
        Policy.INSERT_ONLY,
        ("case_id", "author_id", "held_at", "place", "attendees", "interpreter", "policy_discussed", "language")
        + ("agreements", "next_meeting_on", "flags"),
    ),
    RecordType.LETTER: RecordPolicy(
        Policy.INSERT_ONLY,
        ("case_id", "student_id", "kind", "language", "fallback", "status", "created_at", "created_by", "as_of")
        + ("note", "body", "mailed_at", "returned_at", "flags"),
    ),
}


class ConflictKind(enum.StrEnum):
    STALE_BASE = "stale_base"
    FROZEN = "frozen"
    EDIT_VS_DELETE = "edit_vs_delete"
    DUPLICATE_ID = "duplicate_id"
    EDITED_AFTER_APPROVAL = "edited_after_approval"
    """A change a device made (offline) to a record a supervisor has approved since."""


class Rejected(Exception):
    """A business rule refused the mutation: it is stored as ``rejected`` and touches nothing."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Decision:
    status: Status
    version: int | None = None
    conflict_id: uuid.UUID | None = None
    flags: tuple[str, ...] = ()


@dataclass
class BatchView:
    """The records a batch touches, as the batch has changed them so far.

    Handlers read with ``get`` and change with ``put``/``conflict``. Changes are staged per
    mutation: ``accept`` keeps them, ``discard`` drops them (a rejected mutation touches nothing),
    so a later mutation in the batch sees what an earlier one did.
    """

    principal: Principal
    loaded: dict[Ref, Current]
    mutation_id: int = 0
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    """When the server received the batch (for ``time_in_future``; never orders anything)."""
    _records: dict[Ref, Current] = field(default_factory=dict)
    _staged: dict[Ref, Current] = field(default_factory=dict)
    _changed: dict[Ref, int] = field(default_factory=dict)
    """Each record the batch changed, with the mutation that changed it last."""

    def __post_init__(self) -> None:
        self._records = dict(self.loaded)

    def get(self, ref: Ref) -> Current | None:
        return self._staged.get(ref) or self._records.get(ref)

    def put(self, ref: Ref, data: Data) -> int:
        """Set the record's data (undeleting it); returns its new version."""
        current = self.get(ref)
        version = current.version + 1 if current else 1
        self._staged[ref] = Current(version, data, deleted=False, in_scope=current.in_scope if current else True)
        return version

    def conflict(
        self, kind: ConflictKind, ref: Ref, base_version: int | None, mine: Data, theirs: Current | None
    ) -> uuid.UUID:
        """Record a conflict row for review; its id is derived from the client and mutation id.

        The row goes to its author's devices, so ``theirs`` must be a record she may read: the one
        place that keeps another caseload's data out of a conflict, whatever a handler checked."""
        if theirs is not None and not theirs.in_scope:
            raise Rejected("not_in_scope", f"{ref.type} {ref.id} is not in your cases")
        conflict_id = uuid.uuid5(self.principal.client_id, f"conflict/{self.mutation_id}")
        data: Data = {
            "record_type": ref.type,
            "record_id": str(ref.id),
            "kind": kind.value,
            "base_version": base_version,
            "mine": mine,
            "theirs": theirs.data if theirs else None,
            "theirs_version": theirs.version if theirs else None,
            "author_id": str(self.principal.user_id),
            "client_id": str(self.principal.client_id),
            "mutation_id": self.mutation_id,
            "status": "open",  # office staff resolve it on the server: resolved_at and resolution then
            "resolved_at": None,
            "resolution": None,
        }
        self._staged[Ref(RecordType.CONFLICT, conflict_id)] = Current(1, data)
        return conflict_id

    def adopt(self, ref: Ref, current: Current) -> None:
        """Take a record the batch did not name but a derived ref brought whole (``sync.store``'s
        ``MEETINGS_DUE``), as if ``load`` had read it: its writes are then guarded by this version."""
        if ref not in self._records:
            self.loaded = {**self.loaded, ref: current}
            self._records[ref] = current

    def accept(self) -> None:
        self._records.update(self._staged)
        self._changed.update(dict.fromkeys(self._staged, self.mutation_id))
        self._staged.clear()

    def discard(self) -> None:
        self._staged.clear()

    def writes(self) -> list[Write]:
        out = []
        for ref, mutation_id in self._changed.items():
            record, before = self._records[ref], self.loaded.get(ref)
            expected = before.version if before else None
            out.append(Write(ref, record.version, record.data, expected, record.deleted, mutation_id))
        return out


# --- the policies --------------------------------------------------------------------------------


def create(view: BatchView, ref: Ref, data: Data) -> Decision:
    """A device made a new record with its own id."""
    if RECORD_TYPES[ref.type].policy is not Policy.INSERT_ONLY:
        current = view.get(ref)
        if current is None:
            return Decision(Status.APPLIED, view.put(ref, data))
        if not current.in_scope:
            raise Rejected("not_in_scope", f"{ref.type} {ref.id} is not in your cases")
        return edit(view, ref, None, data)
    return insert(view, ref, data)


def insert(view: BatchView, ref: Ref, data: Data) -> Decision:
    """A device made a new record that its mutation makes once, whatever the type's policy for
    later changes: the same id again with the same content is a no-op, with other content a
    ``duplicate_id`` conflict that writes nothing (``follow_up.schedule``,
    ``service_referral.create``, and every create of an insert-only type)."""
    current = view.get(ref)
    if current is None:
        return Decision(Status.APPLIED, view.put(ref, data))
    if not current.in_scope:  # another caseload's id, live or deleted: touch nothing, tell nothing
        raise Rejected("not_in_scope", f"{ref.type} {ref.id} is not in your cases")
    if current.deleted:
        return _restore(view, ref, None, data, current)
    if current.data == data:
        return Decision(Status.APPLIED, current.version)
    return _keep_theirs(view, ConflictKind.DUPLICATE_ID, ref, None, data, current)


def edit(view: BatchView, ref: Ref, base_version: int | None, changes: Data) -> Decision:
    """A device changed some fields of an existing record, starting from ``base_version``."""
    current = view.get(ref)
    assert current is not None, "the handler checks the record exists"
    rules = RECORD_TYPES[ref.type]
    if rules.policy in (Policy.SERVER_OWNED, Policy.INSERT_ONLY):
        raise Rejected("read_only", f"a device cannot change a {ref.type}")
    state = current.data.get(rules.state_field) if rules.state_field else None
    if state in rules.locked_states:  # locked for good, even against a delete: nothing restores it
        return _keep_theirs(view, ConflictKind.EDITED_AFTER_APPROVAL, ref, base_version, changes, current)
    if current.deleted:
        return _restore(view, ref, base_version, changes, current)
    if state in rules.frozen_states:
        return _keep_theirs(view, ConflictKind.FROZEN, ref, base_version, changes, current)
    stale = base_version != current.version
    if rules.policy is Policy.KEEP_BOTH:
        if stale:
            return _keep_theirs(view, ConflictKind.STALE_BASE, ref, base_version, changes, current)
        return Decision(Status.APPLIED, view.put(ref, current.data | changes))
    # field_lww: the fields sent win, in the order the server receives them
    merged = current.data | changes
    if merged == current.data:
        return Decision(Status.APPLIED, current.version)
    version = view.put(ref, merged)
    if stale:
        conflict_id = view.conflict(ConflictKind.STALE_BASE, ref, base_version, changes, current)
        return Decision(Status.CONFLICT, version, conflict_id)
    return Decision(Status.APPLIED, version)


def transition(
    view: BatchView, ref: Ref, expected_version: int | None, to_state: str, extra: Data | None = None
) -> Decision:
    """Move the record's state field to ``to_state``, if it is still at ``expected_version``;
    ``extra`` are fields the move sets with it (a check-out's outcome)."""
    current = view.get(ref)
    assert current is not None, "the handler checks the record exists"
    rules = RECORD_TYPES[ref.type]
    assert rules.state_field is not None, f"{ref.type} has no state machine"
    change = {rules.state_field: to_state} | (extra or {})
    state = current.data.get(rules.state_field)
    if state in rules.locked_states:  # as in ``edit``
        return _keep_theirs(view, ConflictKind.EDITED_AFTER_APPROVAL, ref, expected_version, change, current)
    if current.deleted:
        return _restore(view, ref, expected_version, change, current)
    if state == to_state:
        return Decision(Status.APPLIED, current.version)
    if (state, to_state) not in rules.transitions:
        raise Rejected("invalid_transition", f"{ref.type} cannot go from {state} to {to_state}")
    if expected_version != current.version:
        return _keep_theirs(view, ConflictKind.STALE_BASE, ref, expected_version, change, current)
    return Decision(Status.APPLIED, view.put(ref, current.data | change))


def _restore(view: BatchView, ref: Ref, base_version: int | None, changes: Data, current: Current) -> Decision:
    """Delete against edit: the edit wins, the pair goes to review."""
    version = view.put(ref, current.data | changes)
    conflict_id = view.conflict(ConflictKind.EDIT_VS_DELETE, ref, base_version, changes, current)
    return Decision(Status.CONFLICT, version, conflict_id)


def _keep_theirs(
    view: BatchView, kind: ConflictKind, ref: Ref, base_version: int | None, mine: Data, current: Current
) -> Decision:
    """Keep-both: the server's record stays, the device's change is kept in the conflict row."""
    return Decision(Status.CONFLICT, current.version, view.conflict(kind, ref, base_version, mine, current))
