"""``letter.request``: a case manager asks the office for a family letter from the phone.

The letter is stored under the case as ``requested``, with no words yet: the office's next batch
makes it as of its day, in the household's language, and prints it (docs/letters.md); the phone
sees it move to ``ready`` and ``mailed`` in later pulls. Out of scope is ``not_in_scope``; a request
on a closed case is kept and flagged ``case_closed``.
"""

from __future__ import annotations

from schemas.letters import LetterStatus
from schemas.mutations import LetterRequest
from schemas.sync import RecordType
from sync.casework import _case, _closed, _once, flagged
from sync.handlers import case_ref, handler, wire_time
from sync.policies import BatchView, Decision
from sync.store import Ref

SERVER_MADE = ("flags", "status", "language", "fallback", "as_of", "mailed_at", "returned_at", "created_at")
"""What the server fills or moves after the request: a replay of the same request is compared
without them."""


@handler(LetterRequest, refs=lambda m: [Ref(RecordType.LETTER, m.args.id), case_ref(m.args.case_id)])
def letter_request(view: BatchView, m: LetterRequest) -> Decision:
    """Insert-only: the same id and content again is a no-op, other content a ``duplicate_id``
    conflict."""
    case = _case(view, m.args.case_id)
    data = {
        "case_id": str(m.args.case_id),
        "student_id": case.data["student_id"],
        "kind": m.args.kind.value,
        "language": None,
        "fallback": False,
        "status": LetterStatus.REQUESTED.value,
        "created_at": wire_time(view.received_at),
        "created_by": str(view.principal.user_id),
        "as_of": None,
        "note": m.args.note,
        "body": m.args.body,
        "mailed_at": None,
        "returned_at": None,
        "flags": flagged(_closed(case)),
    }
    return _once(view, Ref(RecordType.LETTER, m.args.id), data, server_fields=SERVER_MADE)
