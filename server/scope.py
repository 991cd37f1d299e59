"""Who may see a record: one predicate per record kind, and the only place it is decided.

Student records are minors' data. REST routes, the console, the sync handlers (through the
store's ``load``) and the pull all ask here; a route never writes its own ``WHERE`` on who may
read. Out of scope is answered 404, as for a record that does not exist.

Each predicate is a SQL ``WHERE`` clause over its table, for a ``Reader``:

- **Online** (``Reader.of(principal)``: the role is known): what a user may read through the API.
  Case managers: their cases and everything under them. Supervisors: their team's cases (their
  own included) and the unassigned referred ones, which they assign, and the visit logs their
  team made, wherever the case went since. Office staff and admins: everything. Attendance
  counselors: the cases and students of their schools.
- **On a device** (``Reader.device(user_id)``: the role is read from the user's row in SQL, so
  the sync store's statements are built once for every user): what a phone may hold offline.
  Narrower: live cases only, and neither the unassigned referrals nor a school's students, since
  the change log takes a record back from a device only when it leaves a caseload. Counselors
  hold nothing. A conflict is seen by its author and her supervisor (and the all-seeing roles).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true

from schemas.auth import Role
from schemas.cases import CaseStatus
from schemas.sync import RecordType
from server.auth.models import User
from server.auth.service import Principal
from server.cases.models import (
    Assessment,
    Case,
    ContactAttempt,
    FollowUp,
    FormPhoto,
    ParentMeeting,
    Referral,
    ServiceReferral,
    VisitLog,
    VisitNote,
    VisitNoteAddendum,
)
from server.letters.models import Letter
from server.schools.models import CounselorSchool
from server.students.models import Household, Student
from server.sync.models import Conflict
from server.visits.models import VisitDecision

ALL_SEEING = (Role.OFFICE_STAFF, Role.ADMIN)


@dataclass(frozen=True)
class Reader:
    """Who reads: a user id (a UUID, or a SQL expression such as a bind parameter) and, online,
    her role; ``role=None`` is a device's scope (see the module docstring)."""

    user_id: Any
    role: Role | None = None

    @classmethod
    def of(cls, principal: Principal) -> Reader:
        return cls(principal.user_id, principal.role)

    @classmethod
    def device(cls, user_id: Any) -> Reader:
        return cls(user_id, None)

    @property
    def on_device(self) -> bool:
        return self.role is None


def sees_all(r: Reader) -> ColumnElement[bool]:
    """Office staff and admins see every record."""
    if r.on_device:
        return exists().where(User.id == r.user_id, User.role.in_([role.value for role in ALL_SEEING]))
    return true() if r.role in ALL_SEEING else false()


def _team(r: Reader) -> Any:
    """The reader and the case managers she supervises, as one ``IN`` list (so the planner can go
    from the team through ``ix_case_file_case_manager_id`` instead of scanning every case)."""
    return select(User.id).where(or_(User.id == r.user_id, User.supervisor_id == r.user_id))


def _school_of_mine(r: Reader, school_id: Any) -> ColumnElement[bool]:
    return exists().where(CounselorSchool.user_id == r.user_id, CounselorSchool.school_id == school_id)


def _team_cases(r: Reader) -> ColumnElement[bool]:
    """Over ``Case``: what the reader reaches through her team, all-seeing roles aside."""
    if r.on_device:
        return and_(Case.deleted_at.is_(None), Case.case_manager_id.in_(_team(r)))
    match r.role:
        case Role.CASE_MANAGER:
            mine: ColumnElement[bool] = Case.case_manager_id == r.user_id
            return mine
        case Role.SUPERVISOR:
            unassigned = and_(Case.case_manager_id.is_(None), Case.status == CaseStatus.REFERRED)
            return or_(Case.case_manager_id.in_(_team(r)), unassigned)
        case Role.ATTENDANCE_COUNSELOR:
            return _school_of_mine(r, Case.school_id)
    return false()


def team_reach(record_type: str, r: Reader) -> ColumnElement[bool]:
    """A record type's predicate without the all-seeing branch: what the reader reaches through
    her cases. The snapshot query uses it apart from ``sees_all``: one ``OR`` of both would make
    PostgreSQL scan the whole table and test each row."""
    cases = _team_cases(r)
    match record_type:
        case RecordType.CASE:
            return cases
        case RecordType.STUDENT:
            if r.role is Role.ATTENDANCE_COUNSELOR:
                return _school_of_mine(r, Student.school_id)
            return exists().where(Case.student_id == Student.id, cases)
        case RecordType.HOUSEHOLD:
            if r.role is Role.ATTENDANCE_COUNSELOR:
                return exists().where(Student.household_id == Household.id, _school_of_mine(r, Student.school_id))
            return exists().where(Student.household_id == Household.id, Case.student_id == Student.id, cases)
        case RecordType.CONTACT_ATTEMPT:
            return exists().where(Case.id == ContactAttempt.case_id, cases)
        case RecordType.VISIT_NOTE:
            return exists().where(Case.id == VisitNote.case_id, cases)
        case RecordType.VISIT_NOTE_ADDENDUM:
            return exists().where(VisitNote.id == VisitNoteAddendum.note_id, Case.id == VisitNote.case_id, cases)
        case RecordType.FOLLOW_UP:
            return exists().where(Case.id == FollowUp.case_id, cases)
        case RecordType.FORM_PHOTO:
            return exists().where(Case.id == FormPhoto.case_id, cases)
        case RecordType.VISIT_LOG:
            by_case = exists().where(Case.id == VisitLog.case_id, cases)
            if r.role is Role.SUPERVISOR:
                # Her team's visits stay hers to review after their case left the team (a visit made
                # offline on a case reassigned meanwhile). Online only: a phone follows the case.
                return or_(by_case, VisitLog.created_by.in_(_team(r)))
            return by_case
        case RecordType.CONFLICT:
            members = select(User.id).where(User.supervisor_id == r.user_id)
            return or_(Conflict.author_id == r.user_id, Conflict.author_id.in_(members))
        case RecordType.ASSESSMENT:
            return exists().where(Case.id == Assessment.case_id, cases)
        case RecordType.SERVICE_REFERRAL:
            return exists().where(Case.id == ServiceReferral.case_id, cases)
        case RecordType.PARENT_MEETING:
            return exists().where(Case.id == ParentMeeting.case_id, cases)
        case RecordType.LETTER:
            by_case = exists().where(Case.id == Letter.case_id, cases)
            if r.on_device:
                return by_case
            # a letter to a student with no case yet (an early notice) is seen as its student is
            no_case = and_(Letter.case_id.is_(None), exists().where(Student.id == Letter.student_id, students_reach(r)))
            return or_(by_case, no_case)
        case RecordType.RESOURCE:
            # the district's directory, not a student's record: every reader, on every device
            return true()
    raise ValueError(f"no scope for record type {record_type!r}")


