"""Rule sets (versioned per school year) and truancy episodes (transitions the evaluation records)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from schemas.rules import MonthReading, Rule, RulePreset
from server.orm import Base
from server.orm_types import one_of


class RuleSet(Base):
    """One version of a school year's rules. A change adds a row; rows are never updated."""

    __tablename__ = "rule_set"
    __table_args__ = (
        UniqueConstraint("school_year_id", "version"),
        one_of("preset", RulePreset),
        one_of("month_reading", MonthReading),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    school_year_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("school_year.id"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    preset: Mapped[str] = mapped_column(String(16), nullable=False)
    monthly_threshold: Mapped[int] = mapped_column(Integer, nullable=False)
    yearly_threshold: Mapped[int] = mapped_column(Integer, nullable=False)
    habitual_threshold: Mapped[int] = mapped_column(Integer, nullable=False)
    chronic_percent: Mapped[float] = mapped_column(Float, nullable=False)
    month_reading: Mapped[str] = mapped_column(String(16), nullable=False)
    documentation_window_days: Mapped[int] = mapped_column(Integer, nullable=False)
    tier_boundary: Mapped[int] = mapped_column(Integer, nullable=False)
    meeting_due_days: Mapped[int] = mapped_column(Integer, nullable=False)
    wellness_days: Mapped[int] = mapped_column(Integer, nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(nullable=False, server_default=func.now())
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))


class TruancyEpisode(Base):
    """A student met a rule from ``became_on`` (the triggering absence) until ``ended_on``.

    Written only by the evaluation (server.rules.evaluate). At most one open episode per
    student, school year and rule.
    """

    __tablename__ = "truancy_episode"
    __table_args__ = (
        one_of("rule", Rule),
        Index(
            "uq_truancy_episode_open",
            "student_id",
            "school_year_id",
            "rule",
            unique=True,
            postgresql_where=text("ended_on IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=text("gen_random_uuid()"))
    student_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("student.id"), nullable=False, index=True)
    school_year_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("school_year.id"), nullable=False)
    rule: Mapped[str] = mapped_column(String(16), nullable=False)
    became_on: Mapped[date] = mapped_column(Date, nullable=False)
    """The triggering absence (for ``chronic``: the evaluation date that found it)."""
    detected_on: Mapped[date] = mapped_column(Date, nullable=False)
    ended_on: Mapped[date | None] = mapped_column(Date)
    end_reason: Mapped[str | None] = mapped_column(String(32))
    rule_set_version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(nullable=False, server_default=func.now(), onupdate=func.now())
