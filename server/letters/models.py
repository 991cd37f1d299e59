"""A family letter and the office's batches of them (docs/letters.md).

A letter's ``content`` is what it says, gathered as of its date (``schemas.letters.LetterContent``):
kept with the letter, so its PDF is the same whenever it is printed and the record of what the
family was told survives later corrections of attendance. A letter under a case syncs to the case
manager's phone (type ``letter``); a letter to a student with no case yet (an early notice) lives
on the server only.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from schemas.letters import BatchStatus, LetterKind, LetterStatus
from server.orm import Base, Tombstoned, Versioned
from server.orm_types import one_of


class Letter(Tombstoned, Versioned, Base):
    __tablename__ = "letter"
    __table_args__ = (
        one_of("kind", LetterKind),
        one_of("status", LetterStatus),
        CheckConstraint("jsonb_typeof(flags) = 'array'", name="flags_array"),
        # a batch asks each student's letters of the year, and the requested ones waiting
        Index("ix_letter_student_year", "student_id", "school_year_id"),
        Index("ix_letter_waiting", "status", postgresql_where=text("status = 'requested' AND deleted_at IS NULL")),
    )

    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("case_file.id"), index=True)
    student_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("student.id"), nullable=False, index=True)
    school_year_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("school_year.id"))
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    by_rule: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    """Made by a batch because a due-rule held; otherwise a person asked for it."""
    language: Mapped[str | None] = mapped_column(String(8))
    """The catalog it is written in (``en``, ``es``, ``pt``); none until it is made."""
    requested_language: Mapped[str | None] = mapped_column(String(35))
    fallback: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    as_of: Mapped[date | None] = mapped_column(Date)
    meeting_at: Mapped[datetime | None] = mapped_column()
    meeting_place: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    content: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    batch_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("letter_batch.id"), index=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    device_id: Mapped[uuid.UUID | None] = mapped_column()
    mailed_at: Mapped[datetime | None] = mapped_column()
    returned_at: Mapped[datetime | None] = mapped_column()
    returned_note: Mapped[str | None] = mapped_column(Text)
    flags: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    """What a phone's request broke and was kept anyway (``case_closed``)."""


class LetterBatch(Base):
    __tablename__ = "letter_batch"
    __table_args__ = (one_of("status", BatchStatus),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, nullable=False)
    kinds: Mapped[list[Any] | None] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    done: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    total: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(nullable=False, server_default=text("now()"))
    updated_at: Mapped[datetime] = mapped_column(nullable=False, server_default=text("now()"))
    mailed_at: Mapped[datetime | None] = mapped_column()


class LetterKindSet(Base):
    """The letter kinds of one school year, as an admin configured them; a year with none stored
    uses ``schemas.letters.DEFAULT_KINDS``."""

    __tablename__ = "letter_kind_set"

    school_year_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("school_year.id"), primary_key=True)
    kinds: Mapped[list[Any]] = mapped_column(JSONB, nullable=False)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[datetime] = mapped_column(nullable=False, server_default=text("now()"))