def students_reach(r: Reader) -> ColumnElement[bool]:
    """Over ``Student``: the students the reader reaches through her cases or schools."""
    return team_reach(RecordType.STUDENT, r)


def reach(record_type: str, r: Reader) -> ColumnElement[bool]:
    """May the reader see this row of the record type's table? (Tombstones too: a deleted row is
    seen by whoever sees its live case.)"""
    everything = sees_all(r)
    if not r.on_device and r.role in ALL_SEEING:
        return everything
    return or_(everything, team_reach(record_type, r)) if r.on_device else team_reach(record_type, r)


# --- by record kind, for the routes ---------------------------------------------------------------


def cases(r: Reader) -> ColumnElement[bool]:
    return reach(RecordType.CASE, r)


def students(r: Reader) -> ColumnElement[bool]:
    return reach(RecordType.STUDENT, r)


def households(r: Reader) -> ColumnElement[bool]:
    return reach(RecordType.HOUSEHOLD, r)


def contact_attempts(r: Reader) -> ColumnElement[bool]:
    return reach(RecordType.CONTACT_ATTEMPT, r)


def visit_notes(r: Reader) -> ColumnElement[bool]:
    return reach(RecordType.VISIT_NOTE, r)


def visit_note_addenda(r: Reader) -> ColumnElement[bool]:
    return reach(RecordType.VISIT_NOTE_ADDENDUM, r)


def visit_logs(r: Reader) -> ColumnElement[bool]:
    return reach(RecordType.VISIT_LOG, r)


def visits(r: Reader) -> ColumnElement[bool]:
    """Over ``VisitLog``: a visit record (the visit log with its note, addenda, photos and flags,
    ``GET /visits``) is seen as its visit log is: a supervisor her team's, office staff and admins
    all, a case manager those on her cases, a counselor her schools'."""
    return visit_logs(r)


def decidable_visits(r: Reader) -> ColumnElement[bool]:
    """Over ``VisitLog``: the visits the reader may decide on (approve or return). An admin any;
    a supervisor those her case managers made (the visit log's author is the case manager whose
    work is reviewed, wherever the case went since); no one else."""
    if r.role is Role.ADMIN:
        return true()
    if r.role is Role.SUPERVISOR:
        return VisitLog.created_by.in_(select(User.id).where(User.supervisor_id == r.user_id))
    return false()


def visit_decisions(r: Reader) -> ColumnElement[bool]:
    """Over ``VisitDecision``: a decision is seen by whoever sees its visit."""
    return exists().where(VisitLog.id == VisitDecision.visit_log_id, visits(r))


def follow_ups(r: Reader) -> ColumnElement[bool]:
    return reach(RecordType.FOLLOW_UP, r)


def form_photos(r: Reader) -> ColumnElement[bool]:
    return reach(RecordType.FORM_PHOTO, r)


def assessments(r: Reader) -> ColumnElement[bool]:
    return reach(RecordType.ASSESSMENT, r)


def service_referrals(r: Reader) -> ColumnElement[bool]:
    return reach(RecordType.SERVICE_REFERRAL, r)


def parent_meetings(r: Reader) -> ColumnElement[bool]:
    return reach(RecordType.PARENT_MEETING, r)


def letters(r: Reader) -> ColumnElement[bool]:
    """Over ``Letter``: a letter under a case is seen as its case; one with no case as its student."""
    return reach(RecordType.LETTER, r)


def conflicts(r: Reader) -> ColumnElement[bool]:
    return reach(RecordType.CONFLICT, r)


def referrals(r: Reader) -> ColumnElement[bool]:
    """Counselors: their schools' referrals. Supervisors: those whose case they can see, and those
    not yet on any case (an ineligible referral waits for a supervisor's override). Case
    managers: those on their cases. Office staff and admins: all."""
    if r.role in ALL_SEEING:
        return true()
    if r.role is Role.ATTENDANCE_COUNSELOR:
        return _school_of_mine(r, Referral.school_id)
    on_a_case = exists().where(Case.id == Referral.case_id, cases(r))
    if r.role is Role.SUPERVISOR:
        return or_(Referral.case_id.is_(None), on_a_case)
    return on_a_case
