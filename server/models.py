"""Imports every ORM module so the metadata knows every table (for Alembic and the tests)."""

from server.attendance.models import AttendanceRecord
from server.audit import AuditEntry
from server.auth.models import Device, RefreshToken, User
from server.cases.models import Case, ContactAttempt, FollowUp, Referral, ServiceReferral, VisitNote
from server.rules.models import RuleSet, TruancyEpisode
from server.schools.models import InstructionalDay, School, SchoolYear
from server.students.models import Enrollment, Guardian, Household, Student

__all__ = [
    "AttendanceRecord",
    "AuditEntry",
    "Case",
    "ContactAttempt",
    "Device",
    "Enrollment",
    "FollowUp",
    "Guardian",
    "Household",
    "InstructionalDay",
    "Referral",
    "RefreshToken",
    "RuleSet",
    "School",
    "SchoolYear",
    "ServiceReferral",
    "Student",
    "TruancyEpisode",
    "User",
    "VisitNote",
]
