"""Attendance vocabulary: the reason codes schools export, and how Doorstep classifies absences.

The rules behind them are explained in docs/rules.md (State Board of Education definitions
under CGS 10-198b; Public Act 21-46 §19 for mental health wellness days).
"""

from __future__ import annotations

import enum


class ReasonCode(enum.StrEnum):
    """Why a student was absent, as the school's system codes it (``reason_code`` on import).

    The first group is excusable at any point of the year with timely documentation (the
    state's list for the 10th absence on). The second is excusable only for absences 1-9,
    when the parent approves in writing. Disciplinary codes are neither excused nor unexcused.
    """

    # Excusable for any absence of the year (with documentation).
    ILLNESS_VERIFIED = "illness_verified"
    """Illness verified by a licensed medical professional."""
    RELIGIOUS = "religious"
    """Observance of a religious holiday."""
    FAMILY_EMERGENCY = "family_emergency"
    """Death in the family, or another emergency beyond the family's control."""
    COURT = "court"
    """A mandated court appearance."""
    TRANSPORTATION = "transportation"
    """No transportation, where another district normally provides it."""
    EDUCATIONAL_OPPORTUNITY = "educational_opportunity"
    """An extraordinary educational opportunity approved in advance."""
    # Excusable for absences 1-9 only (any reason the parent approves).
    ILLNESS = "illness"
    """Illness with a parent's note (no medical verification)."""
    APPOINTMENT = "appointment"
    FAMILY = "family"
    """Family reasons: travel, care of a sibling, and the like."""
    PARENT_APPROVED = "parent_approved"
    """Any other reason the parent approves in writing."""
    # Special.
    MENTAL_HEALTH_DAY = "mental_health_day"
    """A mental health wellness day (two a year, not on consecutive school days, no documentation)."""
    SUSPENSION = "suspension"
    """Out-of-school suspension: disciplinary."""
    EXPULSION = "expulsion"
    """Expulsion: disciplinary."""
    UNEXCUSED = "unexcused"
    """The school recorded no acceptable reason. Documentation may still arrive in the window."""


EXCUSABLE_ANY_TIME: frozenset[ReasonCode] = frozenset(
    {
        ReasonCode.ILLNESS_VERIFIED,
        ReasonCode.RELIGIOUS,
        ReasonCode.FAMILY_EMERGENCY,
        ReasonCode.COURT,
        ReasonCode.TRANSPORTATION,
        ReasonCode.EDUCATIONAL_OPPORTUNITY,
    }
)
DISCIPLINARY: frozenset[ReasonCode] = frozenset({ReasonCode.SUSPENSION, ReasonCode.EXPULSION})


class AbsenceClass(enum.StrEnum):
    EXCUSED = "excused"
    UNEXCUSED = "unexcused"
    DISCIPLINARY = "disciplinary"
    PENDING = "pending"
    """Documentation may still arrive: the 10-school-day window is open (or has not opened)."""


class AbsenceWhy(enum.StrEnum):
    """Why an absence got its classification."""

    DISCIPLINARY = "disciplinary"
    WELLNESS_DAY = "wellness_day"
    """One of the year's mental health wellness days: excused without documentation."""
    DOCUMENTED = "documented"
    """Documentation arrived within the window, for a reason that counts at this absence's tier."""
    REASON_NOT_ACCEPTED = "reason_not_accepted"
    """Documented in time, but from the 10th absence on this reason does not excuse."""
    DOCUMENTED_LATE = "documented_late"
    NO_DOCUMENTATION = "no_documentation"
    """The window closed with no documentation."""
    WINDOW_OPEN = "window_open"
    """The student returned; documentation may still arrive until the deadline."""
    NOT_RETURNED = "not_returned"
    """The student has not returned yet, so the window has not opened."""


class WellnessStatus(enum.StrEnum):
    """For an absence coded ``mental_health_day``."""

    ALLOWED = "allowed"
    CONSECUTIVE = "consecutive"
    """On the school day after another wellness day: an ordinary absence."""
    OVER_LIMIT = "over_limit"
    """Past the year's allowance: an ordinary absence."""
