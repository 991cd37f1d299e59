"""Family letters: tiered attendance letters in the family's language (docs/letters.md).

The letters follow two large randomized trials. Rogers & Feller (2018, Nature Human Behaviour)
cut chronic absence by telling parents their child's *total* absences, which parents underestimate,
beside those of the child's classmates. Lasky-Fink, Robinson, Chang & Rogers found a truancy notice
in plain language about 40% more effective than the legalistic one: it says what the parent can do,
and how each day adds up. So every letter says the total, the unexcused days with their dates, the
median of the student's grade at the same school, why each day matters, and the program's seven
tips; a truancy notice adds the parent meeting CGS 10-198a requires.

The kind codes, the paths and the fields of ``LetterOut`` are a contract with phones and the office.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Annotated

import msgspec


class LetterKind(enum.StrEnum):
    ATTENDANCE_NOTICE = "attendance_notice"
    """Early: a few unexcused absences, before the student is truant."""
    TRUANCY_NOTICE = "truancy_notice"
    """The student became truant; carries the parent-meeting invitation (CGS 10-198a)."""
    HABITUAL_TRUANCY_NOTICE = "habitual_truancy_notice"
    CHRONIC_ABSENCE_NOTICE = "chronic_absence_notice"
    """Absent (for any reason) a tenth of the enrolled days or more."""
    CUSTOM = "custom"
    """A case manager's own text, never due by a rule."""


class LetterStatus(enum.StrEnum):
    REQUESTED = "requested"
    """Asked for from a phone (``letter.request``); the office's next batch makes it."""
    READY = "ready"
    """Made: its content is fixed as of its date, its PDF can be printed."""
    MAILED = "mailed"
    RETURNED = "returned"
    """Came back undelivered: the household's address is flagged for review."""


class DueWhen(enum.StrEnum):
    COUNTS = "counts"
    """Unexcused absences reach ``monthly`` in a month (as the rule set reads a month) or ``yearly``
    in the school year."""
    TRUANT = "truant"
    """The rules engine says truant (its monthly or yearly rule fired)."""
    HABITUAL = "habitual"
    CHRONIC = "chronic"
    NEVER = "never"
    """Only when a person asks for it."""


