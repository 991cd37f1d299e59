"""Demo casework: the district's directory of community resources, and the work the case managers
did on their caseloads after the first contact.

- About 40 resources in Waterbury (invented names, addresses on the city's streets, coordinates
  in town, telephone numbers in the 555-01xx range kept for fiction, websites under
  example.org), each with the assessment factors it helps with and the languages it serves
  families in (every one English, many Spanish, some Portuguese); two are no longer active.
- An assessment of why the child misses school on most cases being worked (at a home visit where
  the family was met, else by phone, else with the student at school), its factors drawn as
  attendance programs find them (barriers most often, then aversion, disengagement and
  misconceptions less), a primary factor, strengths and the student's own words; some cases were
  reassessed weeks later.
- Referrals to resources in every status: most to the directory's resources that help with an
  assessed factor in the household's language, nearest to the home first; a few named by hand.
- The parent meetings the law requires, on cases whose student has a meeting deadline from the
  rules: most held in the case's first weeks, some not held yet (overdue). Some on time, many
  late: the rules date the deadline 10 school days after the absence that made the student
  truant, and an absence with no note counts as unexcused only once its documentation window
  closed, 10 school days after the return, so for such a student the deadline had passed before
  the rules said she was truant and her case could open (docs/rules.md). A student whose parents
  sent notes giving a reason the state does not accept past the ninth absence
  (``server.demo.district.PROMPT_NOTES``) was known truant within days, and her meeting can be on
  time. Recording one completes the deadline exactly as a phone's ``parent_meeting.record`` does
  (``sync.casework.parent_meeting_record``).
- Follow-ups the case managers scheduled: calls about referrals, follow-up meetings, home
  visits; some done, a few moved to another day, a few overdue.

Every time lies after its case opened (and before it closed) and before the demo's day.
Deterministic (seeded) and idempotent: resources are added by their fixed ids; the casework is
written once (nothing is added once any assessment exists).
"""

from __future__ import annotations

import math
import random
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cases import CaseStatus, ContactMethod, ContactOutcome, FollowUpKind, FollowUpStatus, VisitOutcome
from schemas.casework import FACTORS, Factor, FactorCategory, MeetingPlace, ServiceReferralStatus
from server.cases.models import Assessment, Case, ContactAttempt, FollowUp, ParentMeeting, ServiceReferral, VisitLog
from server.demo.cases import _uuid, insert_rows, row_of
from server.demo.district import DemoYear
from server.resources.models import Resource
from server.students.models import Guardian, Household, Student

Progress = Callable[[str, int, int], None]

WATERBURY = ZoneInfo("America/New_York")
"""Where the demo district is: its meetings and calls happen in the day there."""

F = Factor


@dataclass(frozen=True)
class DemoResource:
    key: str
    """Its id's seed and its website's name."""
    name: str
    kind: str
    """What a referral to it records as its category (the REST API's field)."""
    factors: tuple[Factor, ...]
    languages: tuple[str, ...]
    address: str
    hours: str
    latitude: float
    longitude: float
    active: bool = True

    @property
    def id(self) -> uuid.UUID:
        return _uuid("resource", self.key)


def _r(
    key: str,
    name: str,
    kind: str,
    factors: tuple[Factor, ...],
    languages: str,
    address: str,
    hours: str,
    where: tuple[float, float],
    active: bool = True,
) -> DemoResource:
    return DemoResource(key, name, kind, factors, tuple(languages.split()), address, hours, *where, active)


