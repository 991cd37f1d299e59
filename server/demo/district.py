"""A deterministic synthetic district: schools, a school year's calendar, students, attendance.

The school year is the one that contains the day the demo is loaded (in the summer break, the
year just ended), with attendance through the last school day before that day, so every answer
that defaults to today is live. ``DemoYear.containing(day)`` pins it; the tests pin the day.

No real person's data: names are drawn from short lists with a seeded random generator, and
homes are scattered over one city (coordinates around Waterbury, CT). Attendance is shaped so
a chosen share of students (``truant_share``) miss enough school without an excuse, at some
point of the days held so far, for the rules engine to find them truant (most by the monthly
rule, some by the yearly rule, a few habitually); others are chronically absent without being
truant, or slipping (a few unexcused absences, not yet enough); most are neither. Which students
are truant, and from when, is the rules engine's answer, never the generator's. The generator
yields CSV lines in the documented import formats (docs/imports.md), so the demo and the
benchmark load it through the real imports.

A bigger district (``students`` past ``DEMO_STUDENTS``) gets more schools: the six of the
default district, then six more for each further ``DEMO_STUDENTS`` students (``schools_for``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.rules import PRESETS, RulePreset
from server.audit import Actor
from server.schools.models import School

Progress = Callable[[str, int, int], None]

SCHOOL_DAYS = 180
MINUTES = 360
CITY = (41.5582, -73.0515)

SCHOOLS = (
    ("DEMO-E1", "Hillside Elementary", ("K", "1", "2", "3", "4", "5")),
    ("DEMO-E2", "Riverbend Elementary", ("K", "1", "2", "3", "4", "5")),
    ("DEMO-E3", "Maple Street Elementary", ("K", "1", "2", "3", "4", "5")),
    ("DEMO-M1", "Brass City Middle", ("6", "7", "8")),
    ("DEMO-M2", "Northgate Middle", ("6", "7", "8")),
    ("DEMO-H1", "Naugatuck Valley High", ("9", "10", "11", "12")),
)


PLACES = (
    "Bunker Hill",
    "Town Plot",
    "Overlook",
    "Brooklyn",
    "Washington Hill",
    "East End",
    "South End",
    "North End",
    "Hopeville",
    "Crownbrook",
    "Berkeley Heights",
    "Bucks Hill",
    "Walnut Hill",
    "Fairlawn",
    "Lakewood",
    "Sylvan",
    "Pierpont",
    "Chase Park",
    "Highland",
    "Long Hill",
    "Scovill",
    "Mad River",
    "Hamilton Park",
    "Fulton Park",
    "Library Park",
    "Wolcott Street",
    "Chestnut Hill",
    "Abbott Avenue",
    "Reidville",
    "Oronoke",
)
"""Neighbourhoods (invented or common names) for the schools of a bigger district."""
DemoSchool = tuple[str, str, tuple[str, ...]]
"""A school: code, name, grades."""


def schools_for(students: int) -> tuple[DemoSchool, ...]:
    """The district's schools (code, name, grades): ``SCHOOLS`` for up to ``DEMO_STUDENTS``
    students, then three elementary, two middle and one high school more for each further
    ``DEMO_STUDENTS`` (about 330 students a school, as in the default district)."""
    groups = max(1, -(-students // DEMO_STUDENTS))
    found = list(SCHOOLS)
    count = {"E": 3, "M": 2, "H": 1}
    kinds = {"E": ("Elementary", SCHOOLS[0][2]), "M": ("Middle", SCHOOLS[3][2]), "H": ("High", SCHOOLS[5][2])}
    named = 0
    for _group in range(1, groups):
        for kind, per_group in (("E", 3), ("M", 2), ("H", 1)):
            word, grades = kinds[kind]
            for _ in range(per_group):
                count[kind] += 1
                place = PLACES[named % len(PLACES)] + (f" {named // len(PLACES) + 1}" if named >= len(PLACES) else "")
                named += 1
                found.append((f"DEMO-{kind}{count[kind]}", f"{place} {word}", grades))
    return tuple(found)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The ``n``-th ``weekday`` (0 = Monday) of the month; ``n = -1`` for the last one."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


@dataclass(frozen=True)
class DemoYear:
    """A school year of the demo district: from the last Wednesday of August of ``start_year``,
    180 school days around the usual US holidays and breaks."""

    start_year: int
    today: date
    """The day the demo is loaded: attendance runs through the last school day before it."""

    @classmethod
    def containing(cls, today: date) -> DemoYear:
        """The school year that contains ``today``; in the summer break, the year just ended."""
        year = cls(today.year if today.month >= 7 else today.year - 1, today)
        if today < year.first_day:
            year = cls(year.start_year - 1, today)
        return year

    @property
    def name(self) -> str:
        return f"{self.start_year}-{self.start_year + 1}"

    @property
    def first_day(self) -> date:
        return _nth_weekday(self.start_year, 8, 2, -1)

    def holidays(self) -> set[date]:
        y, n = self.start_year, self.start_year + 1
        thanksgiving = _nth_weekday(y, 11, 3, 4)
        return {
            _nth_weekday(y, 9, 0, 1),  # Labor Day
            _nth_weekday(y, 10, 0, 2),  # Columbus Day
            date(y, 11, 11),  # Veterans Day
            *(thanksgiving + timedelta(days=i) for i in (-1, 0, 1)),
            *(date(y, 12, 22) + timedelta(days=i) for i in range(12)),  # winter break
            _nth_weekday(n, 1, 0, 3),  # Martin Luther King Jr. Day
            *(_nth_weekday(n, 2, 0, 3) + timedelta(days=i) for i in range(5)),  # February break
            *(_nth_weekday(n, 4, 0, 2) + timedelta(days=i) for i in range(5)),  # April break
            _nth_weekday(n, 5, 0, -1),  # Memorial Day
        }

    def calendar_days(self) -> list[date]:
        """The year's 180 school days."""
        days: list[date] = []
        holidays = self.holidays()
        d = self.first_day
        while len(days) < SCHOOL_DAYS:
            if d.weekday() < 5 and d not in holidays:
                days.append(d)
            d += timedelta(days=1)
        return days

    def attended_days(self) -> list[date]:
        """The school days before ``today``: the ones with attendance."""
        return [d for d in self.calendar_days() if d < self.today]


_FIRST = [
    "Alex",
    "Ana",
    "Ben",
    "Camila",
    "Dante",
    "Elena",
    "Femi",
    "Gabriel",
    "Hana",
    "Ivan",
    "Jada",
    "Kofi",
    "Lena",
    "Mateo",
    "Nia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Umar",
    "Vera",
    "Wen",
    "Xavi",
    "Yara",
    "Zane",
    "Aiden",
    "Bella",
    "Caleb",
    "Diego",
    "Emma",
    "Felix",
    "Gia",
    "Hugo",
    "Isla",
    "Jonah",
    "Kira",
    "Leo",
    "Maya",
]
_LAST = [
    "Abreu",
    "Baptiste",
    "Chen",
    "Delgado",
    "Evans",
    "Fontaine",
    "Garcia",
    "Haddad",
    "Ibarra",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Mensah",
    "Nguyen",
    "Okafor",
    "Petrov",
    "Quintero",
    "Rivera",
    "Santos",
    "Tran",
    "Uddin",
    "Vasquez",
    "Walsh",
    "Xu",
    "Yilmaz",
    "Zamora",
    "Brennan",
    "Costa",
    "Duarte",
    "Ortiz",
]
_STREETS = [
    "Elm",
    "Oak",
    "Maple",
    "Cedar",
    "Birch",
    "Walnut",
    "Chestnut",
    "Spruce",
    "Willow",
    "Aspen",
    "Hickory",
    "Linden",
    "Poplar",
    "Sycamore",
]
_LANGUAGES = ("en", "en", "en", "es", "es", "pt", "sq", "ar")
TRUANT_PROFILES = (("monthly", 0.6), ("yearly", 0.3), ("habitual", 0.1))
"""How the truant share becomes truant: most by 4 unexcused absences in one month, some by 11 in
the year, a few by 20 (habitually)."""
OTHER_PROFILES = (("regular", 0.70), ("chronic", 0.06), ("slipping", 0.06), ("suspended", 0.02), ("wellness", 0.03))
"""Everyone else: present, chronically absent with notes, a few unexcused absences short of
truancy, suspended for some days, or taking the wellness days the rules allow."""
TRUANT_SHARE = 0.19
"""The share of students made truant when no other is asked for (what the demo had before it
was chosen for the caseloads)."""
KNOWN_AFTER = 14
"""School days from the absence that makes a student truant to the last day held, at least: an
absence without a note is unexcused only once its documentation window (10 school days after
the return, ``RuleValues.documentation_window_days``) has closed, so the rules know the student
is truant by the last day held."""

