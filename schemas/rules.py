"""Truancy rule sets: thresholds and readings, stored per school year and versioned."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Annotated

import msgspec


class MonthReading(enum.StrEnum):
    CALENDAR = "calendar"
    """Unexcused absences within one calendar month."""
    ROLLING30 = "rolling30"
    """Unexcused absences within any 30 consecutive calendar days."""


class RulePreset(enum.StrEnum):
    PROGRAM = "program"
    """The Truancy Prevention Program: 4 a month or 11 a year."""
    CONNECTICUT = "connecticut"
    """The state's numbers (CGS 10-198a): 4 a month or 10 a year."""
    CUSTOM = "custom"


class Rule(enum.StrEnum):
    MONTHLY = "monthly"
    YEARLY = "yearly"
    HABITUAL = "habitual"
    CHRONIC = "chronic"


PositiveInt = Annotated[int, msgspec.Meta(ge=1, le=400)]


class RuleValues(msgspec.Struct, kw_only=True, frozen=True):
    monthly_threshold: PositiveInt = 4
    yearly_threshold: PositiveInt = 11
    habitual_threshold: PositiveInt = 20
    chronic_percent: Annotated[float, msgspec.Meta(gt=0, le=100)] = 10.0
    month_reading: MonthReading = MonthReading.CALENDAR
    documentation_window_days: PositiveInt = 10
    tier_boundary: PositiveInt = 10
    """From this absence of the year on, only the state's list of reasons excuses."""
    meeting_due_days: PositiveInt = 10
    """The parent meeting is due this many school days after the triggering absence."""
    wellness_days: Annotated[int, msgspec.Meta(ge=0, le=10)] = 2


PRESETS: dict[RulePreset, RuleValues] = {
    RulePreset.PROGRAM: RuleValues(),
    RulePreset.CONNECTICUT: RuleValues(yearly_threshold=10),
}


class RuleSetChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A change: start from ``preset`` (or the current values) and apply the given fields."""

    preset: RulePreset | None = None
    monthly_threshold: PositiveInt | None = None
    yearly_threshold: PositiveInt | None = None
    habitual_threshold: PositiveInt | None = None
    chronic_percent: Annotated[float, msgspec.Meta(gt=0, le=100)] | None = None
    month_reading: MonthReading | None = None
    documentation_window_days: PositiveInt | None = None
    tier_boundary: PositiveInt | None = None
    meeting_due_days: PositiveInt | None = None
    wellness_days: Annotated[int, msgspec.Meta(ge=0, le=10)] | None = None
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


class RuleSetOut(msgspec.Struct, kw_only=True):
    school_year_id: uuid.UUID
    school_year: str
    version: int
    """0: nothing stored yet, the program's defaults apply."""
    preset: RulePreset
    values: RuleValues
    created_at: datetime | None = None
    created_by: uuid.UUID | None = None
    note: str = ""
