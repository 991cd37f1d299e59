"""Enumerations of the case domain, shared by the API and the phone protocol."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Annotated

import msgspec

from schemas.casework import AssessmentOut, Factor, ParentMeetingOut, ServiceReferralStatus
from schemas.truancy import Episode, MonthCount, RuleResult, TruantStatus


class CaseStatus(enum.StrEnum):
    REFERRED = "referred"
    ASSIGNED = "assigned"
    CONTACTING = "contacting"
    ACTIVE = "active"
    MONITORING = "monitoring"
    CLOSED = "closed"


class CaseOutcome(enum.StrEnum):
    IMPROVED = "improved"
    NOT_IMPROVED = "not_improved"
    UNABLE_TO_CONTACT = "unable_to_contact"
    FAMILY_DECLINED = "family_declined"
    MOVED = "moved"
    TRANSFERRED = "transferred"
    OTHER = "other"


class ContactMethod(enum.StrEnum):
    PHONE = "phone"
    LETTER = "letter"
    HOME_VISIT = "home_visit"


class ContactOutcome(enum.StrEnum):
    REACHED = "reached"
    NO_ANSWER = "no_answer"
    LEFT_MESSAGE = "left_message"
    WRONG_CONTACT = "wrong_contact"
    LETTER_SENT = "letter_sent"
    LETTER_RETURNED = "letter_returned"
    FAMILY_MET = "family_met"
    NO_ONE_HOME = "no_one_home"
    REFUSED = "refused"
    MOVED = "moved"


class VisitNoteStatus(enum.StrEnum):
    """``draft → submitted → approved``, or ``submitted → returned → submitted → …``: the phone
    saves and submits; a supervisor approves or returns (docs/protocol.md, Note states)."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    """Locked for good: only addenda add to it."""
    RETURNED = "returned"
    """Sent back with a comment: the phone edits it with ``visit_note.save`` and submits it again."""


class ReviewStatus(enum.StrEnum):
    """A note's last review (``visit_note.review_status``): what the supervisor decided."""

    APPROVED = "approved"
    RETURNED = "returned"


class FollowUpStatus(enum.StrEnum):
    """Stored beside ``completed_at``, from which a trigger derives it on every write."""

    OPEN = "open"
    DONE = "done"


class FormType(enum.StrEnum):
    """What a photographed signed form is (``form_photo.register``)."""

    CONSENT = "consent"
    RELEASE_OF_INFORMATION = "release_of_information"
    ATTENDANCE_CONTRACT = "attendance_contract"
    OTHER = "other"


class UploadStatus(enum.StrEnum):
    PENDING = "pending"
    RECEIVED = "received"
    REFUSED = "refused"


class VisitOutcome(enum.StrEnum):
    """How a home visit ended (``visit_log.check_out``)."""

    FAMILY_MET = "family_met"
    NO_ONE_HOME = "no_one_home"
    REFUSED = "refused"
    MOVED = "moved"


class VisitLogStatus(enum.StrEnum):
    OPEN = "open"
    CHECKED_OUT = "checked_out"


class VisitFlag(enum.StrEnum):
    """What reconciliation found odd about a visit log (``sync.flags``). Flags never reject."""

    LOCATION_MISMATCH = "location_mismatch"
    LOCATION_MISSING = "location_missing"
    LOCATION_LOW_ACCURACY = "location_low_accuracy"
    HOME_NOT_GEOCODED = "home_not_geocoded"
    CASE_REASSIGNED = "case_reassigned"
    CASE_CLOSED = "case_closed"
    OUTSIDE_CASE_PERIOD = "outside_case_period"
    TIME_IN_FUTURE = "time_in_future"


class ReferralStatus(enum.StrEnum):
    ELIGIBLE = "eligible"
    INELIGIBLE = "ineligible"
    OVERRIDDEN = "overridden"


