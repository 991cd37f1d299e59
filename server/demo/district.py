"""A deterministic synthetic district: schools, a school year's calendar, students, attendance.

The school year is the one that contains the day the demo is loaded (in the summer break, the
year just ended), with attendance through the last school day before that day, so every answer
that defaults to today is live. ``DemoYear.containing(day)`` pins it; the tests pin the day.

No real person's data: names are drawn from short lists with a seeded random generator, and
homes are scattered over one city (coordinates around Waterbury, CT). Attendance is shaped so
some students are truant under each rule (monthly, yearly, habitual), some are chronically
absent without being truant, and most are neither. The generator yields CSV lines in the
documented import formats (docs/imports.md), so the demo and the benchmark load it through the
real imports.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

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
# Share of students by attendance profile.
PROFILES = (
    ("regular", 0.70),
    ("monthly", 0.08),
    ("yearly", 0.07),
    ("habitual", 0.04),
    ("chronic", 0.06),
    ("suspended", 0.02),
    ("wellness", 0.03),
)

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


def _students(year: DemoYear, count: int, seed: int) -> Iterator[tuple[DemoStudent, list[str]]]:
    """Students with their roster line; siblings share a household."""
    rng = random.Random(seed)
    profiles = [p for p, _ in PROFILES]
    weights = [w for _, w in PROFILES]
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
            code, _name, grades = SCHOOLS[rng.randrange(len(SCHOOLS))]
            grade = rng.choice(grades)
            age = 5 if grade == "K" else 5 + int(grade)
            birth = date(year.start_year - age, 1, 1) + timedelta(days=rng.randrange(365))
            student = DemoStudent(
                number=f"D{n:06d}",
                school=code,
                grade=grade,
                profile=rng.choices(profiles, weights)[0],
                seed=rng.randrange(2**31),
            )
            school_name = next(s[1] for s in SCHOOLS if s[0] == code)
            line = [
                student.number,
                rng.choice(_FIRST),
                last,
                birth.isoformat(),
                grade,
                code,
                school_name,
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


def roster_lines(year: DemoYear, count: int, seed: int = 2025) -> Iterator[str]:
    yield ROSTER_HEADER
    for _student, line in _students(year, count, seed):
        yield ",".join(line) + "\n"


def calendar_lines(year: DemoYear) -> Iterator[str]:
    yield CALENDAR_HEADER
    days = year.calendar_days()
    for code, name, _grades in SCHOOLS:
        for d in days:
            yield f"{code},{name},{year.name},{d.isoformat()}\n"


def _absences(student: DemoStudent, days: list[date]) -> dict[int, tuple[str, str, int | None]]:
    """Day index -> (kind, reason code, documentation delay in school days or None)."""
    rng = random.Random(student.seed)
    out: dict[int, tuple[str, str, int | None]] = {}
    # Everyone: a few excused sick days with a note brought back within a week.
    for i in rng.sample(range(SCHOOL_DAYS), rng.choice((0, 1, 2, 3))):
        out[i] = ("absent", "illness", rng.randrange(1, 6))
    p = student.profile
    if p == "monthly":  # 4-6 unexcused in one month, then back on track
        start = rng.randrange(10, 140)
        for i in rng.sample(range(start, start + 15), rng.choice((4, 5, 6))):
            out[i] = ("absent", "unexcused", None)
    elif p in ("yearly", "habitual"):  # spread out: never 4 in a month for "yearly"
        count = rng.randrange(12, 16) if p == "yearly" else rng.randrange(21, 30)
        step = SCHOOL_DAYS // count
        for k in range(count):
            out[k * step + rng.randrange(max(step - 1, 1))] = ("absent", "unexcused", None)
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


def attendance_lines(year: DemoYear, count: int, seed: int = 2025) -> Iterator[str]:
    """One row per student per school day before the year's ``today``: present, tardy, half
    days, and the shaped absences (a note due back on or after ``today`` has not come yet)."""
    yield ATTENDANCE_HEADER
    days = year.calendar_days()
    held = len(year.attended_days())
    iso = [d.isoformat() for d in days]
    for student, _line in _students(year, count, seed):
        rng = random.Random(student.seed ^ 0x5EED)
        absences = _absences(student, days)
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
    session: AsyncSession, year: DemoYear, progress: Progress | None = None, students: int = DEMO_STUDENTS
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

    def step(name: str) -> Progress | None:
        if progress is None:
            return None
        return lambda _step, done, total: progress(name, done, total)

    roster = await import_roster(
        session, actor, roster_lines(year, students), source_name="demo", progress=step("roster")
    )
    await import_calendar(session, actor, calendar_lines(year), source_name="demo", progress=step("calendar"))
    await import_attendance(
        session,
        actor,
        attendance_lines(year, students),
        source_name="demo",
        progress=step("attendance"),
        total_rows=students * len(year.attended_days()),
    )
    attended = year.attended_days()
    if attended:
        await evaluate_all(session, attended[-1], actor)
    if progress:
        progress("evaluation", 1, 1)
    return roster.by_table.get("student", {}).get("inserted", 0)
