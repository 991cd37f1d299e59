"""Enumerations of the case domain, shared by the API and the phone protocol."""

from __future__ import annotations

import enum


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
    DRAFT = "draft"
    SUBMITTED = "submitted"


class ReferralStatus(enum.StrEnum):
    ELIGIBLE = "eligible"
    INELIGIBLE = "ineligible"
    OVERRIDDEN = "overridden"


class FollowUpKind(enum.StrEnum):
    PARENT_MEETING = "parent_meeting"
    FOLLOW_UP = "follow_up"