class FollowUpKind(enum.StrEnum):
    PARENT_MEETING = "parent_meeting"
    FOLLOW_UP = "follow_up"
    PHONE_CALL = "phone_call"
    HOME_VISIT = "home_visit"
    SCHOOL_MEETING = "school_meeting"


class OpenFollowUp(msgspec.Struct, kw_only=True):
    """One of a case's ``follow_ups`` in a pull: an open follow-up, soonest due first."""

    id: uuid.UUID
    kind: FollowUpKind
    title: str
    due_on: date


# --- API structs -------------------------------------------------------------------------


class CaseOut(msgspec.Struct):
    id: uuid.UUID
    student_id: uuid.UUID
    school_id: uuid.UUID | None
    status: CaseStatus
    case_manager_id: uuid.UUID | None
    opened_at: datetime
    closed_at: datetime | None
    outcome: CaseOutcome | None
    close_reason: str | None
    version: int
    updated_at: datetime


class CasePage(msgspec.Struct):
    items: list[CaseOut]
    next_cursor: str | None


class ContactAttemptOut(msgspec.Struct):
    id: uuid.UUID
    case_id: uuid.UUID
    method: ContactMethod
    outcome: ContactOutcome
    at: datetime
    note: str | None
    version: int


class FormPhotoOut(msgspec.Struct):
    """A photo of a signed form: the ``form_photo`` record a pull carries, with its id and version."""

    id: uuid.UUID
    version: int
    case_id: uuid.UUID
    visit_log_id: uuid.UUID | None
    form_type: FormType
    sha256: str
    size: int
    content_type: str
    taken_at: datetime
    created_by: uuid.UUID | None
    upload_status: UploadStatus
    upload_error: str | None
    exif_latitude: float | None
    exif_longitude: float | None


class Rescheduled(msgspec.Struct, kw_only=True):
    """An earlier due date of a follow-up and why it moved (``follow_up.reschedule``)."""

    from_: date = msgspec.field(name="from")
    to: date
    reason: str
    by: uuid.UUID | None = None


class FollowUpOut(msgspec.Struct):
    id: uuid.UUID
    student_id: uuid.UUID
    case_id: uuid.UUID | None
    kind: FollowUpKind
    title: str
    due_on: date
    completed_at: datetime | None
    version: int
    status: FollowUpStatus = FollowUpStatus.OPEN
    created_by: uuid.UUID | None = None
    """Who scheduled it; ``None`` for a meeting deadline the rules made."""
    rescheduled: list[Rescheduled] = msgspec.field(default_factory=list)
    """Every earlier due date, oldest first."""
    trigger_day: date | None = None
    """For a meeting the rules made: the day the student became truant (the law counts from it)."""
    note: str | None = None
    flags: list[str] = msgspec.field(default_factory=list)
    """What a phone's ``follow_up.schedule`` broke (``case_closed``), as the other casework shows it;
    ``[]`` for one the rules or the API made."""


class ReferralUpdate(msgspec.Struct, kw_only=True):
    """A change of a referral's status, with its note (``service_referral.update``)."""

    at: datetime
    status: ServiceReferralStatus
    note: str | None = None
    by: uuid.UUID | None = None


class ServiceReferralOut(msgspec.Struct):
    id: uuid.UUID
    case_id: uuid.UUID
    resource: str
    """The resource's name (``resource_name``), kept for the clients of the first API."""
    category: str | None
    referred_on: date
    status: ServiceReferralStatus
    note: str | None
    version: int
    resource_id: uuid.UUID | None = None
    """The district directory's resource, or ``None`` for one named by hand."""
    resource_name: str | None = None
    factor: Factor | None = None
    """The assessed factor the referral answers."""
    at: datetime | None = None
    status_at: datetime | None = None
    """When the status last changed, as the phone said."""
    created_by: uuid.UUID | None = None
    flags: list[str] = msgspec.field(default_factory=list)
    updates: list[ReferralUpdate] = msgspec.field(default_factory=list)
    """Every status change, oldest first (``note`` stays the one written with the referral)."""


