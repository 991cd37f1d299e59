"""Results of CSV imports (rosters, calendars, attendance)."""

from __future__ import annotations

import enum

import msgspec


class ImportMode(enum.StrEnum):
    ALL_OR_NOTHING = "all_or_nothing"
    """Any bad row: nothing is written."""
    GOOD_ROWS = "good_rows"
    """Good rows are applied; bad rows are reported."""


class BadRow(msgspec.Struct):
    line: int
    """The line in the file (the header is line 1)."""
    reason: str


class ImportResult(msgspec.Struct, kw_only=True):
    kind: str
    mode: ImportMode
    rows: int
    """Data rows read."""
    applied: bool
    """False when nothing was written (all-or-nothing with bad rows)."""
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: int = 0
    bad_rows: list[BadRow] = msgspec.field(default_factory=list)
    by_table: dict[str, dict[str, int]] = msgspec.field(default_factory=dict)
    """Inserted and updated records per table (rosters touch several)."""
    evaluation_queued: bool = False
