"""The casework a case manager does after the first contact: why the child misses school (the
assessment), the community resources she refers the family to, the parent meeting the law
requires, and follow-ups.

The assessment uses the root-cause frame attendance programs use (Attendance Works, "Root Causes
of Chronic Absence"): **barriers** (what keeps a child from getting to school), **aversion**
(negative school experiences the child avoids), **disengagement** (school does not hold the child),
and **misconceptions** (what the family believes about absences). The factor codes are a contract
with phones: never rename one; a new one is added at the end of its category.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Annotated

import msgspec


class FactorCategory(enum.StrEnum):
    BARRIERS = "barriers"
    AVERSION = "aversion"
    DISENGAGEMENT = "disengagement"
    MISCONCEPTIONS = "misconceptions"
    OTHER = "other"


class Factor(enum.StrEnum):
    # barriers
    TRANSPORTATION = "transportation"
    STUDENT_ILLNESS = "student_illness"
    CHRONIC_HEALTH_CONDITION = "chronic_health_condition"
    FAMILY_ILLNESS = "family_illness"
    CARING_FOR_FAMILY = "caring_for_family"
    HOUSING_INSTABILITY = "housing_instability"
    FOOD_INSECURITY = "food_insecurity"
    CLOTHING_OR_SUPPLIES = "clothing_or_supplies"
    FAMILY_WORK_SCHEDULE = "family_work_schedule"
    UNSAFE_ROUTE = "unsafe_route"
    LEGAL_OR_IMMIGRATION = "legal_or_immigration"
    # aversion
    BULLYING = "bullying"
    PEER_CONFLICT = "peer_conflict"
    SCHOOL_DISCIPLINE = "school_discipline"
    ACADEMIC_DIFFICULTY = "academic_difficulty"
    ANXIETY_OR_MENTAL_HEALTH = "anxiety_or_mental_health"
    CONFLICT_WITH_STAFF = "conflict_with_staff"
    UNMET_SPECIAL_NEEDS = "unmet_special_needs"
    # disengagement
    NO_CARING_ADULT = "no_caring_adult"
    NOT_CONNECTED_TO_LEARNING = "not_connected_to_learning"
    PEERS_OUT_OF_SCHOOL = "peers_out_of_school"
    STUDENT_EMPLOYMENT = "student_employment"
    SUBSTANCE_USE = "substance_use"
    # misconceptions
    EXCUSED_ABSENCES_DONT_MATTER = "excused_absences_dont_matter"
    UNAWARE_OF_ABSENCE_COUNT = "unaware_of_absence_count"
    SPORADIC_ABSENCES_DONT_MATTER = "sporadic_absences_dont_matter"
    UNAWARE_OF_LAW = "unaware_of_law"
    OTHER = "other"


_B, _A, _D, _M = (
    FactorCategory.BARRIERS,
    FactorCategory.AVERSION,
    FactorCategory.DISENGAGEMENT,
    FactorCategory.MISCONCEPTIONS,
)
FACTORS: dict[Factor, tuple[FactorCategory, str]] = {
    Factor.TRANSPORTATION: (_B, "No reliable way to get to school"),
    Factor.STUDENT_ILLNESS: (_B, "The student is often sick"),
    Factor.CHRONIC_HEALTH_CONDITION: (_B, "A chronic health condition (asthma, diabetes, ...)"),
    Factor.FAMILY_ILLNESS: (_B, "Illness in the family"),
    Factor.CARING_FOR_FAMILY: (_B, "Caring for a sibling or another family member"),
    Factor.HOUSING_INSTABILITY: (_B, "Housing instability or homelessness"),
    Factor.FOOD_INSECURITY: (_B, "Not enough food at home"),
    Factor.CLOTHING_OR_SUPPLIES: (_B, "No clean clothes, uniform or supplies"),
    Factor.FAMILY_WORK_SCHEDULE: (_B, "A parent's work schedule"),
    Factor.UNSAFE_ROUTE: (_B, "An unsafe way to school"),
    Factor.LEGAL_OR_IMMIGRATION: (_B, "Legal or immigration worries"),
    Factor.BULLYING: (_A, "Bullying"),
    Factor.PEER_CONFLICT: (_A, "Conflict with other students"),
    Factor.SCHOOL_DISCIPLINE: (_A, "Suspensions or other school discipline"),
    Factor.ACADEMIC_DIFFICULTY: (_A, "Struggling with schoolwork"),
    Factor.ANXIETY_OR_MENTAL_HEALTH: (_A, "Anxiety or another mental health need"),
    Factor.CONFLICT_WITH_STAFF: (_A, "Conflict with a teacher or other staff"),
    Factor.UNMET_SPECIAL_NEEDS: (_A, "Special education or disability needs not met"),
    Factor.NO_CARING_ADULT: (_D, "No caring adult at school"),
    Factor.NOT_CONNECTED_TO_LEARNING: (_D, "Not connected to what is taught"),
    Factor.PEERS_OUT_OF_SCHOOL: (_D, "Friends who are out of school"),
    Factor.STUDENT_EMPLOYMENT: (_D, "The student works"),
    Factor.SUBSTANCE_USE: (_D, "Alcohol or drug use"),
    Factor.EXCUSED_ABSENCES_DONT_MATTER: (_M, "Believes excused absences do not matter"),
    Factor.UNAWARE_OF_ABSENCE_COUNT: (_M, "Did not know how many days were missed"),
    Factor.SPORADIC_ABSENCES_DONT_MATTER: (_M, "Believes a day here and there does not matter"),
    Factor.UNAWARE_OF_LAW: (_M, "Did not know the attendance law"),
    Factor.OTHER: (FactorCategory.OTHER, "Something else (see the notes)"),
}


class FactorOut(msgspec.Struct):
    code: Factor
    category: FactorCategory
    label: str


def factor_list() -> list[FactorOut]:
    """Every factor, in the order above (grouped by category): ``GET /assessment-factors``."""
    return [FactorOut(code, category, label) for code, (category, label) in FACTORS.items()]


class ServiceReferralStatus(enum.StrEnum):
    """Where a referral to a resource stands: ``made`` (the family was referred), then
    ``connected`` (they got the service), ``not_connected`` (they tried and did not) or
    ``declined`` (they did not want it)."""

    MADE = "made"
    CONNECTED = "connected"
    NOT_CONNECTED = "not_connected"
    DECLINED = "declined"


class MeetingPlace(enum.StrEnum):
    HOME = "home"
    SCHOOL = "school"
    PHONE = "phone"
    VIDEO = "video"
    OTHER = "other"


class CaseworkFlag(enum.StrEnum):
    """What the server found on a casework record it stored anyway (a business rule broken is
    flagged, never refused). ``case_closed`` and ``time_in_future`` are the visit flags' words."""

    CASE_CLOSED = "case_closed"
    RESOURCE_INACTIVE = "resource_inactive"
    TIME_IN_FUTURE = "time_in_future"
    NO_MEETING_DUE = "no_meeting_due"
    """A parent meeting recorded when the student had no open parent-meeting follow-up."""


