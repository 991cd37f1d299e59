"""A supervisor's review of a submitted visit note: the server side of the note's state machine.

A device moves a note draft → submitted and returned → submitted (``visit_note.submit``); a
reviewer, on the server, moves a submitted note to ``approved`` or ``returned``
(``RECORD_TYPES["visit_note"].review_transitions``). Pure: the server's approvals service writes
what ``decide`` answers, and the store suite seeds it on both stores to play the phone's side.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from schemas.cases import ReviewStatus
from schemas.sync import RecordType
from schemas.visits import ReviewDecision
from sync.policies import RECORD_TYPES, Rejected
from sync.store import Data

OUTCOME: dict[ReviewDecision, ReviewStatus] = {
    ReviewDecision.APPROVE: ReviewStatus.APPROVED,
    ReviewDecision.RETURN: ReviewStatus.RETURNED,
}


def decide(state: str, decision: ReviewDecision, comment: str | None, reviewer: uuid.UUID, at: datetime) -> Data:
    """The fields a decision sets on a note in ``state``: its new ``status`` and its review
    (``review_status``, ``review_comment``, ``reviewed_by``, ``reviewed_at``, as on the wire).

    Raises ``Rejected("invalid_transition")`` for a note that is not awaiting a decision (a draft,
    or one approved or returned already). Whether a return has its comment is the caller's to
    check: this only records what was decided."""
    to_state = OUTCOME[decision].value
    if (state, to_state) not in RECORD_TYPES[RecordType.VISIT_NOTE].review_transitions:
        raise Rejected("invalid_transition", f"a {state} note cannot be {to_state}: only a submitted one is decided")
    return {
        "status": to_state,
        "review_status": to_state,
        "review_comment": comment or None,
        "reviewed_by": str(reviewer),
        "reviewed_at": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }
