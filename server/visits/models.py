"""A supervisor's decisions on visit records: approve or return, kept one row each."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from schemas.visits import ReviewDecision
from server.orm import Base
from server.orm_types import one_of


class VisitDecision(Base):
    """One decision on a visit's note, under the id the client made (``decision_id``): the same
    decision sent again answers ``response``, the body it answered first. ``submitted_at`` (when
    the note had been submitted) and ``decided_at`` measure the turnaround."""

    __tablename__ = "visit_decision"
    __table_args__ = (one_of("decision", ReviewDecision),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    visit_log_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visit_log.id"), nullable=False, index=True)
    note_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visit_note.id"), nullable=False, index=True)
    decided_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"), nullable=False, index=True)
    decision: Mapped[str] = mapped_column(String(16), nullable=False)
    comment: Mapped[str | None] = mapped_column(Text)
    expected_version: Mapped[int] = mapped_column(Integer, nullable=False)
    submitted_at: Mapped[datetime | None] = mapped_column()
    decided_at: Mapped[datetime] = mapped_column(nullable=False, server_default=func.now())
    response: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