class DueRule(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    when: DueWhen
    monthly: Annotated[int, msgspec.Meta(ge=1, le=400)] | None = None
    yearly: Annotated[int, msgspec.Meta(ge=1, le=400)] | None = None


class LetterKindConfig(msgspec.Struct, kw_only=True, frozen=True):
    kind: LetterKind
    rule: DueRule
    rank: int
    """Gravity: a student is due a kind only while no letter of the same or a graver rank was made
    for her this school year, and one batch gives her at most one letter, the gravest due."""
    active: bool = True


DEFAULT_KINDS: tuple[LetterKindConfig, ...] = (
    LetterKindConfig(kind=LetterKind.ATTENDANCE_NOTICE, rule=DueRule(when=DueWhen.COUNTS, monthly=3, yearly=7), rank=1),
    LetterKindConfig(kind=LetterKind.CHRONIC_ABSENCE_NOTICE, rule=DueRule(when=DueWhen.CHRONIC), rank=2),
    LetterKindConfig(kind=LetterKind.TRUANCY_NOTICE, rule=DueRule(when=DueWhen.TRUANT), rank=3),
    LetterKindConfig(kind=LetterKind.HABITUAL_TRUANCY_NOTICE, rule=DueRule(when=DueWhen.HABITUAL), rank=4),
    LetterKindConfig(kind=LetterKind.CUSTOM, rule=DueRule(when=DueWhen.NEVER), rank=0),
)


class LetterKindOut(msgspec.Struct, kw_only=True):
    """``GET /letter-kinds``: a kind, its due-rule in words, for one school year."""

    kind: LetterKind
    rule: DueRule
    rank: int
    active: bool
    description: str
    school_year: str


# --- what a letter says ------------------------------------------------------------------------


class Letterhead(msgspec.Struct, kw_only=True, frozen=True):
    """The district's letterhead (``DOORSTEP_LETTERHEAD_*`` settings)."""

    name: str
    program: str = ""
    address_lines: list[str] = msgspec.field(default_factory=list)
    phone: str = ""
    website: str = ""


class Sibling(msgspec.Struct, kw_only=True, frozen=True):
    first_name: str
    school: str
    absences: int


class LetterContent(msgspec.Struct, kw_only=True, frozen=True):
    """Everything one letter prints, gathered from the database as of ``as_of`` and stored with the
    letter (what was said to the family is kept; its PDF is the same every time it is made).
    Language-neutral: the renderer words it in ``language`` with the message catalogs."""

    kind: LetterKind
    language: str
    """The catalog the letter is written in: ``en``, ``es``, ``pt`` (BCP 47)."""
    as_of: date
    """The letter's date; every count is as of this day."""
    letterhead: Letterhead
    guardian_name: str | None
    """The addressee; without one the letter goes "To the family of" the student."""
    address_lines: list[str]
    """The household's postal address, a line each, for the envelope's window."""
    student_first_name: str
    school: str
    grade: str | None
    total_absences: int
    """Every absence of the school year so far, excused or not."""
    unexcused_dates: list[date]
    """The unexcused absences' days; ``len`` is the unexcused count."""
    classmates_median: float | None
    """The median of total absences of the students in the same grade at the same school (None
    when the student has no classmates with data)."""
    classmates: int = 0
    """How many students that median is taken over."""
    enrolled_days: int = 0
    meeting_at: datetime | None = None
    """The proposed parent meeting, in the district's local time (naive)."""
    meeting_place: str | None = None
    meeting_due_on: date | None = None
    """The day by which the law wants the meeting held (truancy notice)."""
    case_manager_name: str | None = None
    case_manager_phone: str | None = None
    siblings: list[Sibling] = msgspec.field(default_factory=list)
    body: str | None = None
    """A custom letter's own text (plain text; paragraphs split by blank lines)."""


# --- the API ---------------------------------------------------------------------------------------

Id = uuid.UUID
ShortText = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
Body = Annotated[str, msgspec.Meta(min_length=1, max_length=5000)]


class LetterCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``POST /cases/{id}/letters``. ``body`` is for ``custom`` only (and required there)."""

    id: Id
    kind: LetterKind
    language: Annotated[str, msgspec.Meta(min_length=2, max_length=35)] | None = None
    meeting_at: datetime | None = None
    meeting_place: ShortText | None = None
    body: Body | None = None


class LetterOut(msgspec.Struct, kw_only=True):
    id: Id
    case_id: Id | None
    student_id: Id
    kind: LetterKind
    language: str | None
    fallback: bool
    """The household's language has no catalog: written in English, so the office can add an
    interpreter's note."""
    status: LetterStatus
    as_of: date | None
    created_at: datetime
    created_by: Id | None
    requested_language: str | None = None
    """What the household's record (or the request) said, before normalisation."""
    batch_id: Id | None = None
    mailed_at: datetime | None = None
    returned_at: datetime | None = None
    returned_note: str | None = None
    note: str | None = None
    meeting_at: datetime | None = None
    meeting_place: str | None = None


class LetterMailed(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    at: datetime | None = None


class LetterReturned(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    at: datetime | None = None
    note: Annotated[str, msgspec.Meta(max_length=1000)] | None = None


class BatchStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class LetterBatchCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: Id
    as_of: date
    kinds: list[LetterKind] | None = None


class LetterBatchOut(msgspec.Struct, kw_only=True):
    id: Id
    as_of: date
    kinds: list[LetterKind] | None
    status: BatchStatus
    done: int
    total: int
    letters: list[Id]
    created_at: datetime
    created_by: Id | None
    error: str | None = None
    mailed_at: datetime | None = None
