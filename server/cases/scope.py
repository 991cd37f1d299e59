"""Which cases a caller may see: the one place the role scoping of cases is decided."""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, false, or_, select, true

from schemas.auth import Role
from schemas.cases import CaseStatus
from server.auth.models import User
from server.auth.service import Principal
from server.cases.models import Case
from server.schools.models import CounselorSchool


def visible_cases(principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause over ``Case`` for what ``principal`` may read.

    - case manager: her assigned cases;
    - supervisor: her team's cases, and unassigned ones (she assigns them);
    - office staff and admin: all;
    - attendance counselor: cases of students at her schools.
    """
    match principal.role:
        case Role.OFFICE_STAFF | Role.ADMIN:
            return true()
        case Role.CASE_MANAGER:
            return Case.case_manager_id == principal.user_id
        case Role.SUPERVISOR:
            team = select(User.id).where(User.supervisor_id == principal.user_id)
            return or_(
                Case.case_manager_id.in_(team),
                Case.case_manager_id == principal.user_id,
                (Case.case_manager_id.is_(None)) & (Case.status == CaseStatus.REFERRED),
            )
        case Role.ATTENDANCE_COUNSELOR:
            return exists().where(
                CounselorSchool.user_id == principal.user_id, CounselorSchool.school_id == Case.school_id
            )
    return false()
