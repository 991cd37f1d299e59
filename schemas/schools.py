"""School years as listed for admins: the id the rules routes take, the days, the rules in force."""

from __future__ import annotations

import uuid
from datetime import date

import msgspec

from schemas.rules import RulePreset, RuleValues


class RulesInForce(msgspec.Struct, kw_only=True):
    version: int
    """0: nothing stored yet, the program's defaults apply."""
    preset: RulePreset
    values: RuleValues


class SchoolYearOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    """The id of ``/school-years/{id}/rules``."""
    name: str
    """e.g. ``2025-2026``."""
    starts_on: date
    ends_on: date
    """The year's span for the rules: its first and last instructional day once a calendar is
    imported (July 1 and June 30 before)."""
    first_instructional_day: date | None
    last_instructional_day: date | None
    """Across schools; null until a calendar is imported."""
    rules: RulesInForce
