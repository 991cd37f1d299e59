"""The casework mutations: an assessment of why the child misses school, referrals to resources,
the parent meeting, and follow-ups a case manager schedules and moves.

Each is one handler, registered with ``sync.handlers.handler`` like the field records'. Out of
scope is refused (``not_in_scope``, as for every record under a case); a business rule broken is
stored and flagged (``schemas.casework.CaseworkFlag``): a record on a closed case, a referral to an
inactive resource, a meeting when none was due.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from schemas.cases import FollowUpStatus
from schemas.casework import CaseworkFlag
from schemas.mutations import (
    AssessmentSave,
    FollowUpReschedule,
    FollowUpSchedule,
    ParentMeetingRecord,
    ServiceReferralCreate,
    ServiceReferralUpdate,
)
from schemas.sync import RecordType, Status
from sync import policies
from sync.flags import FUTURE_TOLERANCE
from sync.handlers import case_ref, handler, require_case, require_record, wire_time
from sync.policies import BatchView, Decision, Rejected
from sync.store import MEETINGS_DUE, Current, Data, Ref


def flagged(*found: CaseworkFlag | None) -> list[str]:
    """Flags as stored: each once, in ``CaseworkFlag`` order."""
    present = {f for f in found if f is not None}
    return [f.value for f in CaseworkFlag if f in present]


def _case(view: BatchView, case_id: uuid.UUID) -> Current:
    require_case(view, case_id)
    case = view.get(case_ref(case_id))
    assert case is not None
    return case


def _closed(case: Current) -> CaseworkFlag | None:
    return CaseworkFlag.CASE_CLOSED if case.data.get("status") == "closed" else None


def _future(view: BatchView, at: datetime) -> CaseworkFlag | None:
    return CaseworkFlag.TIME_IN_FUTURE if at - view.received_at > FUTURE_TOLERANCE else None


def _once(view: BatchView, ref: Ref, data: Data, server_fields: tuple[str, ...] = ("flags",)) -> Decision:
    """Make the record once: the same mutation content again (a phone that re-queued it) is a
    no-op even where the server's fields have moved since (flags, a status), other content a
    ``duplicate_id`` conflict (``policies.insert``)."""
    current = view.get(ref)
    if current is not None and current.in_scope and not current.deleted:
        mine = {k: v for k, v in data.items() if k not in server_fields}
        if {k: current.data.get(k) for k in mine} == mine:
            return Decision(Status.APPLIED, current.version, flags=tuple(current.data.get("flags") or ()))
    decision = policies.insert(view, ref, data)
    return _with_flags(view, ref, decision)


def _with_flags(view: BatchView, ref: Ref, decision: Decision) -> Decision:
    current = view.get(ref)
    stored = tuple(current.data.get("flags") or ()) if current is not None else ()
    return Decision(decision.status, decision.version, decision.conflict_id, stored)


def _check_visit(view: BatchView, visit_log_id: uuid.UUID | None, case_id: uuid.UUID) -> None:
    if visit_log_id is None:
        return
    visit = require_record(view, Ref(RecordType.VISIT_LOG, visit_log_id))
    if visit.deleted or visit.data["case_id"] != str(case_id):
        raise Rejected("case_mismatch", f"visit_log {visit_log_id} belongs to another case")


# --- assessment.save -----------------------------------------------------------------------------


def _assessment_refs(m: AssessmentSave) -> list[Ref]:
    refs = [Ref(RecordType.ASSESSMENT, m.args.id), case_ref(m.args.case_id)]
    return refs + ([Ref(RecordType.VISIT_LOG, m.args.visit_log_id)] if m.args.visit_log_id else [])


@handler(AssessmentSave, refs=_assessment_refs)
def assessment_save(view: BatchView, m: AssessmentSave) -> Decision:
    """A new id is a new assessment; the same id again an edit from ``base_version`` (keep-both:
    from a stale base the server's stays and the device's is kept in a conflict row)."""
    ref = Ref(RecordType.ASSESSMENT, m.args.id)
    case = _case(view, m.args.case_id)
    _check_visit(view, m.args.visit_log_id, m.args.case_id)
    fields = {
        "at": wire_time(m.args.at),
        "factors": [f.value for f in m.args.factors],
        "primary_factor": m.args.primary_factor.value if m.args.primary_factor else None,
        "visit_log_id": str(m.args.visit_log_id) if m.args.visit_log_id else None,
        "strengths": m.args.strengths,
        "student_voice": m.args.student_voice,
        "notes": m.args.notes,
        "flags": flagged(_closed(case), _future(view, m.args.at)),
    }
    current = view.get(ref)
    if current is None:
        data = {"case_id": str(m.args.case_id), "author_id": str(view.principal.user_id)} | fields
        return _with_flags(view, ref, policies.create(view, ref, data))
    current = require_record(view, ref)
    if current.data["case_id"] != str(m.args.case_id):
        raise Rejected("case_mismatch", f"assessment {ref.id} belongs to another case")
    if all(current.data.get(k) == v for k, v in fields.items()):
        return Decision(Status.APPLIED, current.version, flags=tuple(current.data.get("flags") or ()))
    return _with_flags(view, ref, policies.edit(view, ref, m.base_version, fields))


# --- service_referral.create / .update -----------------------------------------------------------


def _referral_refs(m: ServiceReferralCreate) -> list[Ref]:
    refs = [Ref(RecordType.SERVICE_REFERRAL, m.args.id), case_ref(m.args.case_id)]
    return refs + ([Ref(RecordType.RESOURCE, m.args.resource_id)] if m.args.resource_id else [])


@handler(ServiceReferralCreate, refs=_referral_refs)
def service_referral_create(view: BatchView, m: ServiceReferralCreate) -> Decision:
    """A referral of the family to a resource of the directory (its name taken from there when
    the phone sends none) or to one named by hand. To an inactive resource: stored, flagged."""
    ref = Ref(RecordType.SERVICE_REFERRAL, m.args.id)
    case = _case(view, m.args.case_id)
    inactive = None
    name = m.args.resource_name
    if m.args.resource_id is not None:
        resource = view.get(Ref(RecordType.RESOURCE, m.args.resource_id))
        if resource is None or not resource.in_scope:
            raise Rejected("unknown_resource", f"no resource {m.args.resource_id}")
        if not resource.data.get("active", True):
            inactive = CaseworkFlag.RESOURCE_INACTIVE
        name = name or resource.data["name"]
    assert name is not None, "the args struct requires resource_id or resource_name"
    data = {
        "case_id": str(m.args.case_id),
        "resource_id": str(m.args.resource_id) if m.args.resource_id else None,
        "resource_name": name,
        "factor": m.args.factor.value if m.args.factor else None,
        "at": wire_time(m.args.at),
        "status": "made",
        "status_at": wire_time(m.args.at),
        "note": m.args.note,
        "created_by": str(view.principal.user_id),
        "flags": flagged(_closed(case), inactive, _future(view, m.args.at)),
        "updates": [],
    }
    return _once(view, ref, data, server_fields=("flags", "status", "status_at", "updates"))


@handler(ServiceReferralUpdate, refs=lambda m: [Ref(RecordType.SERVICE_REFERRAL, m.args.id)])
def service_referral_update(view: BatchView, m: ServiceReferralUpdate) -> Decision:
    """Where the referral stands now, appended to its ``updates`` with the note (the referral's own
    note stays). Field last-writer-wins: a stale ``base_version`` still applies, and the server's
    value it overtook is kept in a conflict row (nothing is lost)."""
    ref = Ref(RecordType.SERVICE_REFERRAL, m.args.id)
    current = require_record(view, ref)
    update = {"at": wire_time(m.args.at), "status": m.args.status.value, "note": m.args.note}
    update["by"] = str(view.principal.user_id)
    updates = list(current.data.get("updates") or [])
    if update in updates:  # the same update again (re-queued by the phone): a no-op
        return Decision(Status.APPLIED, current.version)
    changes: Data = {"status": update["status"], "status_at": update["at"], "updates": [*updates, update]}
    base = m.base_version if m.base_version is not None else current.version
    return policies.edit(view, ref, base, changes)


# --- parent_meeting.record -----------------------------------------------------------------------


@handler(
    ParentMeetingRecord,
    refs=lambda m: [
        Ref(RecordType.PARENT_MEETING, m.args.id),
        case_ref(m.args.case_id),
        Ref(MEETINGS_DUE, m.args.case_id),
    ],
)
def parent_meeting_record(view: BatchView, m: ParentMeetingRecord) -> Decision:
    """Insert-only. A new meeting completes the student's open parent-meeting follow-ups due from
    a day on or before the meeting's (the deadline CGS 10-198a sets), so the overdue list drops
    them; if none was open it is stored and flagged ``no_meeting_due``."""
    ref = Ref(RecordType.PARENT_MEETING, m.args.id)
    case = _case(view, m.args.case_id)
    held_on = m.args.held_at.date()
    completed = [] if view.get(ref) is not None else _due_meetings(view, m.args.case_id, held_on)
    data = {
        "case_id": str(m.args.case_id),
        "author_id": str(view.principal.user_id),
        "held_at": wire_time(m.args.held_at),
        "place": m.args.place.value,
        "attendees": list(m.args.attendees),
        "interpreter": m.args.interpreter,
        "policy_discussed": m.args.policy_discussed,
        "language": m.args.language,
        "agreements": m.args.agreements,
        "next_meeting_on": m.args.next_meeting_on.isoformat() if m.args.next_meeting_on else None,
        "flags": flagged(
            _closed(case),
            _future(view, m.args.held_at),
            CaseworkFlag.NO_MEETING_DUE if view.get(ref) is None and not completed else None,
        ),
    }
    decision = _once(view, ref, data)
    if decision.status is Status.APPLIED and decision.conflict_id is None:
        done = {
            "completed_at": data["held_at"],
            "completed_by": str(view.principal.user_id),
            "note": f"Parent meeting held ({m.args.place.value})",
        }
        for follow_up_ref, follow_up in completed:
            policies.transition(view, follow_up_ref, follow_up.version, FollowUpStatus.DONE.value, done)
    return decision


def _due_meetings(view: BatchView, case_id: uuid.UUID, held_on: date) -> list[tuple[Ref, Current]]:
    """The deadlines the rules made for the student (open ``parent_meeting`` follow-ups with the
    day she became truant) on or before the day of the meeting, adopted into the batch so that
    completing them is version-guarded like any write. A meeting scheduled by hand is done by
    its own ``follow_up.complete``."""
    due = view.get(Ref(MEETINGS_DUE, case_id))
    found = []
    for item in due.data["follow_ups"] if due is not None else []:
        trigger = item["data"].get("trigger_day")
        if trigger is None or date.fromisoformat(str(trigger)) > held_on:
            continue
        ref = Ref(RecordType.FOLLOW_UP, uuid.UUID(str(item["id"])))
        view.adopt(ref, Current(int(item["version"]), dict(item["data"])))
        current = view.get(ref)
        if current is not None and current.data.get("status") == FollowUpStatus.OPEN.value:
            found.append((ref, current))
    return found


# --- follow_up.schedule / .reschedule ------------------------------------------------------------


@handler(FollowUpSchedule, refs=lambda m: [Ref(RecordType.FOLLOW_UP, m.args.id), case_ref(m.args.case_id)])
def follow_up_schedule(view: BatchView, m: FollowUpSchedule) -> Decision:
    """Made once. On a closed case: stored and flagged ``case_closed``, like the other casework."""
    ref = Ref(RecordType.FOLLOW_UP, m.args.id)
    case = _case(view, m.args.case_id)
    data = {
        "case_id": str(m.args.case_id),
        "student_id": case.data["student_id"],
        "kind": m.args.kind.value,
        "title": m.args.title,
        "due_on": m.args.due_on.isoformat(),
        "status": FollowUpStatus.OPEN.value,
        "completed_at": None,
        "completed_by": None,
        "note": m.args.note,
        "created_by": str(view.principal.user_id),
        "rescheduled": [],
        "trigger_day": None,
        "flags": flagged(_closed(case)),
    }
    moved_since = ("status", "completed_at", "completed_by", "due_on", "rescheduled", "flags")
    return _once(view, ref, data, server_fields=moved_since)


@handler(FollowUpReschedule, refs=lambda m: [Ref(RecordType.FOLLOW_UP, m.args.id)])
def follow_up_reschedule(view: BatchView, m: FollowUpReschedule) -> Decision:
    """A new due date for an open follow-up, the old one kept with the reason. A done one is
    frozen: the change is kept as a conflict. A rules-made meeting deadline may be moved too (the
    family asked for another day); the reports still count from the day the law set. An update
    like ``service_referral.update``: it adds no flag (the follow-up keeps its scheduling's)."""
    ref = Ref(RecordType.FOLLOW_UP, m.args.id)
    current = require_record(view, ref)
    if current.data.get("due_on") == m.args.due_on.isoformat():
        return Decision(Status.APPLIED, current.version)
    moved = {
        "from": current.data.get("due_on"),
        "to": m.args.due_on.isoformat(),
        "reason": m.args.reason,
        "by": str(view.principal.user_id),
    }
    changes = {"due_on": moved["to"], "rescheduled": [*(current.data.get("rescheduled") or []), moved]}
    base = m.base_version if m.base_version is not None else current.version
    return policies.edit(view, ref, base, changes)