# --- resources (the district's directory) --------------------------------------------------------

LanguageTag = Annotated[str, msgspec.Meta(min_length=2, max_length=35, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
"""A BCP 47 language tag (``en``, ``es``, ``pt-BR``)."""
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]


class ResourceIn(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A resource as office staff write it (``POST /resources``, ``PUT /resources/{id}``, a CSV row)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    factors: list[Factor] = msgspec.field(default_factory=list)
    languages: list[LanguageTag] = msgspec.field(default_factory=lambda: ["en"])
    address: Annotated[str, msgspec.Meta(max_length=300)] | None = None
    phone: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    website: Annotated[str, msgspec.Meta(max_length=300)] | None = None
    hours: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    active: bool = True


class ResourceCreate(ResourceIn, kw_only=True, omit_defaults=True):
    id: uuid.UUID | None = None
    """Made by the client for an idempotent retry; the server makes one when it is left out."""


class ResourceOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    factors: list[Factor]
    languages: list[str]
    address: str | None
    phone: str | None
    website: str | None
    hours: str | None
    latitude: float | None
    longitude: float | None
    active: bool
    version: int


# --- API views of a case's casework ----------------------------------------------------------------


class AssessmentOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    case_id: uuid.UUID
    author_id: uuid.UUID | None
    at: datetime
    factors: list[Factor]
    primary_factor: Factor | None
    visit_log_id: uuid.UUID | None
    strengths: str | None
    student_voice: str | None
    notes: str | None
    flags: list[str]
    version: int


class ParentMeetingOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    case_id: uuid.UUID
    author_id: uuid.UUID | None
    held_at: datetime
    place: MeetingPlace
    attendees: list[str]
    interpreter: bool
    policy_discussed: bool
    language: str | None
    agreements: str | None
    next_meeting_on: date | None
    flags: list[str]
    version: int
