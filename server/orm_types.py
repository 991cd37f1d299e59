"""Small helpers for declaring columns."""

from __future__ import annotations

import enum

from sqlalchemy import CheckConstraint


def one_of(column: str, values: type[enum.StrEnum], name: str | None = None) -> CheckConstraint:
    """A CHECK constraint keeping a text column within an enum's values."""
    listed = ", ".join(f"'{v.value}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=name or f"{column}_known")
