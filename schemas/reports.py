"""The reports (``GET /reports`` and the console's Reports): what the casework found and did, in
the reader's scope (a supervisor: her team's cases; office staff and admins: the district), over
a period of days on the district's clock (by default the school year in progress).

- **Factors**: for each case, its latest assessment made in the period; how many cases name each
  factor, by school, and how many name at least one factor of each category.
- **Referrals**: referrals to services made in the period, by resource and where they stand now;
  the share connected is of all the resource's referrals.
- **Parent meetings**: the meetings the rules required (``parent_meeting`` follow-ups with a
  ``trigger_day``) whose trigger day falls in the period, each against its legal deadline: the
  rule set's ``meeting_due_days`` school days after the trigger day by the school's calendar (not
  the follow-up's ``due_on``, which a reschedule moves).
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

import msgspec

from schemas.casework import Factor, FactorCategory
from schemas.dashboard import DashboardScope


class SchoolCount(msgspec.Struct, kw_only=True):
    school_id: uuid.UUID | None
    """``None``: cases with no school on record."""
    cases: int


class SchoolOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    code: str
    name: str


class FactorRow(msgspec.Struct, kw_only=True):
    factor: Factor
    category: FactorCategory
    label: str
    cases: int
    """Cases whose latest assessment names it."""
    primary: int
    """Of those, the cases where it is the primary factor."""
    by_school: list[SchoolCount]
    """Only the schools with at least one case."""


class CategoryRow(msgspec.Struct, kw_only=True):
    category: FactorCategory
    cases: int
    """Cases whose latest assessment names at least one factor of the category."""
    by_school: list[SchoolCount]


class FactorsReport(msgspec.Struct, kw_only=True):
    cases_assessed: int
    """Cases with an assessment made in the period (each counted by its latest one)."""
    by_school: list[SchoolCount]
    """Those cases by school."""
    factors: list[FactorRow]
    """Every factor, in ``schemas.casework.FACTORS`` order (zeros included)."""
    categories: list[CategoryRow]
    """Every category, in order."""


class StatusCounts(msgspec.Struct, kw_only=True):
    made: int = 0
    connected: int = 0
    not_connected: int = 0
    declined: int = 0

    @property
    def total(self) -> int:
        return self.made + self.connected + self.not_connected + self.declined


class ResourceRow(msgspec.Struct, kw_only=True):
    resource_id: uuid.UUID | None
    """The directory's resource, or ``None`` for a resource named by hand."""
    resource_name: str
    statuses: StatusCounts
    total: int
    connected_share: float | None
    """Connected of all its referrals (0 to 1)."""


class ReferralsReport(msgspec.Struct, kw_only=True):
    resources: list[ResourceRow]
    """Most referred first."""
    statuses: StatusCounts
    total: int
    connected_share: float | None


class MeetingOutcome(enum.StrEnum):
    ON_TIME = "on_time"
    """Held (the follow-up completed) on or before the legal deadline."""
    LATE = "late"
    """Held after it."""
    OVERDUE = "overdue"
    """Not held, and the deadline has passed: late too."""
    PENDING = "pending"
    """Not held, the deadline not passed yet: not counted in the share."""


class MeetingCounts(msgspec.Struct, kw_only=True):
    required: int
    on_time: int
    late: int
    overdue: int
    pending: int
    on_time_share: float | None
    """``on_time`` of ``on_time + late + overdue`` (the meetings whose deadline is decided)."""
    median_school_days: float | None
    """From the trigger day to the meeting, of the meetings held."""


class MeetingSchoolRow(MeetingCounts, kw_only=True):
    school_id: uuid.UUID | None


class MeetingsReport(MeetingCounts, kw_only=True):
    meeting_due_days: list[int]
    """The deadlines in force over the period, in school days (one number unless a rule set changed it)."""
    by_school: list[MeetingSchoolRow]


class ReportPeriod(msgspec.Struct, kw_only=True):
    from_: date = msgspec.field(name="from")
    to: date
    school_year: str | None = None
    """The school year the period is, when it is the default (the school year in progress)."""


class Reports(msgspec.Struct, kw_only=True):
    scope: DashboardScope
    generated_at: datetime
    time_zone: str
    period: ReportPeriod
    schools: list[SchoolOut]
    """Every school the reports name, by name."""
    factors: FactorsReport
    referrals: ReferralsReport
    parent_meetings: MeetingsReport
