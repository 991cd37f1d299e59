"""Cases, referrals, and the casework under a case: contacts, notes, follow-ups, services."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Date, Float, ForeignKey, Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from schemas.cases import (
    CaseOutcome,
    CaseStatus,
    ContactMethod,
    ContactOutcome,
    FollowUpKind,
    FollowUpStatus,
    FormType,
    ReferralStatus,
    ReviewStatus,
    UploadStatus,
    VisitLogStatus,
    VisitNoteStatus,
    VisitOutcome,
)
from schemas.casework import Factor, MeetingPlace, ServiceReferralStatus
from server.orm import Base, Tombstoned, Versioned
from server.orm_types import one_of


class Case(Tombstoned, Versioned, Base):
    """A student's case. On the wire its record type is ``case``; ``case`` is an SQL keyword."""

    __tablename__ = "case_file"
    __table_args__ = (
        one_of("status", CaseStatus),
        one_of("outcome", CaseOutcome),
        Index("uq_case_file_open_per_student", "student_id", unique=True, postgresql_where=text("status <> 'closed'")),
    )

    student_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("student.id"), nullable=False, index=True)
    school_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("school.id"))
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    case_manager_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    opened_at: Mapped[datetime] = mapped_column(nullable=False)
    closed_at: Mapped[datetime | None] = mapped_column()
    outcome: Mapped[str | None] = mapped_column(String(32))
    close_reason: Mapped[str | None] = mapped_column(Text)
    truancy: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    """The student's truancy as of the last evaluation (``schemas.truancy.TruancySummary``), written
    by the evaluation (``server.rules.case_truancy``); synced to the phone."""
    follow_ups: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    """The case's open follow-ups (``schemas.cases.OpenFollowUp``), kept by a trigger on
    ``follow_up`` (migration 0011) that bumps the case's version when the list changes."""


class Referral(Versioned, Base):
    """A counselor's referral. ``id`` is made by the client, so a retried POST is idempotent."""

    __tablename__ = "referral"
    __table_args__ = (one_of("status", ReferralStatus),)

    student_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("student.id"), nullable=False, index=True)
    school_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("school.id"))
    counselor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"), nullable=False, index=True)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    ineligible_reasons: Mapped[list[Any] | None] = mapped_column(JSONB)
    override_note: Mapped[str | None] = mapped_column(Text)
    overridden_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("case_file.id"), index=True)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)


class ContactAttempt(Tombstoned, Versioned, Base):
    """A phone call, letter or home visit. Insert-only: made on a phone, never edited."""

    __tablename__ = "contact_attempt"
    __table_args__ = (one_of("method", ContactMethod), one_of("outcome", ContactOutcome))

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_file.id"), nullable=False, index=True)
    method: Mapped[str] = mapped_column(String(16), nullable=False)
    outcome: Mapped[str] = mapped_column(String(32), nullable=False)
    at: Mapped[datetime] = mapped_column(nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    device_id: Mapped[uuid.UUID | None] = mapped_column()


class VisitNote(Tombstoned, Versioned, Base):
    """A case manager's note, maybe about a visit (``visit_log_id``). ``status``: draft → submitted
    → approved, or submitted → returned → submitted (``sync.policies``, ``sync.review``)."""

    __tablename__ = "visit_note"
    __table_args__ = (one_of("status", VisitNoteStatus), one_of("review_status", ReviewStatus))

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_file.id"), nullable=False, index=True)
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    body: Mapped[str] = mapped_column(Text, nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=VisitNoteStatus.DRAFT)
    submitted_at: Mapped[datetime | None] = mapped_column()
    """When it was last submitted (set by the store when a push moves it to ``submitted``)."""
    visit_log_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("visit_log.id"), index=True)
    review_status: Mapped[str | None] = mapped_column(String(16))
    """The last review's outcome: ``approved`` or ``returned`` (kept after a resubmission)."""
    review_comment: Mapped[str | None] = mapped_column(Text)
    reviewed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column()


class VisitNoteAddendum(Tombstoned, Versioned, Base):
    """Text added to a submitted note, which stays as it was. Insert-only."""

    __tablename__ = "visit_note_addendum"

    note_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visit_note.id"), nullable=False, index=True)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))