RESOURCES: tuple[DemoResource, ...] = (
    # food
    _r("elm-hollow-pantry", "Elm Hollow Community Pantry", "food", (F.FOOD_INSECURITY,), "en es",
       "212 Baldwin St, Waterbury, CT 06706", "Mon, Wed, Fri 10am-2pm", (41.5452, -73.0318)),
    _r("mad-river-family-table", "Mad River Family Table", "food", (F.FOOD_INSECURITY,), "en es pt",
       "95 East Main St, Waterbury, CT 06702", "Hot supper Mon-Fri 4:30-6pm; pantry Sat 9am-noon",
       (41.5561, -73.0352)),
    _r("weekend-backpacks", "Westside Weekend Backpacks", "food", (F.FOOD_INSECURITY,), "en es",
       "310 Highland Ave, Waterbury, CT 06708", "Bags go home with students every Friday",
       (41.5489, -73.0648)),
    _r("hillcrest-mobile-pantry", "Hillcrest Mobile Pantry", "food", (F.FOOD_INSECURITY,), "en es",
       "40 Hillcrest Ave, Waterbury, CT 06705", "The van stops at schools 2nd and 4th Tue 3-6pm", (41.5710, -73.0205)),
    # housing and family needs
    _r("tenant-help-line", "Brass City Tenant Help Line", "housing", (F.HOUSING_INSTABILITY,), "en es",
       "41 Leavenworth St, Waterbury, CT 06702", "Mon-Fri 9am-5pm; call for an appointment",
       (41.5570, -73.0430)),
    _r("safe-harbor-shelters", "Safe Harbor Family Shelter Network", "housing",
       (F.HOUSING_INSTABILITY, F.FOOD_INSECURITY), "en es",
       "128 Cherry St, Waterbury, CT 06702", "Intake line open 24 hours", (41.5598, -73.0398)),
    _r("open-door-rent-help", "Open Door Rent and Utility Assistance", "housing",
       (F.HOUSING_INSTABILITY, F.FOOD_INSECURITY), "en es pt",
       "560 Wolcott St, Waterbury, CT 06705", "Tue-Thu 9am-4pm", (41.5662, -73.0118)),
    _r("housing-liaison", "Student Housing Liaison Office", "housing",
       (F.HOUSING_INSTABILITY, F.TRANSPORTATION, F.CLOTHING_OR_SUPPLIES), "en es pt",
       "140 Grand St, Room 110, Waterbury, CT 06702", "Mon-Fri 8am-4pm", (41.5534, -73.0443)),
    # health
    _r("riverside-pediatrics", "Riverside Pediatric Health Center", "health",
       (F.STUDENT_ILLNESS, F.CHRONIC_HEALTH_CONDITION), "en es",
       "400 Riverside St, Waterbury, CT 06708", "Mon-Fri 8am-6pm; Sat 9am-1pm", (41.5482, -73.0521)),
    _r("eastside-clinic", "Eastside Community Clinic", "health",
       (F.STUDENT_ILLNESS, F.FAMILY_ILLNESS, F.CHRONIC_HEALTH_CONDITION), "en es pt",
       "1185 East Main St, Waterbury, CT 06705", "Mon-Thu 8am-7pm; Fri 8am-5pm", (41.5575, -73.0148)),
    _r("northgate-health-room", "Northgate School Health Room", "health",
       (F.STUDENT_ILLNESS, F.CHRONIC_HEALTH_CONDITION, F.ANXIETY_OR_MENTAL_HEALTH), "en es",
       "75 Bishop St, Waterbury, CT 06704", "School days 7:30am-3pm", (41.5668, -73.0381)),
    _r("breathe-easy", "Breathe Easy Asthma Home Visits", "health", (F.CHRONIC_HEALTH_CONDITION,), "en es",
       "22 Central Ave, Waterbury, CT 06702", "Home visits by appointment, Mon-Fri", (41.5580, -73.0412)),
    _r("smile-van", "Smile Mobile Dental Van", "health", (F.STUDENT_ILLNESS,), "en es",
       "18 Kendrick Ave, Waterbury, CT 06702", "Paused until further notice", (41.5505, -73.0370), active=False),
    # mental health
    _r("hillside-counseling", "Hillside Child and Family Counseling", "mental_health",
       (F.ANXIETY_OR_MENTAL_HEALTH, F.FAMILY_ILLNESS), "en es",
       "140 Hillside Ave, Waterbury, CT 06710", "Mon-Fri 9am-8pm", (41.5640, -73.0480)),
    _r("brookside-youth-counseling", "Brookside Youth Counseling Center", "mental_health",
       (F.ANXIETY_OR_MENTAL_HEALTH, F.BULLYING, F.PEER_CONFLICT), "en es pt",
       "880 Watertown Ave, Waterbury, CT 06708", "Mon-Fri 10am-7pm; walk-ins Wed", (41.5712, -73.0655)),
    _r("open-line-teens", "Open Line Teen Support", "mental_health",
       (F.ANXIETY_OR_MENTAL_HEALTH, F.SUBSTANCE_USE, F.NO_CARING_ADULT), "en es",
       "57 Prospect St, Waterbury, CT 06702", "Walk-in Mon-Fri 2-8pm; text line every day", (41.5563, -73.0395)),
    _r("parents-together", "Parents Together Support Circle", "family_support",
       (F.FAMILY_ILLNESS, F.CARING_FOR_FAMILY, F.ANXIETY_OR_MENTAL_HEALTH), "en es",
       "19 Willow St, Waterbury, CT 06710", "Thursdays 6-7:30pm, child care provided", (41.5615, -73.0520)),
    # getting to school
    _r("ride-to-school", "Ride to School Bus Pass Program", "transportation", (F.TRANSPORTATION,), "en es pt",
       "140 Grand St, Room 104, Waterbury, CT 06702", "Mon-Fri 8am-4pm", (41.5534, -73.0443)),
    _r("valley-volunteer-drivers", "Valley Volunteer Drivers", "transportation",
       (F.TRANSPORTATION, F.FAMILY_ILLNESS), "en",
       "703 Chase Ave, Waterbury, CT 06704", "Rides booked two days ahead, Mon-Fri", (41.5775, -73.0385)),
    _r("walking-school-bus", "Neighborhood Walking School Bus", "transportation",
       (F.TRANSPORTATION, F.UNSAFE_ROUTE), "en es",
       "Corner of Washington Ave and Baldwin St, Waterbury, CT 06706", "School mornings 7:15-8am",
       (41.5430, -73.0505)),
    _r("safe-passage", "Safe Passage Corner Volunteers", "transportation", (F.UNSAFE_ROUTE,), "en es pt",
       "301 Pine St, Waterbury, CT 06704", "School days 7-8:15am and 2:30-3:30pm", (41.5652, -73.0270)),
    _r("bike-co-op", "Town Plot Bike Co-op", "transportation", (F.TRANSPORTATION,), "en",
       "55 Bunker Hill Ave, Waterbury, CT 06708", "Closed for the season", (41.5595, -73.0710), active=False),
    # school work
    _r("brooklyn-homework-center", "Brooklyn Neighborhood Homework Center", "tutoring",
       (F.ACADEMIC_DIFFICULTY, F.NOT_CONNECTED_TO_LEARNING), "en es",
       "260 Bank St, Waterbury, CT 06702", "Mon-Thu 3-6pm", (41.5508, -73.0415)),
    _r("page-by-page", "Page by Page Reading Tutors", "tutoring", (F.ACADEMIC_DIFFICULTY,), "en es",
       "15 Field St, Waterbury, CT 06702", "Tue and Thu 3:30-5pm; Sat 10am-noon", (41.5548, -73.0462)),
    _r("saturday-academy", "Saturday Math and Science Academy", "tutoring",
       (F.ACADEMIC_DIFFICULTY, F.NOT_CONNECTED_TO_LEARNING), "en",
       "1 Scovill St, Waterbury, CT 06706", "Saturdays 9am-12:30pm", (41.5475, -73.0350)),
    _r("iep-family-advocates", "IEP Family Advocacy Center", "advocacy",
       (F.UNMET_SPECIAL_NEEDS, F.CONFLICT_WITH_STAFF), "en es pt",
       "99 Cooke St, Waterbury, CT 06710", "Mon-Fri 9am-5pm; evening calls by appointment", (41.5645, -73.0445)),
    # after school and mentoring
    _r("hillside-after-school", "Hillside After-School Club", "after_school",
       (F.FAMILY_WORK_SCHEDULE, F.CARING_FOR_FAMILY, F.NO_CARING_ADULT), "en es",
       "180 Hillside Ave, Waterbury, CT 06710", "School days 2:45-6pm", (41.5628, -73.0492)),
    _r("north-end-youth-center", "North End Youth Center", "after_school",
       (F.NO_CARING_ADULT, F.PEERS_OUT_OF_SCHOOL, F.NOT_CONNECTED_TO_LEARNING), "en es",
       "1100 North Main St, Waterbury, CT 06704", "Mon-Fri 2-8pm; Sat noon-5pm", (41.5760, -73.0335)),
    _r("early-bird-mornings", "Early Bird Before-School Program", "after_school",
       (F.FAMILY_WORK_SCHEDULE, F.FOOD_INSECURITY), "en es pt",
       "140 Grand St, Room 112, Waterbury, CT 06702", "At four elementary schools, school days from 6:45am",
       (41.5534, -73.0443)),
    _r("riverbend-arts", "Riverbend Arts and Music", "after_school",
       (F.NOT_CONNECTED_TO_LEARNING, F.NO_CARING_ADULT), "en es",
       "420 West Main St, Waterbury, CT 06702", "Mon-Thu 3-6pm", (41.5555, -73.0540)),
    _r("big-steps-mentoring", "Big Steps Youth Mentoring", "mentoring",
       (F.NO_CARING_ADULT, F.PEERS_OUT_OF_SCHOOL, F.NOT_CONNECTED_TO_LEARNING), "en es",
       "33 Bank St, Waterbury, CT 06702", "Mentors meet students weekly; office Mon-Fri 10am-6pm",
       (41.5528, -73.0428)),
    _r("rise-up-circle", "Rise Up Mentoring Circle", "mentoring",
       (F.NO_CARING_ADULT, F.SCHOOL_DISCIPLINE, F.PEER_CONFLICT), "en es",
       "610 South Main St, Waterbury, CT 06706", "Groups Tue and Thu 4-6pm", (41.5415, -73.0378)),
    _r("common-ground-mediation", "Common Ground Mediation", "mediation",
       (F.PEER_CONFLICT, F.BULLYING, F.SCHOOL_DISCIPLINE, F.CONFLICT_WITH_STAFF), "en es",
       "77 Congress Ave, Waterbury, CT 06708", "Mon-Fri 9am-6pm", (41.5450, -73.0470)),
    # legal and immigration
    _r("immigrant-legal-clinic", "Immigrant Family Legal Clinic", "legal", (F.LEGAL_OR_IMMIGRATION,), "en es pt",
       "150 Meadow St, Waterbury, CT 06702", "Wed 1-7pm; Sat 9am-1pm, free and confidential",
       (41.5530, -73.0480)),
    _r("valley-legal-aid", "Valley Legal Aid Office", "legal",
       (F.LEGAL_OR_IMMIGRATION, F.HOUSING_INSTABILITY), "en es",
       "81 Grand St, Waterbury, CT 06702", "Mon-Fri 9am-5pm", (41.5541, -73.0418)),
    _r("welcome-center", "Welcome Center for New Families", "family_support",
       (F.LEGAL_OR_IMMIGRATION, F.UNAWARE_OF_LAW, F.UNAWARE_OF_ABSENCE_COUNT), "en es pt",
       "500 East Aurora St, Waterbury, CT 06705", "Mon-Fri 9am-5pm; Tue until 7pm", (41.5603, -73.0165)),
    # clothing and supplies
    _r("second-look-closet", "Second Look Clothing Closet", "clothing", (F.CLOTHING_OR_SUPPLIES,), "en es",
       "290 Hamilton Ave, Waterbury, CT 06706", "Tue and Thu 10am-3pm", (41.5480, -73.0230)),
    _r("uniform-exchange", "School Uniform and Supply Exchange", "clothing", (F.CLOTHING_OR_SUPPLIES,), "en es pt",
       "24 Lakewood Rd, Waterbury, CT 06704", "First Saturday of the month 9am-1pm", (41.5790, -73.0510)),
    # substance use
    _r("clear-path", "Clear Path Adolescent Recovery Services", "substance_use",
       (F.SUBSTANCE_USE, F.ANXIETY_OR_MENTAL_HEALTH), "en es",
       "720 Thomaston Ave, Waterbury, CT 06704", "Mon-Fri 9am-7pm", (41.5835, -73.0560)),
    _r("next-step-recovery", "Next Step Family Recovery Center", "substance_use",
       (F.SUBSTANCE_USE, F.FAMILY_ILLNESS), "en es pt",
       "950 Oronoke Rd, Waterbury, CT 06708", "Mon-Sat 8am-8pm", (41.5372, -73.0690)),
    # work, child care, attendance
    _r("working-parents-center", "Working Parents Resource Center", "family_support",
       (F.FAMILY_WORK_SCHEDULE, F.CARING_FOR_FAMILY, F.STUDENT_EMPLOYMENT), "en es pt",
       "366 Reidville Dr, Waterbury, CT 06705", "Mon-Fri 7am-7pm", (41.5590, -73.0085)),
    _r("little-steps-child-care", "Little Steps Child Care Referrals", "family_support",
       (F.CARING_FOR_FAMILY, F.FAMILY_WORK_SCHEDULE), "en es pt",
       "18 Frost Rd, Waterbury, CT 06705", "Mon-Fri 8:30am-4:30pm", (41.5705, -73.0060)),
    _r("earn-and-learn", "Earn and Learn Youth Jobs", "employment",
       (F.STUDENT_EMPLOYMENT, F.NOT_CONNECTED_TO_LEARNING), "en es",
       "45 Washington Ave, Waterbury, CT 06708", "Mon-Fri 11am-6pm", (41.5440, -73.0600)),
    _r("family-attendance-workshops", "Family Attendance Workshops", "family_support",
       (F.EXCUSED_ABSENCES_DONT_MATTER, F.SPORADIC_ABSENCES_DONT_MATTER, F.UNAWARE_OF_LAW, F.UNAWARE_OF_ABSENCE_COUNT),
       "en es pt", "140 Grand St, Room 215, Waterbury, CT 06702", "Monthly, 2nd Tue 6-7:30pm, child care provided",
       (41.5534, -73.0443)),
)  # fmt: skip


