"""Imports every ORM module so the metadata knows every table (for Alembic and the tests)."""

from server.attendance.models import AttendanceRecord
from server.audit import AuditEntry
from server.auth.models import Device, RefreshToken, User
from server.cases.models import (
    Assessment,
    Case,
    ContactAttempt,
    FollowUp,
    ParentMeeting,
    Referral,
    ServiceReferral,
    VisitNote,
)
from server.letters.models import Letter, LetterBatch, LetterKindSet
from server.photos.models import PhotoFile
from server.resources.models import Resource
from server.rules.models import RuleSet, TruancyEpisode
from server.schools.models import CounselorSchool, InstructionalDay, School, SchoolYear
from server.students.models import Enrollment, Guardian, Household, Student
from server.sync.models import Conflict, RecordVersion, SyncChange, SyncClient, SyncMutation, SyncScopeEpoch
from server.uploads.models import Upload
from server.visits.models import VisitDecision

__all__ = [
    "Assessment",
    "AttendanceRecord",
    "AuditEntry",
    "Case",
    "Conflict",
    "CounselorSchool",
    "ContactAttempt",
    "Device",
    "Enrollment",
    "FollowUp",
    "Guardian",
    "Household",
    "InstructionalDay",
    "Letter",
    "LetterBatch",
    "LetterKindSet",
    "ParentMeeting",
    "PhotoFile",
    "RecordVersion",
    "Referral",
    "RefreshToken",
    "Resource",
    "RuleSet",
    "School",
    "SchoolYear",
    "ServiceReferral",
    "Student",
    "SyncChange",
    "SyncClient",
    "SyncMutation",
    "SyncScopeEpoch",
    "TruancyEpisode",
    "Upload",
    "User",
    "VisitDecision",
    "VisitNote",
]
