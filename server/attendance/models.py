"""Daily attendance as the school's system exports it. Doorstep classifies absences itself."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from server.orm import Base


class AttendanceRecord(Base):
    """One student's one school day.

    Presence is either ``minutes_present`` out of ``minutes_scheduled``, or the school's own
    ``present_half_day`` flag. ``reason_code`` and documentation apply to absences.
    """

    __tablename__ = "attendance_record"
    __table_args__ = (
        CheckConstraint(
            "minutes_present IS NULL OR (minutes_present >= 0 AND minutes_scheduled > 0 "
            "AND minutes_present <= minutes_scheduled)",
            name="minutes_sane",
        ),
    )

    student_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("student.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    school_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("school.id"), nullable=False, index=True)
    minutes_present: Mapped[int | None] = mapped_column(Integer)
    minutes_scheduled: Mapped[int | None] = mapped_column(Integer)
    present_half_day: Mapped[bool | None] = mapped_column(Boolean)
    tardy: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="false")
    reason_code: Mapped[str | None] = mapped_column(String(32))
    documentation_received_on: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(nullable=False, server_default=func.now(), onupdate=func.now())