class VisitLog(Tombstoned, Versioned, Base):
    """A home visit as the phone logged it: a check-in (with its fix), later a check-out (with its
    outcome). Stored as sent; ``flags`` are what reconciliation found (``sync.flags``)."""

    __tablename__ = "visit_log"
    __table_args__ = (
        one_of("status", VisitLogStatus),
        one_of("outcome", VisitOutcome),
        CheckConstraint("jsonb_typeof(flags) = 'array'", name="flags_array"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_file.id"), nullable=False, index=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    device_id: Mapped[uuid.UUID | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    checked_in_at: Mapped[datetime] = mapped_column(nullable=False)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    altitude_m: Mapped[float | None] = mapped_column(Float)
    distance_m: Mapped[float | None] = mapped_column(Float)
    checked_out_at: Mapped[datetime | None] = mapped_column()
    outcome: Mapped[str | None] = mapped_column(String(32))
    out_latitude: Mapped[float | None] = mapped_column(Float)
    out_longitude: Mapped[float | None] = mapped_column(Float)
    out_accuracy_m: Mapped[float | None] = mapped_column(Float)
    flags: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    truancy: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    """The student's truancy status at the visit date (the ``as_of`` answer), as context."""


class FormPhoto(Tombstoned, Versioned, Base):
    """A photo of a signed form, registered by the phone that took it; the file follows by upload."""

    __tablename__ = "form_photo"
    __table_args__ = (
        one_of("form_type", FormType),
        one_of("upload_status", UploadStatus),
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
        CheckConstraint("size > 0", name="size_positive"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_file.id"), nullable=False, index=True)
    visit_log_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("visit_log.id"), index=True)
    form_type: Mapped[str] = mapped_column(String(32), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    taken_at: Mapped[datetime] = mapped_column(nullable=False)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    device_id: Mapped[uuid.UUID | None] = mapped_column()
    upload_status: Mapped[str] = mapped_column(String(16), nullable=False)
    upload_error: Mapped[str | None] = mapped_column(String(64))
    exif_latitude: Mapped[float | None] = mapped_column(Float)
    exif_longitude: Mapped[float | None] = mapped_column(Float)


class FollowUp(Versioned, Base):
    """A task with a due date: a parent meeting the rules require, or a case manager's follow-up."""

    __tablename__ = "follow_up"
    __table_args__ = (
        one_of("kind", FollowUpKind),
        one_of("status", FollowUpStatus),
        CheckConstraint("jsonb_typeof(flags) = 'array'", name="flags_array"),
    )

    student_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("student.id"), nullable=False, index=True)
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("case_file.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    due_on: Mapped[date] = mapped_column(Date, nullable=False)
    trigger_day: Mapped[date | None] = mapped_column(Date)
    completed_at: Mapped[datetime | None] = mapped_column()
    completed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8), nullable=False, default=FollowUpStatus.OPEN, server_default="open")
    """``open`` or ``done``: what a phone syncs. Derived from ``completed_at`` by a trigger
    (migration 0008) on every write, so a writer that sets only ``completed_at`` keeps it right."""
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    """Who scheduled it (``follow_up.schedule``, the API); ``None`` for one the rules made."""
    rescheduled: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    """Every earlier due date: ``[{from, to, reason, by}]``, oldest first (``follow_up.reschedule``)."""
    flags: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    """What a phone's ``follow_up.schedule`` broke (``schemas.casework.CaseworkFlag``: ``case_closed``),
    as the other casework records keep it; ``[]`` for one the rules or the API made."""


class ServiceReferral(Versioned, Base):
    """A referral of the family to a community resource: one of the district's directory
    (``resource_id``) or one named by hand (``resource_name`` alone). Made on a phone
    (``service_referral.create``) or through ``POST /cases/{id}/service-referrals``; synced."""

    __tablename__ = "service_referral"
    __table_args__ = (
        one_of("status", ServiceReferralStatus),
        one_of("factor", Factor),
        CheckConstraint("jsonb_typeof(flags) = 'array'", name="flags_array"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_file.id"), nullable=False, index=True)
    resource_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("resource.id"), index=True)
    resource_name: Mapped[str] = mapped_column(String(200), nullable=False)
    category: Mapped[str | None] = mapped_column(String(64))
    factor: Mapped[str | None] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(nullable=False)
    referred_on: Mapped[date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=ServiceReferralStatus.MADE)
    status_at: Mapped[datetime | None] = mapped_column()
    """When the status last changed, as the phone says (data only)."""
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    device_id: Mapped[uuid.UUID | None] = mapped_column()
    flags: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    updates: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    """Every status change, oldest first: ``[{at, status, note, by}]`` (``service_referral.update``);
    ``note`` stays the one written when the referral was made."""

    @property
    def resource(self) -> str:
        """The REST API's name for ``resource_name``."""
        return self.resource_name


class Assessment(Versioned, Base):
    """Why the child misses school, as the case manager assessed it with the family: the factors
    (``schemas.casework.Factor``), the main one, strengths and the student's own words. A case has
    a history: the first assessment, then reassessments; the same id saved again is an edit."""

    __tablename__ = "assessment"
    __table_args__ = (
        one_of("primary_factor", Factor),
        CheckConstraint("jsonb_typeof(factors) = 'array'", name="factors_array"),
        CheckConstraint("jsonb_typeof(flags) = 'array'", name="flags_array"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_file.id"), nullable=False, index=True)
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    at: Mapped[datetime] = mapped_column(nullable=False)
    factors: Mapped[list[Any]] = mapped_column(JSONB, nullable=False)
    primary_factor: Mapped[str | None] = mapped_column(String(40))
    visit_log_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("visit_log.id"))
    strengths: Mapped[str | None] = mapped_column(Text)
    student_voice: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    flags: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    device_id: Mapped[uuid.UUID | None] = mapped_column()


class ParentMeeting(Versioned, Base):
    """A meeting with the family about attendance (CGS 10-198a requires one within 10 school days
    of the 4th unexcused absence in a month or the 10th in a year). Insert-only; recording it
    completes the student's open ``parent_meeting`` follow-ups the rules made by then."""

    __tablename__ = "parent_meeting"
    __table_args__ = (
        one_of("place", MeetingPlace),
        CheckConstraint("jsonb_typeof(attendees) = 'array'", name="attendees_array"),
        CheckConstraint("jsonb_typeof(flags) = 'array'", name="flags_array"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_file.id"), nullable=False, index=True)
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    held_at: Mapped[datetime] = mapped_column(nullable=False)
    place: Mapped[str] = mapped_column(String(16), nullable=False)
    attendees: Mapped[list[Any]] = mapped_column(JSONB, nullable=False)
    interpreter: Mapped[bool] = mapped_column(nullable=False)
    policy_discussed: Mapped[bool] = mapped_column(nullable=False)
    language: Mapped[str | None] = mapped_column(String(35))
    agreements: Mapped[str | None] = mapped_column(Text)
    next_meeting_on: Mapped[date | None] = mapped_column(Date)
    flags: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    device_id: Mapped[uuid.UUID | None] = mapped_column()