def resource_phone(n: int) -> str:
    """The ``n``-th resource's number: 203-555-0100 and on, the range kept for fiction."""
    return f"203-555-{100 + n:04d}"


# --- why the child misses school -----------------------------------------------------------------

FACTOR_WEIGHTS: dict[Factor, float] = {
    # barriers: the most common
    F.TRANSPORTATION: 14,
    F.STUDENT_ILLNESS: 12,
    F.HOUSING_INSTABILITY: 9,
    F.FAMILY_WORK_SCHEDULE: 9,
    F.CHRONIC_HEALTH_CONDITION: 5,
    F.FAMILY_ILLNESS: 5,
    F.CARING_FOR_FAMILY: 5,
    F.FOOD_INSECURITY: 4,
    F.CLOTHING_OR_SUPPLIES: 3,
    F.UNSAFE_ROUTE: 2,
    F.LEGAL_OR_IMMIGRATION: 2,
    # aversion
    F.ANXIETY_OR_MENTAL_HEALTH: 8,
    F.BULLYING: 6,
    F.ACADEMIC_DIFFICULTY: 6,
    F.PEER_CONFLICT: 3,
    F.SCHOOL_DISCIPLINE: 2,
    F.CONFLICT_WITH_STAFF: 2,
    F.UNMET_SPECIAL_NEEDS: 2,
    # disengagement
    F.NO_CARING_ADULT: 3,
    F.NOT_CONNECTED_TO_LEARNING: 3,
    F.PEERS_OUT_OF_SCHOOL: 2,
    F.STUDENT_EMPLOYMENT: 1,
    F.SUBSTANCE_USE: 1,
    # misconceptions
    F.EXCUSED_ABSENCES_DONT_MATTER: 2,
    F.UNAWARE_OF_ABSENCE_COUNT: 2,
    F.SPORADIC_ABSENCES_DONT_MATTER: 2,
    F.UNAWARE_OF_LAW: 1,
    F.OTHER: 1,
}
TEENS_ONLY = frozenset({F.STUDENT_EMPLOYMENT, F.SUBSTANCE_USE, F.PEERS_OUT_OF_SCHOOL})
"""Not drawn for elementary students; drawn more often in high school."""

