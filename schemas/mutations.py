"""The mutations a phone may push, as one tagged union on ``name``.

A mutation is ``{id, name, args, base_version?}``. Each name has an args struct here and a handler
in ``sync.handlers``. To add one: write its struct below and add it to ``Mutation``, write its
handler, write its test. Names not in the union are rejected as ``malformed``.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

from schemas.cases import ContactMethod, ContactOutcome, FollowUpKind, FormType, VisitOutcome
from schemas.casework import Factor, LanguageTag, MeetingPlace, ServiceReferralStatus
from schemas.letters import LetterKind
from schemas.sync import MutationId, Version

AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
Phone = Annotated[str, msgspec.Meta(max_length=32)]
Text = Annotated[str, msgspec.Meta(max_length=100_000)]


class MutationBase(msgspec.Struct, tag_field="name", kw_only=True, omit_defaults=True):
    id: MutationId
    base_version: Version | None = None


# --- contact_attempt.create ----------------------------------------------------------------------


class ContactAttemptArgs(msgspec.Struct, omit_defaults=True):
    id: uuid.UUID
    case_id: uuid.UUID
    method: ContactMethod
    outcome: ContactOutcome
    at: AwareDatetime
    """When the device says it happened. Data only: device clocks never order anything."""
    note: Annotated[str, msgspec.Meta(max_length=10_000)] | None = None


class ContactAttemptCreate(MutationBase, tag="contact_attempt.create"):
    args: ContactAttemptArgs


# --- household.update ----------------------------------------------------------------------------


class HouseholdChanges(msgspec.Struct, omit_defaults=True):
    """Only the fields present change; ``null`` clears a field, absence leaves it alone."""

    phone: Phone | None | UnsetType = UNSET
    alt_phone: Phone | None | UnsetType = UNSET
    language: Annotated[str, msgspec.Meta(max_length=32)] | None | UnsetType = UNSET
    address: Annotated[str, msgspec.Meta(max_length=300)] | None | UnsetType = UNSET
    latitude: Annotated[float, msgspec.Meta(ge=-90, le=90)] | None | UnsetType = UNSET
    longitude: Annotated[float, msgspec.Meta(ge=-180, le=180)] | None | UnsetType = UNSET


class HouseholdUpdateArgs(msgspec.Struct):
    id: uuid.UUID
    changes: HouseholdChanges


class HouseholdUpdate(MutationBase, tag="household.update"):
    args: HouseholdUpdateArgs


# --- visit_note.save / visit_note.submit ---------------------------------------------------------


class VisitNoteSaveArgs(msgspec.Struct, omit_defaults=True):
    id: uuid.UUID
    case_id: uuid.UUID
    body: Text
    visit_log_id: uuid.UUID | None = None
    """The visit the note is about (an added optional field: older phones leave it out)."""


class VisitNoteSave(MutationBase, tag="visit_note.save"):
    """A new note has no ``base_version``; a save to an existing draft carries the one it was made from."""

    args: VisitNoteSaveArgs


class VisitNoteSubmitArgs(msgspec.Struct):
    id: uuid.UUID


class VisitNoteSubmit(MutationBase, tag="visit_note.submit"):
    """``draft`` → ``submitted``; ``base_version`` is the version the user read before submitting."""

    args: VisitNoteSubmitArgs


class VisitNoteAddAddendumArgs(msgspec.Struct):
    id: uuid.UUID
    note_id: uuid.UUID
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=100_000)]


class VisitNoteAddAddendum(MutationBase, tag="visit_note.add_addendum"):
    """Insert-only: the one way to add to a submitted note, which stays as it was."""

    args: VisitNoteAddAddendumArgs


# --- visit_log.check_in / visit_log.check_out ----------------------------------------------------

Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]
Accuracy = Annotated[float, msgspec.Meta(ge=0, le=1_000_000)]
Altitude = Annotated[float, msgspec.Meta(ge=-1_000, le=100_000)]


class Fix(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A GPS fix: ``latitude``, ``longitude`` and ``accuracy_m`` come together or not at all."""

    latitude: Latitude | None = None
    longitude: Longitude | None = None
    accuracy_m: Accuracy | None = None

    def __post_init__(self) -> None:
        given = [self.latitude is not None, self.longitude is not None, self.accuracy_m is not None]
        if any(given) and not all(given):
            missing = [n for n, g in zip(("latitude", "longitude", "accuracy_m"), given, strict=True) if not g][0]
            raise ValueError(f"latitude, longitude and accuracy_m come together: `{missing}` is missing")


