"""A student's truancy status on a date, with the explanation behind it."""

from __future__ import annotations

import enum
import uuid
from datetime import date

import msgspec

from schemas.attendance import AbsenceClass, AbsenceWhy, WellnessStatus
from schemas.rules import Rule, RuleSetOut


class Absence(msgspec.Struct, kw_only=True, omit_defaults=True):
    day: date
    school_id: uuid.UUID
    classification: AbsenceClass
    why: AbsenceWhy
    reason_code: str | None = None
    number: int | None = None
    """This absence's place in the year (disciplinary absences are not numbered)."""
    minutes_present: int | None = None
    minutes_scheduled: int | None = None
    present_half_day: bool | None = None
    tardy: bool = False
    documentation_received_on: date | None = None
    documentation_deadline: date | None = None
    wellness: WellnessStatus | None = None


class MonthCount(msgspec.Struct, kw_only=True):
    month: str
    """``YYYY-MM``"""
    absences: int
    unexcused: int
    excused: int
    pending: int
    disciplinary: int


class RuleResult(msgspec.Struct, kw_only=True):
    rule: Rule
    fired: bool
    threshold: float
    count: float
    """Unexcused absences counted (the highest month or window for ``monthly``); a percentage for ``chronic``."""
    trigger_day: date | None = None
    """The absence that made the rule fire (``monthly``, ``yearly``, ``habitual``)."""
    dates: list[date] = msgspec.field(default_factory=list)
    """The absences that count toward the rule (for ``monthly``, those of the month or window that fired)."""
    explanation: str = ""


class Episode(msgspec.Struct, kw_only=True, omit_defaults=True):
    rule: Rule
    became_on: date
    detected_on: date
    ended_on: date | None = None
    end_reason: str | None = None


class TruancyReport(msgspec.Struct, kw_only=True):
    student_id: uuid.UUID
    as_of: date
    school_year: str
    truant: bool
    """Four unexcused absences in one month (or 30 days), or the yearly threshold."""
    habitual: bool
    chronic: bool
    rules: list[RuleResult]
    absences: list[Absence]
    months: list[MonthCount]
    enrolled_days: int
    absence_count: int
    unexcused_count: int
    absence_percent: float
    rule_set: RuleSetOut
    episodes: list[Episode] = msgspec.field(default_factory=list)
    """Recorded transitions of this school year (as of the last evaluation run)."""


class TruantStatus(msgspec.Struct, kw_only=True):
    """Why a student is truant on ``as_of``: each rule that fired, with its count and trigger (a row
    of a list; the absences themselves are in the student's ``TruancyReport``, so ``dates`` of
    each rule is left empty here)."""

    student_id: uuid.UUID
    as_of: date
    school_year: str
    became_truant_on: date
    """The first trigger: the absence that made the first of these rules fire."""
    unexcused_count: int
    rules: list[RuleResult]
    """The rules that fired: ``monthly``, ``yearly``, ``habitual``, in that order."""


class TruancyStatus(enum.StrEnum):
    """A student's standing in one word, the gravest first: ``habitual`` (the habitual rule fired),
    ``truant`` (monthly or yearly), ``chronic`` (chronically absent only), ``none``."""

    HABITUAL = "habitual"
    TRUANT = "truant"
    CHRONIC = "chronic"
    NONE = "none"


class SummaryMonth(msgspec.Struct, kw_only=True):
    month: str
    """``YYYY-MM``; every month of the school year through ``as_of``, none left out."""
    absences: int
    unexcused: int


class TruancySummary(msgspec.Struct, kw_only=True):
    """A case's ``truancy`` in a pull: its student as of the last evaluation (docs/protocol.md)."""

    as_of: date
    school_year: str
    status: TruancyStatus
    rules: list[Rule]
    """The rules that fired, in ``Rule`` order."""
    unexcused: int
    absences: int
    absence_percent: float
    """Absences per enrolled school day, in per cent, one decimal."""
    months: list[SummaryMonth]
