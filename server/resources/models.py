"""A community resource of the district's directory. It is the district's, not a student's:
every case manager's phone holds the whole directory (``resource`` in the pull)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import CheckConstraint, Float, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from server.orm import Base, Versioned


class Resource(Versioned, Base):
    __tablename__ = "resource"
    __table_args__ = (
        CheckConstraint("jsonb_typeof(factors) = 'array'", name="factors_array"),
        CheckConstraint("jsonb_typeof(languages) = 'array'", name="languages_array"),
    )

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    factors: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    """The assessment factors (``schemas.casework.Factor``) it helps with."""
    languages: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, server_default=text("'[\"en\"]'::jsonb"))
    """BCP 47 codes of the languages it serves families in."""
    address: Mapped[str | None] = mapped_column(String(300))
    phone: Mapped[str | None] = mapped_column(String(32))
    website: Mapped[str | None] = mapped_column(String(300))
    hours: Mapped[str | None] = mapped_column(String(200))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(nullable=False, server_default=text("true"))