NOTES: dict[Factor, str] = {
    F.TRANSPORTATION: "Misses the bus some mornings; the stop moved farther away this year and there is no car.",
    F.STUDENT_ILLNESS: "Often home with colds and stomach aches; kept home at the first sign of one.",
    F.CHRONIC_HEALTH_CONDITION: "Asthma flares up in the cold months; the school nurse has no action plan on file.",
    F.FAMILY_ILLNESS: "A parent has been ill since the fall and needs help at home some days.",
    F.CARING_FOR_FAMILY: "Stays home to watch a younger sibling when there is no child care.",
    F.HOUSING_INSTABILITY: "The family moved twice since the summer and is staying with relatives for now.",
    F.FOOD_INSECURITY: "Food runs short at the end of the month; breakfast is often skipped.",
    F.CLOTHING_OR_SUPPLIES: "No winter coat, and not enough clean clothes for every school day.",
    F.FAMILY_WORK_SCHEDULE: "The parent works early shifts and leaves before the children are up for school.",
    F.UNSAFE_ROUTE: "The walk to school crosses a busy road with no crossing guard; the parent worries.",
    F.LEGAL_OR_IMMIGRATION: "The family is worried about an immigration hearing and avoids offices, the school too.",
    F.BULLYING: "Older students pick on the child on the bus and at lunch.",
    F.PEER_CONFLICT: "A falling-out with a group of classmates; does not want to face them.",
    F.SCHOOL_DISCIPLINE: "Suspended twice this fall; feels the school has given up.",
    F.ACADEMIC_DIFFICULTY: "Behind in reading; gets anxious on test days and stays home.",
    F.ANXIETY_OR_MENTAL_HEALTH: "Anxious in the mornings, stomach aches on school days; has never seen a counselor.",
    F.CONFLICT_WITH_STAFF: "Feels singled out by a teacher; the family is upset with how it was handled.",
    F.UNMET_SPECIAL_NEEDS: "The parent says the supports in the IEP are not being given in class.",
    F.NO_CARING_ADULT: "Cannot name an adult at school to go to when something is wrong.",
    F.NOT_CONNECTED_TO_LEARNING: "Finds classes boring and sees no point in them.",
    F.PEERS_OUT_OF_SCHOOL: "Friends have stopped going to school and want company during the day.",
    F.STUDENT_EMPLOYMENT: "Works evening shifts to help the family and is too tired to get up.",
    F.SUBSTANCE_USE: "The parent is worried about vaping and marijuana with friends.",
    F.EXCUSED_ABSENCES_DONT_MATTER: "The family thought days with a parent's note do not count.",
    F.UNAWARE_OF_ABSENCE_COUNT: "The parent did not know how many days were missed until we went over the record.",
    F.SPORADIC_ABSENCES_DONT_MATTER: "The family believed a day here and there does no harm.",
    F.UNAWARE_OF_LAW: "The family did not know the state attendance law or the meeting it requires.",
    F.OTHER: "A family matter they asked to keep private for now.",
}
VOICE: dict[Factor, str] = {
    F.TRANSPORTATION: "If I miss the bus there's no other way to get there.",
    F.STUDENT_ILLNESS: "My stomach hurts a lot in the morning.",
    F.CHRONIC_HEALTH_CONDITION: "When it's cold I can't breathe right and my inhaler is at home.",
    F.FAMILY_ILLNESS: "My mom needs me when she's sick.",
    F.CARING_FOR_FAMILY: "Somebody has to watch my little brother.",
    F.HOUSING_INSTABILITY: "It's far from my aunt's house and we keep moving.",
    F.FOOD_INSECURITY: "I'm hungry in class and can't think.",
    F.CLOTHING_OR_SUPPLIES: "I don't want to wear the same clothes again.",
    F.FAMILY_WORK_SCHEDULE: "Nobody wakes me up when my mom is at work.",
    F.UNSAFE_ROUTE: "I don't like walking past that corner by myself.",
    F.LEGAL_OR_IMMIGRATION: "My parents are scared to go out.",
    F.BULLYING: "They make fun of me every day on the bus.",
    F.PEER_CONFLICT: "Everybody in my class is mad at me.",
    F.SCHOOL_DISCIPLINE: "They just send me home anyway.",
    F.ACADEMIC_DIFFICULTY: "I don't get the work and I'm too far behind.",
    F.ANXIETY_OR_MENTAL_HEALTH: "I get really nervous at the door and I can't go in.",
    F.CONFLICT_WITH_STAFF: "That teacher doesn't like me.",
    F.UNMET_SPECIAL_NEEDS: "I don't get my help in class anymore.",
    F.NO_CARING_ADULT: "Nobody there would notice if I'm gone.",
    F.NOT_CONNECTED_TO_LEARNING: "School is boring, what's the point.",
    F.PEERS_OUT_OF_SCHOOL: "My friends don't go either.",
    F.STUDENT_EMPLOYMENT: "My family needs the money.",
    F.SUBSTANCE_USE: "It helps me chill out.",
}
TOPIC: dict[Factor, str] = {
    F.TRANSPORTATION: "getting to school",
    F.STUDENT_ILLNESS: "the sick days",
    F.CHRONIC_HEALTH_CONDITION: "the asthma",
    F.FAMILY_ILLNESS: "the parent's illness",
    F.CARING_FOR_FAMILY: "child care for the younger sibling",
    F.HOUSING_INSTABILITY: "housing",
    F.FOOD_INSECURITY: "food at home",
    F.CLOTHING_OR_SUPPLIES: "clothes and supplies",
    F.FAMILY_WORK_SCHEDULE: "mornings while the parent works",
    F.UNSAFE_ROUTE: "the walk to school",
    F.LEGAL_OR_IMMIGRATION: "the legal worries",
    F.BULLYING: "the bullying",
    F.PEER_CONFLICT: "the trouble with classmates",
    F.SCHOOL_DISCIPLINE: "discipline at school",
    F.ACADEMIC_DIFFICULTY: "schoolwork",
    F.ANXIETY_OR_MENTAL_HEALTH: "the morning anxiety",
    F.CONFLICT_WITH_STAFF: "things with the teacher",
    F.UNMET_SPECIAL_NEEDS: "the IEP supports",
    F.NO_CARING_ADULT: "having an adult at school",
    F.NOT_CONNECTED_TO_LEARNING: "interest in classes",
    F.PEERS_OUT_OF_SCHOOL: "the friends out of school",
    F.STUDENT_EMPLOYMENT: "the work hours",
    F.SUBSTANCE_USE: "the vaping",
    F.EXCUSED_ABSENCES_DONT_MATTER: "what counts as an absence",
    F.UNAWARE_OF_ABSENCE_COUNT: "the absence count",
    F.SPORADIC_ABSENCES_DONT_MATTER: "the odd days off",
    F.UNAWARE_OF_LAW: "the attendance law",
    F.OTHER: "the family matter",
}
STRENGTHS = (
    "The parent is very involved and wants to help.",
    "Loves art class and the drawing club.",
    "An older sister helps with mornings.",
    "Gets along well with the school nurse.",
    "Plays soccer and wants to make the team.",
    "Grandmother lives nearby and can help.",
    "Reads above grade level.",
    "Wants to be a veterinarian; science is the favorite class.",
    "The family is open to help and returned every call.",
    "Has a good friend in class to walk to school with.",
    "Proud of good grades in math.",
    "A parent checks the school app every evening.",
)

# --- referrals, meetings and follow-ups ----------------------------------------------------------

