"""The dashboard (``GET /dashboard`` and the console's Dashboard): how the program is doing, in
the reader's scope (a supervisor: her team's; office staff and admins: the district)."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

import msgspec

from schemas.cases import CaseOutcome, CaseStatus
from schemas.visits import SupervisorTurnaround

WINDOW_SCHOOL_DAYS = 30
"""School days counted before and after a case's opening."""
TURNAROUND_DAYS = 30
"""Decisions of the last this many days make the turnaround."""


class DashboardScope(enum.StrEnum):
    TEAM = "team"
    """A supervisor's: her team's cases, visits and conflicts (and the unassigned referred cases)."""
    DISTRICT = "district"


class StatusCount(msgspec.Struct, kw_only=True):
    status: CaseStatus
    cases: int


class ClosedCase(msgspec.Struct, kw_only=True):
    """A closed case and the student's unexcused absences in the school days before the day it
    opened, and in as many from that day on (the after window ends before today if it has not run
    its length)."""

    case_id: uuid.UUID
    student_id: uuid.UUID
    case_manager_id: uuid.UUID | None
    opened_on: date
    closed_at: datetime | None
    outcome: CaseOutcome | None
    school_days_before: int
    """School days in the window before (fewer than the window when the calendar has fewer)."""
    unexcused_before: int
    school_days_after: int
    unexcused_after: int


class BeforeAfter(msgspec.Struct, kw_only=True):
    """Cases closed since ``since`` (the start of the school year in progress, or of the last one),
    each with its counts, and the totals and averages per case."""

    window_school_days: int
    school_year: str | None
    since: date | None
    cases: list[ClosedCase]
    unexcused_before: int
    unexcused_after: int
    mean_before: float | None
    mean_after: float | None
    complete_after: int
    """Cases whose after window has run its full length."""


class Dashboard(msgspec.Struct, kw_only=True):
    """Counts in the reader's scope, as of ``generated_at``. Days and weeks are the district's
    (``time_zone``, ``DOORSTEP_TIME_ZONE``)."""

    scope: DashboardScope
    generated_at: datetime
    time_zone: str
    open_cases: list[StatusCount]
    """Every status but ``closed``, in lifecycle order, zeros included."""
    open_cases_total: int
    week_starts: datetime
    """Monday 00:00 of this week, in ``time_zone``."""
    visits_this_week: int
    """Visit logs checked in since ``week_starts``."""
    approvals_waiting: int
    """Visits submitted and not decided (the approvals queue)."""
    oldest_waiting_since: datetime | None
    turnaround_since: datetime
    turnaround: list[SupervisorTurnaround]
    """Per reviewer, submission to decision, over decisions since ``turnaround_since``."""
    conflicts_open: int
    overdue_parent_meetings: int
    before_after: BeforeAfter