class StudentSummary(msgspec.Struct):
    id: uuid.UUID
    student_number: str
    first_name: str
    last_name: str
    grade: str | None
    school_id: uuid.UUID | None
    household_id: uuid.UUID | None


class CaseTruancy(msgspec.Struct):
    """When the student became truant, and whether absences fell after the case opened."""

    as_of: date
    school_year: str
    truant: bool
    habitual: bool
    chronic: bool
    became_truant_on: date | None
    episodes: list[Episode]
    unexcused_before_case: int
    unexcused_since_case: int
    absences_since_case: int
    rules: list[RuleResult] = msgspec.field(default_factory=list)
    """The monthly, yearly and habitual rules on ``as_of``, each with its explanation."""
    months: list[MonthCount] = msgspec.field(default_factory=list)
    """Absences by month, every month of the school year up to ``as_of`` (zeros included)."""


class CaseDetail(msgspec.Struct):
    case: CaseOut
    student: StudentSummary
    contact_attempts: list[ContactAttemptOut]
    follow_ups: list[FollowUpOut]
    service_referrals: list[ServiceReferralOut]
    truancy: CaseTruancy | None = None
    assessments: list[AssessmentOut] = msgspec.field(default_factory=list)
    """Why the child misses school, newest first: the latest assessment, then the earlier ones."""
    parent_meetings: list[ParentMeetingOut] = msgspec.field(default_factory=list)
    """Meetings with the family, newest first."""


class AssignRequest(msgspec.Struct):
    case_manager_id: uuid.UUID


class TransitionRequest(msgspec.Struct):
    status: CaseStatus
    outcome: CaseOutcome | None = None
    reason: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class ServiceReferralIn(msgspec.Struct):
    resource: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    referred_on: date
    category: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    note: Annotated[str, msgspec.Meta(max_length=4000)] | None = None


class FollowUpIn(msgspec.Struct):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    due_on: date
    note: Annotated[str, msgspec.Meta(max_length=4000)] | None = None


class ReferralIn(msgspec.Struct):
    """A counselor's referral. ``id`` is made by the client: a retry with the same id and
    content returns the first answer; the same id with other content is a 409."""

    id: uuid.UUID
    student_id: uuid.UUID
    reason: Annotated[str, msgspec.Meta(max_length=4000)] = ""


class ReferralOut(msgspec.Struct):
    id: uuid.UUID
    student_id: uuid.UUID
    school_id: uuid.UUID | None
    counselor_id: uuid.UUID
    reason: str
    status: ReferralStatus
    ineligible_reasons: list[str] | None
    override_note: str | None
    case_id: uuid.UUID | None
    created_at: datetime


class TruantStudent(msgspec.Struct, kw_only=True):
    """A row of ``GET /truant-students``: the student, why she is truant, and whether she was
    referred (the latest referral the reader may see) or has an open case."""

    student: StudentSummary
    truancy: TruantStatus
    case_id: uuid.UUID | None = None
    case_status: CaseStatus | None = None
    referral_id: uuid.UUID | None = None
    referral_status: ReferralStatus | None = None
    referred_at: datetime | None = None


class TruantPage(msgspec.Struct):
    items: list[TruantStudent]
    next_cursor: str | None


class OverrideRequest(msgspec.Struct):
    note: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]


class GuardianOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    relationship: str | None
    phone: str | None
    language: str | None


class HouseholdOut(msgspec.Struct):
    id: uuid.UUID
    phone: str | None
    alt_phone: str | None
    language: str | None
    address: str | None
    latitude: float | None
    longitude: float | None
    version: int


class StudentOut(msgspec.Struct):
    id: uuid.UUID
    student_number: str
    first_name: str
    last_name: str
    birth_date: date | None
    grade: str | None
    school_id: uuid.UUID | None
    household: HouseholdOut | None
    guardians: list[GuardianOut]
    version: int