BY_HAND: dict[Factor, str] = {
    F.STUDENT_ILLNESS: "The family's own pediatrician",
    F.ANXIETY_OR_MENTAL_HEALTH: "Private counselor through the parent's insurance",
    F.FOOD_INSECURITY: "Food shelf at the family's church",
    F.TRANSPORTATION: "Carpool the parents' group organized",
    F.ACADEMIC_DIFFICULTY: "Reading program at the public library",
    F.HOUSING_INSTABILITY: "Landlord payment plan arranged by an uncle",
}
"""Referrals to what the directory does not list, named by hand."""

STATUS_NOTES: dict[ServiceReferralStatus, tuple[str, ...]] = {
    ServiceReferralStatus.MADE: (
        "Gave the family the phone number and the hours.",
        "Filled in the intake form with the parent.",
        "Called ahead to say the family will come in.",
    ),
    ServiceReferralStatus.CONNECTED: (
        "The family went to the first appointment; going well.",
        "Enrolled and going every week.",
        "Got help the same week.",
    ),
    ServiceReferralStatus.NOT_CONNECTED: (
        "On the waiting list until next month.",
        "Called twice; no one called the family back.",
        "The hours do not work with the parent's shifts.",
    ),
    ServiceReferralStatus.DECLINED: (
        "The parent prefers to handle it within the family.",
        "The student did not want to go.",
        "The family says they do not need it now.",
    ),
}
AGREEMENTS: dict[Factor, str] = {
    F.TRANSPORTATION: "The family will use the bus pass; the case manager confirms the stop with transportation.",
    F.STUDENT_ILLNESS: "The parent calls the nurse before keeping the child home, and sends a note within three days.",
    F.CHRONIC_HEALTH_CONDITION: "The family brings the asthma plan and a second inhaler to the nurse this week.",
    F.HOUSING_INSTABILITY: "The housing liaison keeps the student at the same school, with rides from relatives.",
    F.FAMILY_WORK_SCHEDULE: "An older sibling takes the student to the before-school program on early-shift days.",
    F.ANXIETY_OR_MENTAL_HEALTH: "A counselor meets the student at the door on Mondays; the family books counseling.",
    F.BULLYING: "The school changes the bus seating and the assistant principal follows up.",
    F.ACADEMIC_DIFFICULTY: "Homework help three afternoons a week; a check-in with the teacher in two weeks.",
}
GENERAL_AGREEMENTS = (
    "The parent calls the school office by 8:30 on any day the student is out.",
    "The student checks in with the school counselor every Monday.",
    "Alarm set for 6:30; backpack packed the night before.",
    "The case manager sends the absence count home every two weeks.",
)
RESCHEDULE_REASONS = (
    "The parent asked for another day: a work shift.",
    "The student was sick.",
    "The school was closed for a snow day.",
    "The interpreter was not free that day.",
)
LANGUAGE_NAMES = {"es": "Spanish", "pt": "Portuguese", "sq": "Albanian", "ar": "Arabic"}

WORKED = (CaseStatus.CONTACTING, CaseStatus.ACTIVE, CaseStatus.MONITORING, CaseStatus.CLOSED)
ASSESSED_SHARE = {
    CaseStatus.CONTACTING: 0.75,
    CaseStatus.ACTIVE: 0.95,
    CaseStatus.MONITORING: 0.95,
    CaseStatus.CLOSED: 0.8,
}
"""How many cases of each status were assessed: about 88% of those being worked."""


@dataclass
class _Visit:
    id: uuid.UUID
    at: datetime
    outcome: str | None
    created_by: uuid.UUID | None


@dataclass
class _CaseFile:
    """A worked case and what the casework needs of it, read once."""

    case: Case
    grade: str | None
    first_name: str
    language: str
    home: tuple[float, float] | None
    guardians: list[str]
    visits: list[_Visit] = field(default_factory=list)
    reached_by_phone: list[datetime] = field(default_factory=list)
    meetings_due: list[FollowUp] = field(default_factory=list)

    @property
    def manager(self) -> uuid.UUID:
        assert self.case.case_manager_id is not None
        return self.case.case_manager_id

    @property
    def ends(self) -> datetime | None:
        return self.case.closed_at


@dataclass
class _Work:
    """What the casework adds."""

    assessments: list[Assessment] = field(default_factory=list)
    referrals: list[ServiceReferral] = field(default_factory=list)
    meetings: list[ParentMeeting] = field(default_factory=list)
    follow_ups: list[FollowUp] = field(default_factory=list)


@dataclass(frozen=True)
class CaseworkResult:
    resources: int = 0
    assessments: int = 0
    referrals: int = 0
    meetings: int = 0
    follow_ups: int = 0


async def load_resources(session: AsyncSession) -> int:
    """The directory's demo resources that are not there yet; returns how many were added."""
    ids = [r.id for r in RESOURCES]
    present = set((await session.scalars(select(Resource.id).where(Resource.id.in_(ids)))).all())
    added = 0
    for n, r in enumerate(RESOURCES):
        if r.id in present:
            continue
        session.add(
            Resource(
                id=r.id,
                name=r.name,
                factors=[f.value for f in r.factors],
                languages=list(r.languages),
                address=r.address,
                phone=resource_phone(n),
                website=f"https://{r.key}.example.org",
                hours=r.hours,
                latitude=r.latitude,
                longitude=r.longitude,
                active=r.active,
            )
        )
        added += 1
    await session.flush()
    return added


async def load_casework(session: AsyncSession, year: DemoYear, progress: Progress | None = None) -> CaseworkResult:
    """The directory, then the casework on the demo caseloads (once)."""
    resources = await load_resources(session)
    if await session.scalar(select(func.count()).select_from(Assessment)):
        return CaseworkResult(resources=resources)
    files = await _case_files(session)
    if not files:
        return CaseworkResult(resources=resources)
    now = datetime.combine(year.today, time(8, 0), tzinfo=UTC)
    school_days = [d for d in year.calendar_days() if d < year.today]
    rng = random.Random(20261201)
    work = _Work()
    for n, file in enumerate(files, start=1):
        _assess_and_refer(rng, work, file, now)
        _meeting(rng, work, file, school_days, now)
        if progress is not None:
            progress("casework", n, len(files))
    _home_visits_ahead(rng, work, files, year.today)
    for model, records in (
        (Assessment, work.assessments),
        (ServiceReferral, work.referrals),
        (ParentMeeting, work.meetings),
        (FollowUp, work.follow_ups),
    ):
        await insert_rows(session, model, (row_of(r) for r in records))
    await session.flush()  # the meeting deadlines the meetings completed
    return CaseworkResult(
        resources=resources,
        assessments=len(work.assessments),
        referrals=len(work.referrals),
        meetings=len(work.meetings),
        follow_ups=len(work.follow_ups),
    )


