"""Schools, school years, and each school's instructional calendar."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import CheckConstraint, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.orm import Base


class School(Base):
    __tablename__ = "school"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)


class SchoolYear(Base):
    __tablename__ = "school_year"
    __table_args__ = (CheckConstraint("starts_on < ends_on", name="starts_before_ends"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(16), nullable=False, unique=True)  # e.g. "2025-2026"
    starts_on: Mapped[date] = mapped_column(Date, nullable=False)
    ends_on: Mapped[date] = mapped_column(Date, nullable=False)


class InstructionalDay(Base):
    """A day a school is in session. Absences are counted only on these days."""

    __tablename__ = "instructional_day"

    school_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("school.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    school_year_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("school_year.id"), nullable=False, index=True)


class CounselorSchool(Base):
    """The schools an attendance counselor works at; her referrals and cases are scoped to them."""

    __tablename__ = "counselor_school"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    school_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("school.id"), primary_key=True)