ROSTER_HEADER = (
    "student_number,first_name,last_name,birth_date,grade,school_code,school_name,school_year,entered_on,"
    "exited_on,household_id,phone,alt_phone,language,address,latitude,longitude,guardian1_name,"
    "guardian1_relationship,guardian1_phone,guardian1_language,guardian2_name,guardian2_relationship,"
    "guardian2_phone,guardian2_language\n"
)
CALENDAR_HEADER = "school_code,school_name,school_year,day\n"
ATTENDANCE_HEADER = (
    "student_number,school_code,day,minutes_present,minutes_scheduled,present_half_day,tardy,reason_code,"
    "documentation_received_on\n"
)


@dataclass(frozen=True)
class DemoStudent:
    number: str
    school: str
    grade: str
    profile: str
    seed: int


def _profile(draw: float, truant_share: float) -> str:
    """The profile one uniform draw picks: the truant ones below ``truant_share``, by their
    weights, the others above it."""
    weighted: tuple[tuple[str, float], ...]
    if draw < truant_share:
        weighted, at = TRUANT_PROFILES, draw / truant_share
    else:
        weighted, at = OTHER_PROFILES, (draw - truant_share) / (1 - truant_share)
    total = sum(w for _, w in weighted)
    for name, weight in weighted:
        at -= weight / total
        if at < 0:
            return name
    return weighted[-1][0]


def _students(
    year: DemoYear, count: int, seed: int, truant_share: float, schools: tuple[DemoSchool, ...]
) -> Iterator[tuple[DemoStudent, list[str]]]:
    """Students with their roster line; siblings share a household."""
    rng = random.Random(seed)
    names = {code: name for code, name, _grades in schools}
    n = 0
    household = 0
    while n < count:
        household += 1
        last = rng.choice(_LAST)
        hid = f"DEMO-H{household:06d}"
        lat = round(CITY[0] + rng.uniform(-0.035, 0.035), 6)
        lon = round(CITY[1] + rng.uniform(-0.045, 0.045), 6)
        phone = f"203-555-{rng.randrange(10000):04d}"
        language = rng.choice(_LANGUAGES)
        address = f"{rng.randrange(1, 999)} {rng.choice(_STREETS)} St, Waterbury, CT"
        g1 = f"{rng.choice(_FIRST)} {last}"
        g2 = f"{rng.choice(_FIRST)} {last}" if rng.random() < 0.45 else ""
        for _ in range(min(rng.choice((1, 1, 2, 2, 3)), count - n)):
            n += 1
            code, _name, grades = schools[rng.randrange(len(schools))]
            grade = rng.choice(grades)
            age = 5 if grade == "K" else 5 + int(grade)
            birth = date(year.start_year - age, 1, 1) + timedelta(days=rng.randrange(365))
            student = DemoStudent(
                number=f"D{n:06d}",
                school=code,
                grade=grade,
                profile=_profile(rng.random(), truant_share),
                seed=rng.randrange(2**31),
            )
            line = [
                student.number,
                rng.choice(_FIRST),
                last,
                birth.isoformat(),
                grade,
                code,
                names[code],
                year.name,
                year.first_day.isoformat(),
                "",
                hid,
                phone,
                "",
                language,
                f'"{address}"',
                str(lat),
                str(lon),
                g1,
                "parent",
                phone,
                language,
                g2,
                "parent" if g2 else "",
                "",
                "",
            ]
            yield student, line


