"""Students, their households and guardians, and enrollments."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from server.orm import Base, Tombstoned, Versioned


class Household(Tombstoned, Versioned, Base):
    """A home. Latitude and longitude are as geocoded at import; Doorstep does not geocode."""

    __tablename__ = "household"
    __table_args__ = (
        Index(
            "ix_household_address_flagged",
            "address_flagged_at",
            postgresql_where=text("address_flagged_at IS NOT NULL"),
        ),
    )

    external_id: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    alt_phone: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(300))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    address_flagged_at: Mapped[datetime | None] = mapped_column()
    """A letter to this address came back (``POST /letters/{id}/returned``): office staff review the
    address and clear the flag (the console's Letters page lists the flagged households)."""
    address_flag_note: Mapped[str | None] = mapped_column(Text)


class Guardian(Base):
    __tablename__ = "guardian"
    __table_args__ = (UniqueConstraint("household_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("household.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    relationship: Mapped[str | None] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str | None] = mapped_column(String(32))


class Student(Tombstoned, Versioned, Base):
    __tablename__ = "student"

    student_number: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    first_name: Mapped[str] = mapped_column(String(100), nullable=False)
    last_name: Mapped[str] = mapped_column(String(100), nullable=False)
    birth_date: Mapped[date | None] = mapped_column(Date)
    grade: Mapped[str | None] = mapped_column(String(4))  # "K", "1".."12"
    household_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("household.id"), index=True)
    school_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("school.id"), index=True)


class Enrollment(Base):
    """A student enrolled at a school for (part of) a school year."""

    __tablename__ = "enrollment"
    __table_args__ = (
        UniqueConstraint("student_id", "school_id", "school_year_id", "entered_on"),
        Index("ix_enrollment_school_year", "school_year_id", "school_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    student_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("student.id"), nullable=False, index=True)
    school_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("school.id"), nullable=False)
    school_year_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("school_year.id"), nullable=False)
    grade: Mapped[str | None] = mapped_column(String(4))
    entered_on: Mapped[date] = mapped_column(Date, nullable=False)
    exited_on: Mapped[date | None] = mapped_column(Date)