async def _case_files(session: AsyncSession) -> list[_CaseFile]:
    """The worked cases (a case manager's, past the first contact), with their student, home,
    guardians, visits, phone calls that reached the family, and open meeting deadlines."""
    rows = (
        await session.execute(
            select(Case, Student.grade, Student.first_name, Household)
            .join(Student, Student.id == Case.student_id)
            .outerjoin(Household, Household.id == Student.household_id)
            .where(Case.case_manager_id.is_not(None), Case.status.in_([s.value for s in WORKED]))
            .order_by(Case.id)
        )
    ).all()
    files: dict[uuid.UUID, _CaseFile] = {}
    by_household: dict[uuid.UUID, list[_CaseFile]] = defaultdict(list)
    for case, grade, first_name, household in rows:
        home = None
        if household is not None and household.latitude is not None and household.longitude is not None:
            home = (household.latitude, household.longitude)
        language = (household.language if household is not None else None) or "en"
        file = _CaseFile(case, grade, first_name, language.lower(), home, [])
        files[case.id] = file
        if household is not None:
            by_household[household.id].append(file)
    guardians = await session.execute(
        select(Guardian.household_id, Guardian.name)
        .where(Guardian.household_id.in_(list(by_household)))
        .order_by(Guardian.household_id, Guardian.name)
    )
    for household_id, name in guardians:
        for file in by_household[household_id]:
            file.guardians.append(name)
    visits = await session.execute(
        select(VisitLog.case_id, VisitLog.id, VisitLog.checked_in_at, VisitLog.outcome, VisitLog.created_by)
        .where(VisitLog.case_id.in_(list(files)))
        .order_by(VisitLog.checked_in_at, VisitLog.id)
    )
    for case_id, visit_id, at, outcome, created_by in visits:
        files[case_id].visits.append(_Visit(visit_id, at, outcome, created_by))
    calls = await session.execute(
        select(ContactAttempt.case_id, ContactAttempt.at)
        .where(
            ContactAttempt.case_id.in_(list(files)),
            ContactAttempt.method == ContactMethod.PHONE.value,
            ContactAttempt.outcome == ContactOutcome.REACHED.value,
        )
        .order_by(ContactAttempt.at)
    )
    for case_id, at in calls:
        files[case_id].reached_by_phone.append(at)
    due = await session.scalars(
        select(FollowUp)
        .where(
            FollowUp.case_id.in_(list(files)),
            FollowUp.kind == FollowUpKind.PARENT_MEETING.value,
            FollowUp.trigger_day.is_not(None),
            FollowUp.completed_at.is_(None),
        )
        .order_by(FollowUp.trigger_day, FollowUp.due_on)
        .execution_options(populate_existing=True)  # the adoption trigger moved their version
    )
    for follow_up in due:
        assert follow_up.case_id is not None
        files[follow_up.case_id].meetings_due.append(follow_up)
    return list(files.values())


# --- assessments and referrals -------------------------------------------------------------------


def _draw_factors(rng: random.Random, grade: str | None) -> list[Factor]:
    """One to four factors, the first the likeliest (the primary one), weighted by how often
    attendance programs find them; the teenage ones not for elementary students."""
    level = 0 if grade in (None, "K") else int(grade)
    weights = dict(FACTOR_WEIGHTS)
    for factor in TEENS_ONLY:
        weights[factor] = 0 if level < 6 else weights[factor] * (3 if level >= 9 else 1)
    count = rng.choice((1, 2, 2, 2, 3, 3, 4))
    drawn: list[Factor] = []
    while len(drawn) < count:
        factor = rng.choices(list(weights), list(weights.values()))[0]
        if factor in drawn:
            continue
        if factor == F.OTHER and drawn:
            continue
        drawn.append(factor)
        if factor == F.OTHER:
            break
    return drawn


def _primary(factors: Sequence[Factor]) -> Factor:
    """The main reason: the first drawn, unless that is a misconception and something else was found."""
    found = [f for f in factors if FACTORS[f][0] is not FactorCategory.MISCONCEPTIONS]
    return (found or list(factors))[0]


def _within(at: datetime, file: _CaseFile, now: datetime) -> bool:
    ends = file.ends or now
    return file.case.opened_at < at < min(ends, now)


def _assess_and_refer(rng: random.Random, work: _Work, file: _CaseFile, now: datetime) -> None:
    status = CaseStatus(file.case.status)
    if rng.random() >= ASSESSED_SHARE[status]:
        return
    opened, ends = file.case.opened_at, file.ends or now
    met = [
        v for v in file.visits if v.outcome == VisitOutcome.FAMILY_MET and v.created_by == file.manager and v.at < ends
    ]
    if met:
        visit: _Visit | None = met[0]
        assert visit is not None
        at = visit.at + timedelta(minutes=rng.randrange(20, 45))
        how = "At the home visit with the family."
    elif calls := [c for c in file.reached_by_phone if c < ends]:
        visit = None
        at = calls[0] + timedelta(minutes=rng.randrange(5, 20))
        how = "By phone with the parent."
    else:
        visit = None
        at = opened + (min(ends, now) - opened) * rng.uniform(0.25, 0.45)
        how = "With the student at school; the family has not been reached yet."
    if not _within(at, file, now):
        return
    factors = _draw_factors(rng, file.grade)
    primary = _primary(factors) if rng.random() < 0.95 else None
    first = Assessment(
        id=_uuid("assessment", f"{file.case.id}-1"),
        case_id=file.case.id,
        author_id=file.manager,
        at=at,
        factors=[f.value for f in factors],
        primary_factor=primary.value if primary else None,
        visit_log_id=visit.id if visit else None,
        strengths=_strengths(rng),
        student_voice=_voice(rng, file, factors),
        notes=" ".join([how, *(NOTES[f] for f in factors[:3])]),
        flags=[],
    )
    work.assessments.append(first)
    _refer(rng, work, file, factors, at, now, first_of_case=True)
    if status in (CaseStatus.ACTIVE, CaseStatus.MONITORING) and rng.random() < 0.3:
        _reassess(rng, work, file, factors, at, now)


def _strengths(rng: random.Random) -> str | None:
    if rng.random() < 0.15:
        return None
    return " ".join(rng.sample(STRENGTHS, rng.choice((1, 1, 2))))


def _voice(rng: random.Random, file: _CaseFile, factors: Sequence[Factor]) -> str | None:
    """The student's own words, from third grade up, most of the time."""
    level = 0 if file.grade in (None, "K") else int(file.grade)
    said = [VOICE[f] for f in factors if f in VOICE]
    if level < 3 or not said or rng.random() < 0.3:
        return None
    return said[0]