def roster_lines(
    year: DemoYear, count: int, seed: int = 2025, schools: tuple[DemoSchool, ...] = SCHOOLS
) -> Iterator[str]:
    yield ROSTER_HEADER
    for _student, line in _students(year, count, seed, TRUANT_SHARE, schools):
        yield ",".join(line) + "\n"


def calendar_lines(year: DemoYear, schools: tuple[DemoSchool, ...] = SCHOOLS) -> Iterator[str]:
    yield CALENDAR_HEADER
    days = year.calendar_days()
    for code, name, _grades in schools:
        for d in days:
            yield f"{code},{name},{year.name},{d.isoformat()}\n"


Absences = dict[int, tuple[str, str, int | None]]


def _absences(student: DemoStudent, days: list[date], held: int) -> Absences:
    """Day index -> (kind, reason code, documentation delay in school days or None). The truant
    profiles' unexcused absences fall in the ``held`` days so far, early enough for the rules to
    know by the last of them (``KNOWN_AFTER``); with too few days held, they are not truant yet."""
    rng = random.Random(student.seed)
    out: Absences = {}
    # Everyone: a few excused sick days with a note brought back within a week.
    for i in rng.sample(range(SCHOOL_DAYS), rng.choice((0, 1, 2, 3))):
        out[i] = ("absent", "illness", rng.randrange(1, 6))
    p = student.profile
    known_by = held - KNOWN_AFTER
    if p == "monthly":
        for i in _in_one_month(rng, days, known_by):
            out[i] = ("absent", "unexcused", None)
    elif p in ("yearly", "habitual"):  # spread over weeks: most of the days held so far
        count = rng.randrange(11, 15) if p == "yearly" else rng.randrange(20, 27)
        if known_by >= count:
            span = max(count, int(known_by * rng.uniform(0.5, 0.9)))
            start = rng.randrange(known_by - span + 1)
            for i in rng.sample(range(start, start + span), count):
                out[i] = ("absent", "unexcused", None)
            if rng.random() < PROMPT_NOTES:
                _notes_not_accepted(out)
    elif p == "slipping":  # a few unexcused days, never 4 in a month: not truant (yet)
        for i in rng.sample(range(SCHOOL_DAYS), rng.choice((2, 3))):
            out[i] = ("absent", "unexcused", None)
    elif p == "chronic":  # often sick, with medical notes: chronic without being truant
        for i in rng.sample(range(SCHOOL_DAYS), rng.randrange(20, 30)):
            out[i] = ("absent", "illness_verified", rng.randrange(1, 8))
    elif p == "suspended":
        start = rng.randrange(20, 160)
        for i in range(start, start + rng.choice((3, 5, 10))):
            out[i] = ("absent", "suspension", None)
    elif p == "wellness":
        for i in rng.sample(range(SCHOOL_DAYS), 3):
            out[i] = ("absent", "mental_health_day", None)
    return out


PROMPT_NOTES = 0.5
"""The share of the students truant over the year whose parents send a note the day after each
absence from the tenth on, giving a reason the state does not accept past the ninth (a family
trip, a parent's leave): each such absence is unexcused the day its note arrives, not once its
documentation window closes (docs/rules.md), so the rules know the student is truant early enough
for a case to open, and her parents to be met, before the meeting's deadline."""


TIER_BOUNDARY = PRESETS[RulePreset.PROGRAM].tier_boundary


def _notes_not_accepted(out: Absences) -> None:
    """From the year's tenth absence on, each unexcused one gets a note saying ``family``, brought
    the next school day."""
    for number, i in enumerate(sorted(out), start=1):
        if number >= TIER_BOUNDARY and out[i][1] == "unexcused":
            out[i] = ("absent", "family", 1)


