"""Visit logs as the API answers them: the ``visit_log`` record a pull carries, with its id and version."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

from schemas.cases import VisitFlag, VisitLogStatus, VisitOutcome
from schemas.truancy import TruancyReport


class VisitLogOut(msgspec.Struct, kw_only=True):
    """A home visit as the phone logged it and the server reconciled it (docs/protocol.md)."""

    id: uuid.UUID
    version: int
    case_id: uuid.UUID
    created_by: uuid.UUID | None
    status: VisitLogStatus
    checked_in_at: datetime
    latitude: float | None
    longitude: float | None
    accuracy_m: float | None
    altitude_m: float | None
    distance_m: float | None
    """The check-in's distance from home in metres, when both are known."""
    checked_out_at: datetime | None
    outcome: VisitOutcome | None
    out_latitude: float | None
    out_longitude: float | None
    out_accuracy_m: float | None
    flags: list[VisitFlag]
    """What reconciliation found odd, each once, in ``VisitFlag`` order."""
    truancy: TruancyReport | None = None
    """The student's truancy status on the visit's date, as ``GET /students/{id}/truancy?as_of=``
    answered it when the visit arrived; null when no school year covers that day. An added
    optional field."""


class VisitLogPage(msgspec.Struct):
    items: list[VisitLogOut]
    next_cursor: str | None