class VisitLogCheckInArgs(Fix, kw_only=True, omit_defaults=True):
    id: uuid.UUID
    case_id: uuid.UUID
    at: AwareDatetime
    altitude_m: Altitude | None = None


class VisitLogCheckIn(MutationBase, tag="visit_log.check_in"):
    """Insert-only: the same id again is a no-op. Applied and flagged, never rejected, on a case
    reassigned or closed meanwhile (``sync.flags``)."""

    args: VisitLogCheckInArgs


class VisitLogCheckOutArgs(Fix, kw_only=True, omit_defaults=True):
    id: uuid.UUID
    """The visit log's id."""
    at: AwareDatetime
    outcome: VisitOutcome


class VisitLogCheckOut(MutationBase, tag="visit_log.check_out"):
    """``open`` → ``checked_out``, once; ``base_version`` is optional."""

    args: VisitLogCheckOutArgs


# --- follow_up.complete --------------------------------------------------------------------------


class FollowUpCompleteArgs(msgspec.Struct, omit_defaults=True):
    id: uuid.UUID
    at: AwareDatetime
    note: Annotated[str, msgspec.Meta(max_length=10_000)] | None = None


class FollowUpComplete(MutationBase, tag="follow_up.complete"):
    """``open`` → ``done``; ``base_version`` is the version the user read (required)."""

    args: FollowUpCompleteArgs


# --- form_photo.register -------------------------------------------------------------------------

Sha256 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
"""Lower-case hex, as phones compute it."""


class FormPhotoRegisterArgs(msgspec.Struct, omit_defaults=True):
    id: uuid.UUID
    case_id: uuid.UUID
    form_type: FormType
    sha256: Sha256
    size: Annotated[int, msgspec.Meta(ge=1, le=2**40)]
    content_type: Annotated[str, msgspec.Meta(min_length=3, max_length=100, pattern="^[a-z]+/[a-z0-9.+-]+$")]
    taken_at: AwareDatetime
    visit_log_id: uuid.UUID | None = None


class FormPhotoRegister(MutationBase, tag="form_photo.register"):
    """Insert-only. The record starts with ``upload_status`` ``pending``; the file follows by upload."""

    args: FormPhotoRegisterArgs


# --- the casework: assessment, referrals to resources, the parent meeting, follow-ups ------------

Short = Annotated[str, msgspec.Meta(max_length=10_000)]


class AssessmentSaveArgs(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: uuid.UUID
    case_id: uuid.UUID
    at: AwareDatetime
    factors: Annotated[list[Factor], msgspec.Meta(max_length=len(Factor))]
    """Codes from ``schemas.casework.Factor``: an unknown code makes the mutation ``malformed``."""
    primary_factor: Factor | None = None
    visit_log_id: uuid.UUID | None = None
    strengths: Short | None = None
    student_voice: Short | None = None
    notes: Short | None = None

    def __post_init__(self) -> None:
        if len(set(self.factors)) != len(self.factors):
            raise ValueError("a factor is listed twice: factors")
        if self.primary_factor is not None and self.primary_factor not in self.factors:
            raise ValueError("primary_factor must be one of factors")


class AssessmentSave(MutationBase, tag="assessment.save"):
    """A new id is a new assessment of the case (the first, then reassessments); the same id again
    is an edit, versioned like a note: ``base_version`` is the version the user read."""

    args: AssessmentSaveArgs


ResourceName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class ServiceReferralCreateArgs(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: uuid.UUID
    case_id: uuid.UUID
    at: AwareDatetime
    resource_id: uuid.UUID | None = None
    """A resource of the district's directory; or ``resource_name`` for one that is not listed."""
    resource_name: ResourceName | None = None
    factor: Factor | None = None
    """The assessed factor the referral answers."""
    note: Short | None = None

    def __post_init__(self) -> None:
        if self.resource_id is None and self.resource_name is None:
            raise ValueError("name the resource: resource_id or resource_name")


class ServiceReferralCreate(MutationBase, tag="service_referral.create"):
    """Insert-only: the referral starts as ``made``."""

    args: ServiceReferralCreateArgs


class ServiceReferralUpdateArgs(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: uuid.UUID
    at: AwareDatetime
    status: ServiceReferralStatus
    note: Short | None = None


class ServiceReferralUpdate(MutationBase, tag="service_referral.update"):
    """Where the referral stands now; ``base_version`` is optional (a stale one: applied, and the
    change it overtook kept as a conflict for review)."""

    args: ServiceReferralUpdateArgs


Attendee = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class ParentMeetingRecordArgs(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: uuid.UUID
    case_id: uuid.UUID
    held_at: AwareDatetime
    place: MeetingPlace
    attendees: Annotated[list[Attendee], msgspec.Meta(max_length=50)]
    interpreter: bool
    policy_discussed: bool
    language: LanguageTag | None = None
    agreements: Short | None = None
    next_meeting_on: date | None = None


class ParentMeetingRecord(MutationBase, tag="parent_meeting.record"):
    """Insert-only. It completes the student's open ``parent_meeting`` follow-ups that the rules
    created on or before the day it was held (the meeting CGS 10-198a requires)."""

    args: ParentMeetingRecordArgs


Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class FollowUpScheduleArgs(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: uuid.UUID
    case_id: uuid.UUID
    kind: FollowUpKind
    title: Title
    due_on: date
    note: Short | None = None


class FollowUpSchedule(MutationBase, tag="follow_up.schedule"):
    """A follow-up the case manager sets herself; insert-only (the same id again is a no-op)."""

    args: FollowUpScheduleArgs


class FollowUpRescheduleArgs(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    due_on: date
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=1_000)]


class FollowUpReschedule(MutationBase, tag="follow_up.reschedule"):
    """An open follow-up's new due date, with why; every earlier date is kept in ``rescheduled``.
    ``base_version`` is optional: a stale one is a conflict, as for ``follow_up.complete``."""

    args: FollowUpRescheduleArgs


class LetterRequestArgs(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: uuid.UUID
    case_id: uuid.UUID
    kind: LetterKind
    note: Short | None = None
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=5_000)] | None = None

    def __post_init__(self) -> None:
        if self.kind is LetterKind.CUSTOM and self.body is None:
            raise ValueError("a custom letter needs its text: body")
        if self.kind is not LetterKind.CUSTOM and self.body is not None:
            raise ValueError("body is only for kind custom (the other kinds have their own words)")


class LetterRequest(MutationBase, tag="letter.request"):
    """Insert-only: a letter the case manager asks the office for. It is stored as ``requested``;
    the office's next batch makes it in the household's language and prints it (docs/letters.md)."""

    args: LetterRequestArgs


Mutation = (
    ContactAttemptCreate
    | HouseholdUpdate
    | VisitNoteSave
    | VisitNoteSubmit
    | VisitNoteAddAddendum
    | VisitLogCheckIn
    | VisitLogCheckOut
    | FollowUpComplete
    | FormPhotoRegister
    | AssessmentSave
    | ServiceReferralCreate
    | ServiceReferralUpdate
    | ParentMeetingRecord
    | FollowUpSchedule
    | FollowUpReschedule
    | LetterRequest
)

MUTATION_TYPES: tuple[type[MutationBase], ...] = (
    ContactAttemptCreate,
    HouseholdUpdate,
    VisitNoteSave,
    VisitNoteSubmit,
    VisitNoteAddAddendum,
    VisitLogCheckIn,
    VisitLogCheckOut,
    FollowUpComplete,
    FormPhotoRegister,
    AssessmentSave,
    ServiceReferralCreate,
    ServiceReferralUpdate,
    ParentMeetingRecord,
    FollowUpSchedule,
    FollowUpReschedule,
    LetterRequest,
)

_decoder: msgspec.json.Decoder[Mutation] = msgspec.json.Decoder(Mutation)


def decode_mutation(raw: bytes | msgspec.Raw) -> Mutation:
    """Decode one mutation; raises ``msgspec.ValidationError`` or ``msgspec.DecodeError``."""
    return _decoder.decode(raw)
