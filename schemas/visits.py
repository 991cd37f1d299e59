"""Visit logs as the API answers them (the ``visit_log`` record a pull carries, with its id and
version), and visit records in review: a visit log with its note, addenda, photos and flags."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from schemas.cases import FormPhotoOut, ReviewStatus, VisitFlag, VisitLogStatus, VisitOutcome
from schemas.truancy import TruancyReport


class VisitLogOut(msgspec.Struct, kw_only=True):
    """A home visit as the phone logged it and the server reconciled it (docs/protocol.md)."""

    id: uuid.UUID
    version: int
    case_id: uuid.UUID
    created_by: uuid.UUID | None
    status: VisitLogStatus
    checked_in_at: datetime
    latitude: float | None
    longitude: float | None
    accuracy_m: float | None
    altitude_m: float | None
    distance_m: float | None
    """The check-in's distance from home in metres, when both are known."""
    checked_out_at: datetime | None
    outcome: VisitOutcome | None
    out_latitude: float | None
    out_longitude: float | None
    out_accuracy_m: float | None
    flags: list[VisitFlag]
    """What reconciliation found odd, each once, in ``VisitFlag`` order."""
    truancy: TruancyReport | None = None
    """The student's truancy status on the visit's date, as ``GET /students/{id}/truancy?as_of=``
    answered it when the visit arrived; null when no school year covers that day. An added
    optional field."""


class VisitLogPage(msgspec.Struct):
    items: list[VisitLogOut]
    next_cursor: str | None


# --- visit records and their review (GET /visits, POST /visits/{id}/decisions) --------------------


class VisitStatus(enum.StrEnum):
    """Where a visit record stands in review: its note's status once it reached the queue."""

    SUBMITTED = "submitted"
    APPROVED = "approved"
    RETURNED = "returned"


class ReviewDecision(enum.StrEnum):
    APPROVE = "approve"
    RETURN = "return"
    """Back to the case manager, with a comment saying what to change."""


class DecisionIn(msgspec.Struct, kw_only=True):
    """A supervisor's decision on a visit. ``decision_id`` is made by the client: the same decision
    again answers what the first one did; the same id with another body is 409 ``duplicate_id``."""

    decision_id: uuid.UUID
    decision: ReviewDecision
    expected_version: Annotated[int, msgspec.Meta(ge=1)]
    """The version of the note the reviewer read (``version`` of the visit)."""
    comment: Annotated[str, msgspec.Meta(max_length=4000)] | None = None
    """Required for ``return`` (not blank); optional for ``approve``. Reaches the phone as
    ``review_comment``."""


class VisitState(msgspec.Struct, kw_only=True):
    """A visit's state in review: what a decision answers, and what a ``stale_version`` problem
    carries as ``current``."""

    id: uuid.UUID
    """The visit log's id."""
    case_id: uuid.UUID
    case_manager_id: uuid.UUID | None
    """The case manager who made the visit (the visit log's author)."""
    status: VisitStatus
    version: int
    """The note's version: send it back as ``expected_version``."""
    review_status: ReviewStatus | None
    review_comment: str | None
    reviewed_by: uuid.UUID | None
    reviewed_at: datetime | None


class VisitSummary(msgspec.Struct, kw_only=True):
    """One visit in the queue (``GET /visits``)."""

    id: uuid.UUID
    case_id: uuid.UUID
    student_id: uuid.UUID
    case_manager_id: uuid.UUID | None
    status: VisitStatus
    version: int
    submitted_at: datetime | None
    """When its note was last submitted (``older_than_days`` counts from here)."""
    checked_in_at: datetime
    flags: list[VisitFlag]
    distance_m: float | None
    accuracy_m: float | None
    review_status: ReviewStatus | None
    reviewed_at: datetime | None


class VisitPage(msgspec.Struct):
    items: list[VisitSummary]
    next_cursor: str | None


class VisitNoteOut(msgspec.Struct, kw_only=True):
    """The visit's note, with its last review."""

    id: uuid.UUID
    author_id: uuid.UUID | None
    body: str
    status: VisitStatus
    version: int
    submitted_at: datetime | None
    review_status: ReviewStatus | None
    review_comment: str | None
    reviewed_by: uuid.UUID | None
    reviewed_at: datetime | None


class AddendumOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    body: str
    author_id: uuid.UUID | None
    created_at: datetime


class DecisionOut(msgspec.Struct, kw_only=True):
    """One decision taken on the visit, oldest first."""

    id: uuid.UUID
    decision: ReviewDecision
    comment: str | None
    decided_by: uuid.UUID
    decided_at: datetime
    submitted_at: datetime | None
    """When the note the decision was about had been submitted."""


class VisitOut(msgspec.Struct, kw_only=True):
    """A whole visit record (``GET /visits/{id}``): the visit log with its note, addenda, photos,
    flags, the location check and the truancy context."""

    id: uuid.UUID
    case_id: uuid.UUID
    student_id: uuid.UUID
    case_manager_id: uuid.UUID | None
    status: VisitStatus
    version: int
    """The note's."""
    note: VisitNoteOut
    addenda: list[AddendumOut]
    photos: list[FormPhotoOut]
    flags: list[VisitFlag]
    checked_in_at: datetime
    checked_out_at: datetime | None
    outcome: VisitOutcome | None
    distance_m: float | None
    """The check-in's distance from home, in metres (null when the fix or home is unknown)."""
    accuracy_m: float | None
    """The check-in fix's accuracy, in metres."""
    radius_m: float
    """How far from home a visit may be (less its accuracy) before it is ``location_mismatch``."""
    truancy: TruancyReport | None
    """The student's truancy on the visit's date, as the visit log carries it (may be null)."""
    decisions: list[DecisionOut]


class SupervisorTurnaround(msgspec.Struct, kw_only=True):
    """How long one reviewer took from a note's submission to her decision on it."""

    supervisor_id: uuid.UUID
    decisions: int
    approved: int
    returned: int
    mean_seconds: float
    median_seconds: float
    max_seconds: float