def _reassess(
    rng: random.Random, work: _Work, file: _CaseFile, factors: list[Factor], first_at: datetime, now: datetime
) -> None:
    """Weeks later: something got better, maybe something new came up."""
    later = [
        v
        for v in file.visits
        if v.outcome == VisitOutcome.FAMILY_MET
        and v.created_by == file.manager
        and v.at > first_at + timedelta(days=14)
    ]
    visit = later[0] if later else None
    if visit is not None:
        at = visit.at + timedelta(minutes=rng.randrange(15, 40))
    else:
        at = first_at + timedelta(days=rng.randrange(21, 43), minutes=rng.randrange(-90, 90))
    if not _within(at, file, now - timedelta(hours=12)):
        return
    better = rng.sample(factors, 1) if len(factors) > 1 else []
    still = [f for f in factors if f not in better]
    new = [f for f in _draw_factors(rng, file.grade) if f not in factors and f != F.OTHER][:1]
    if rng.random() < 0.6:
        new = []
    now_factors = still + new
    weeks = max(1, (at - first_at).days // 7)
    parts = [f"Reassessed {weeks} weeks after the first assessment."]
    if better:
        parts.append(f"Better now: {', '.join(TOPIC[f] for f in better)}.")
    parts.append(f"Still a problem: {', '.join(TOPIC[f] for f in still)}.")
    if new:
        parts.append(f"New since then: {NOTES[new[0]]}")
    primary = _primary(still)
    work.assessments.append(
        Assessment(
            id=_uuid("assessment", f"{file.case.id}-2"),
            case_id=file.case.id,
            author_id=file.manager,
            at=at,
            factors=[f.value for f in now_factors],
            primary_factor=primary.value,
            visit_log_id=visit.id if visit else None,
            strengths=_strengths(rng),
            student_voice=_voice(rng, file, now_factors),
            notes=" ".join(parts),
            flags=[],
        )
    )
    if new:
        _refer(rng, work, file, new, at, now, first_of_case=False)


def _of_case(records: Sequence[Any], case_id: uuid.UUID) -> list[Any]:
    """The records of the case being worked, in order: the last ones added (the cases are worked
    one after the other; a scan of everything would take minutes at 14,000 cases)."""
    found: list[Any] = []
    for record in reversed(records):
        if record.case_id != case_id:
            break
        found.append(record)
    return found[::-1]


def _distance(home: tuple[float, float] | None, r: DemoResource) -> float:
    if home is None:
        return 0.0
    dlat = home[0] - r.latitude
    dlon = (home[1] - r.longitude) * math.cos(math.radians(home[0]))
    return math.hypot(dlat, dlon)


def _pick_resource(rng: random.Random, file: _CaseFile, factor: Factor, taken: set[uuid.UUID]) -> DemoResource | None:
    """An active resource that helps with ``factor``, in the household's language if one does,
    among the nearest to the home."""
    helping = [r for r in RESOURCES if r.active and factor in r.factors and r.id not in taken]
    in_language = [r for r in helping if file.language in r.languages]
    pool = sorted(in_language or helping, key=lambda r: (_distance(file.home, r), r.key))[:3]
    if not pool:
        return None
    return rng.choices(pool, (4, 2, 1)[: len(pool)])[0]


def _refer(
    rng: random.Random,
    work: _Work,
    file: _CaseFile,
    factors: Sequence[Factor],
    assessed_at: datetime,
    now: datetime,
    *,
    first_of_case: bool,
) -> None:
    """Referrals for some of the assessed factors (misconceptions are talked through, not
    referred, most of the time), most during the visit, some days after."""
    wanted = [
        f for f in factors if f != F.OTHER and (FACTORS[f][0] != FactorCategory.MISCONCEPTIONS or rng.random() < 0.3)
    ]
    count = min(len(wanted), rng.choice((0, 1, 1, 2, 2, 2, 3)) if first_of_case else 1)
    taken = {r.resource_id for r in _of_case(work.referrals, file.case.id) if r.resource_id is not None}
    for n, factor in enumerate(wanted[:count]):
        at = assessed_at + timedelta(minutes=rng.randrange(5, 40) + 5 * n)
        if rng.random() < 0.35:
            later = assessed_at + timedelta(days=rng.randrange(1, 8))
            at = _local(_weekday(_day_of(later)), rng.randrange(9 * 60, 17 * 60))
        if not _within(at, file, now - timedelta(hours=1)):
            at = assessed_at + timedelta(minutes=10 + n)
        resource = None if factor in BY_HAND and rng.random() < 0.12 else _pick_resource(rng, file, factor, taken)
        if resource is None and factor not in BY_HAND:
            continue
        if resource is not None:
            taken.add(resource.id)
        status, status_at = _referral_status(rng, at, min(file.ends or now, now))
        key = f"{file.case.id}-{resource.key if resource else factor.value}"
        referral = ServiceReferral(
            id=_uuid("service-referral", key),
            case_id=file.case.id,
            resource_id=resource.id if resource else None,
            resource_name=resource.name if resource else BY_HAND[factor],
            category=resource.kind if resource else None,
            factor=factor.value,
            at=at,
            referred_on=_day_of(at),
            status=status.value,
            status_at=status_at,
            note=rng.choice(STATUS_NOTES[ServiceReferralStatus.MADE]),
            created_by=file.manager,
            flags=[],
            updates=[]
            if status is ServiceReferralStatus.MADE
            else [
                {
                    "at": status_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                    "status": status.value,
                    "note": rng.choice(STATUS_NOTES[status]),
                    "by": str(file.manager),
                }
            ],
        )
        work.referrals.append(referral)
        _referral_call(rng, work, file, referral, now)


def _referral_status(rng: random.Random, at: datetime, until: datetime) -> tuple[ServiceReferralStatus, datetime]:
    """Where a referral stands at ``until`` (now, or when its case closed): just made if recent,
    else mostly connected, some not, some declined."""
    age = (until - at).total_seconds() / 86400
    if age < 4:
        return ServiceReferralStatus.MADE, at
    status = rng.choices(list(ServiceReferralStatus), (0.2, 0.45, 0.17, 0.18))[0]
    if status is ServiceReferralStatus.MADE:
        return status, at
    return status, at + timedelta(days=rng.uniform(1, min(20.0, age - 1)))


def _referral_call(rng: random.Random, work: _Work, file: _CaseFile, referral: ServiceReferral, now: datetime) -> None:
    """The call a case manager schedules to hear whether the family reached the resource: done
    when the referral's status changed, still open (some overdue) while it is only made."""
    if rng.random() < 0.45:
        return
    due = _weekday(_day_of(referral.at) + timedelta(days=7))
    call = FollowUp(
        id=_uuid("follow-up", f"call-{referral.id}"),
        student_id=file.case.student_id,
        case_id=file.case.id,
        kind=FollowUpKind.PHONE_CALL.value,
        title=f"Call the family: did they reach {referral.resource_name}?"[:200],
        due_on=due,
        created_by=file.manager,
        rescheduled=[],
        version=1,
    )
    if referral.status != ServiceReferralStatus.MADE and referral.status_at is not None:
        call.due_on = min(due, _day_of(referral.status_at))
        call.completed_at = referral.status_at
        call.completed_by = file.manager
        call.note = referral.note
        call.status = FollowUpStatus.DONE.value
        call.version = 2
    elif file.ends is not None:
        return  # a closed case's open calls were dropped at closing
    work.follow_ups.append(call)


# --- the parent meeting --------------------------------------------------------------------------


def _meeting(rng: random.Random, work: _Work, file: _CaseFile, school_days: list[date], now: datetime) -> None:
    """The meeting the rules asked for, held on a school day after the student became truant and
    the case opened: by the deadline where the case opened in time for it, else late, in the
    case's first weeks; some not yet (it stays overdue). It completes the deadlines as
    ``parent_meeting.record`` does."""
    status = CaseStatus(file.case.status)
    worked = (CaseStatus.ACTIVE, CaseStatus.MONITORING, CaseStatus.CLOSED)
    if not file.meetings_due or status not in worked or not school_days:
        return
    deadline = file.meetings_due[0]
    assert deadline.trigger_day is not None
    first = max(deadline.trigger_day, _day_of(file.case.opened_at)) + timedelta(days=1)
    last = _day_of(file.ends) - timedelta(days=1) if file.ends is not None else school_days[-1]
    days = [d for d in school_days if first <= d <= last]
    on_time = [d for d in days if d <= deadline.due_on]
    late = [d for d in days if d > deadline.due_on]
    held = 0.9 if on_time else 0.6  # a case opened after the deadline can only meet late, and has not always yet
    if not days or (status is not CaseStatus.CLOSED and rng.random() >= held):
        return  # not held yet: overdue
    soon = days[:12]  # the case's first weeks
    held_on = rng.choice(on_time) if on_time and (not late or rng.random() < 0.9) else rng.choice(late[:12])
    if held_on not in soon:
        held_on = soon[-1]
    place = rng.choices(list(MeetingPlace), (0.42, 0.36, 0.14, 0.05, 0.03))[0]
    window = {MeetingPlace.HOME: (16 * 60, 18 * 60 + 30), MeetingPlace.SCHOOL: (8 * 60, 14 * 60 + 30)}
    start, end = window.get(place, (9 * 60, 18 * 60))
    held_at = _local(held_on, rng.randrange(start, end, 5))
    interpreter = file.language in ("sq", "ar") or (file.language in ("es", "pt") and rng.random() < 0.5)
    attendees = list(file.guardians[: rng.choice((1, 1, 2))]) or ["Parent"]
    if place in (MeetingPlace.HOME, MeetingPlace.SCHOOL) and rng.random() < 0.6:
        attendees.append(f"{file.first_name} (student)")
    if place is MeetingPlace.SCHOOL:
        attendees.append(rng.choice(("School counselor", "Assistant principal", "Classroom teacher")))
    if interpreter:
        attendees.append(f"Interpreter ({LANGUAGE_NAMES.get(file.language, file.language)})")
    primary = next((a.primary_factor for a in _of_case(work.assessments, file.case.id)), None)
    agreements = [AGREEMENTS[Factor(primary)]] if primary and Factor(primary) in AGREEMENTS else []
    agreements += rng.sample(GENERAL_AGREEMENTS, 2 - len(agreements) if rng.random() < 0.5 else 1)
    next_on = _weekday(held_on + timedelta(days=rng.randrange(21, 36))) if rng.random() < 0.6 else None
    meeting = ParentMeeting(
        id=_uuid("parent-meeting", str(file.case.id)),
        case_id=file.case.id,
        author_id=file.manager,
        held_at=held_at,
        place=place.value,
        attendees=attendees,
        interpreter=interpreter,
        policy_discussed=rng.random() < 0.95,
        language=file.language,
        agreements=" ".join(agreements),
        next_meeting_on=next_on,
        flags=[],
    )
    work.meetings.append(meeting)
    for due in file.meetings_due:  # what sync.casework.parent_meeting_record completes
        if due.trigger_day is not None and due.trigger_day <= held_at.date():
            due.completed_at = held_at
            due.completed_by = file.manager
            due.status = FollowUpStatus.DONE.value
            due.note = f"Parent meeting held ({place.value})"
            due.version += 1
    if next_on is not None:
        _next_meeting(rng, work, file, meeting, next_on, now)


def _next_meeting(
    rng: random.Random, work: _Work, file: _CaseFile, meeting: ParentMeeting, next_on: date, now: datetime
) -> None:
    """The follow-up meeting agreed at the meeting, scheduled by the case manager: done if its
    day has passed (most), some moved to another day, some overdue. A closed case's was held
    before it closed, or never scheduled."""
    closed = file.ends is not None
    if file.ends is not None and next_on >= _day_of(file.ends):
        return
    follow_up = FollowUp(
        id=_uuid("follow-up", f"next-meeting-{meeting.id}"),
        student_id=file.case.student_id,
        case_id=file.case.id,
        kind=FollowUpKind.SCHOOL_MEETING.value,
        title="Follow-up meeting with the family",
        due_on=next_on,
        created_by=file.manager,
        rescheduled=[],
        version=1,
    )
    if not closed and rng.random() < 0.25:
        _move(rng, follow_up, _weekday(next_on + timedelta(days=rng.randrange(3, 12))), file.manager)
    if closed or (follow_up.due_on < _day_of(now) and rng.random() < 0.65):
        follow_up.completed_at = _local(follow_up.due_on, rng.randrange(15 * 60, 17 * 60, 5))
        follow_up.completed_by = file.manager
        follow_up.note = rng.choice(
            (
                "Met again: attendance is better since the last meeting.",
                "Met again: still some missed mornings; we set new goals.",
                "Met again with the parent and the counselor; the plan is working.",
            )
        )
        follow_up.status = FollowUpStatus.DONE.value
        follow_up.version += 1
    work.follow_ups.append(follow_up)


def _home_visits_ahead(rng: random.Random, work: _Work, files: list[_CaseFile], today: date) -> None:
    """Home visits some case managers have planned on cases they monitor, one in four moved once."""
    for file in files:
        if file.case.status != CaseStatus.MONITORING or rng.random() < 0.5:
            continue
        planned = _weekday(today + timedelta(days=rng.randrange(-6, 20)))
        follow_up = FollowUp(
            id=_uuid("follow-up", f"home-visit-{file.case.id}"),
            student_id=file.case.student_id,
            case_id=file.case.id,
            kind=FollowUpKind.HOME_VISIT.value,
            title="Home visit: check on mornings and the attendance plan",
            due_on=planned,
            created_by=file.manager,
            rescheduled=[],
            version=1,
        )
        if rng.random() < 0.25:
            _move(rng, follow_up, _weekday(planned + timedelta(days=rng.randrange(2, 9))), file.manager)
        work.follow_ups.append(follow_up)


def _move(rng: random.Random, follow_up: FollowUp, to: date, by: uuid.UUID) -> None:
    """As ``follow_up.reschedule`` leaves it: the new day, the old one kept with the reason."""
    moved = {"from": follow_up.due_on.isoformat(), "to": to.isoformat(), "reason": rng.choice(RESCHEDULE_REASONS)}
    follow_up.rescheduled = [*follow_up.rescheduled, moved | {"by": str(by)}]
    follow_up.due_on = to
    follow_up.version += 1


# --- time ----------------------------------------------------------------------------------------


def _local(day: date, minutes: int) -> datetime:
    """``minutes`` after midnight of ``day`` in Waterbury, in UTC."""
    return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=WATERBURY).astimezone(UTC)


def _day_of(moment: datetime) -> date:
    """The day in Waterbury at ``moment``."""
    return moment.astimezone(WATERBURY).date()


def _weekday(day: date) -> date:
    """``day``, or the Monday after it if it falls on a weekend."""
    return day + timedelta(days=(7 - day.weekday()) % 7 if day.weekday() >= 5 else 0)