def _in_one_month(rng: random.Random, days: list[date], known_by: int) -> list[int]:
    """4 to 6 unexcused days in one calendar month: the fourth, the day that makes the student
    truant, drawn evenly from the school days before ``known_by`` that have three school days of
    their month within the two weeks before them; the first three among those, and one or two
    more later, maybe."""
    position = [0] * len(days)
    for i in range(1, len(days)):
        same = (days[i].year, days[i].month) == (days[i - 1].year, days[i - 1].month)
        position[i] = position[i - 1] + 1 if same else 0
    triggers = [i for i in range(min(known_by, len(days))) if position[i] >= 3]
    if not triggers:
        return []
    trigger = rng.choice(triggers)
    before = list(range(max(trigger - position[trigger], trigger - 9), trigger))
    after = [i for i in range(trigger + 1, trigger + 8) if i < len(days) and position[i] > position[trigger]]
    return [*rng.sample(before, 3), trigger, *rng.sample(after, min(len(after), rng.choice((0, 0, 1, 2))))]


def attendance_lines(
    year: DemoYear,
    count: int,
    seed: int = 2025,
    truant_share: float = TRUANT_SHARE,
    schools: tuple[DemoSchool, ...] = SCHOOLS,
) -> Iterator[str]:
    """One row per student per school day before the year's ``today``: present, tardy, half
    days, and the shaped absences (a note due back on or after ``today`` has not come yet)."""
    yield ATTENDANCE_HEADER
    days = year.calendar_days()
    held = len(year.attended_days())
    iso = [d.isoformat() for d in days]
    for student, _line in _students(year, count, seed, truant_share, schools):
        rng = random.Random(student.seed ^ 0x5EED)
        absences = _absences(student, days, held)
        prefix = f"{student.number},{student.school},"
        for i in range(held):
            absence = absences.get(i)
            if absence is None:
                r = rng.random()
                if r < 0.03:
                    yield f"{prefix}{iso[i]},{MINUTES - rng.randrange(5, 60)},{MINUTES},,true,,\n"
                elif r < 0.035:
                    yield f"{prefix}{iso[i]},,,true,,,\n"  # the school's half-day flag: present
                else:
                    yield f"{prefix}{iso[i]},{MINUTES},{MINUTES},,,,\n"
                continue
            _kind, reason, delay = absence
            minutes = rng.choice((0, 0, 0, 120))  # some leave early: under half a day is absent
            doc = ""
            if delay is not None:
                back = i + delay
                doc = iso[back] if back < held else ""
            code = "" if reason == "unexcused" and rng.random() < 0.5 else reason
            yield f"{prefix}{iso[i]},{minutes},{MINUTES},,,{code},{doc}\n"


DEMO_STUDENTS = 2000


async def load(
    session: AsyncSession,
    year: DemoYear,
    progress: Progress | None = None,
    students: int = DEMO_STUDENTS,
    truant_share: float = TRUANT_SHARE,
) -> int:
    """Load the district through the real imports, then evaluate it as of the last school day
    before ``year.today``. Returns students created (0 if present)."""
    from server.attendance.imports import import_attendance
    from server.rosters.imports import import_roster
    from server.rules.evaluate import evaluate_all
    from server.schools.calendar import import_calendar

    if await session.scalar(select(School.id).where(School.code == SCHOOLS[0][0])) is not None:
        return 0
    actor = Actor.system("demo")
    schools = schools_for(students)

    def step(name: str) -> Progress | None:
        if progress is None:
            return None
        return lambda _step, done, total: progress(name, done, total)

    roster = await import_roster(
        session, actor, roster_lines(year, students, schools=schools), source_name="demo", progress=step("roster")
    )
    await import_calendar(session, actor, calendar_lines(year, schools), source_name="demo", progress=step("calendar"))
    await import_attendance(
        session,
        actor,
        attendance_lines(year, students, truant_share=truant_share, schools=schools),
        source_name="demo",
        progress=step("attendance"),
        total_rows=students * len(year.attended_days()),
    )
    # The rows are not committed yet, so no autovacuum has counted them: without statistics the
    # planner takes these tables for empty, and the rules' statements for the demo's cases ran
    # a hundred times slower.
    for table in ("student", "enrollment", "instructional_day", "attendance_record"):
        await session.execute(text(f"ANALYZE {table}"))
    attended = year.attended_days()
    if attended:
        await evaluate_all(session, attended[-1], actor)
    if progress:
        progress("evaluation", 1, 1)
    return roster.by_table.get("student", {}).get("inserted", 0)
