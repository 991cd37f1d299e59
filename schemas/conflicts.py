"""Wire structs for reviewing and resolving sync conflicts (office staff)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec


class ConflictStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class Choice(enum.StrEnum):
    THEIRS = "theirs"
    """Keep the server's current record as it is."""
    MINE = "mine"
    """Apply the device's version (``mine``) to the record."""
    CUSTOM = "custom"
    """Apply ``data``, e.g. two texts combined by hand."""


class ConflictOut(msgspec.Struct):
    id: uuid.UUID
    record_type: str
    record_id: uuid.UUID
    kind: str
    client_id: uuid.UUID | None
    author_id: uuid.UUID | None
    mutation_id: int | None
    base: Any
    """The record as it was at ``base_version``, the version the phone started from (its fields
    as a pull sends them), from the versions the server keeps; ``null`` when the conflict names no
    base, or that version predates the history (kept since migration 0015) or was an intermediate
    state of one push."""
    mine: Any
    theirs: Any
    status: ConflictStatus
    resolution: Any
    created_at: datetime
    version: int
    base_version: int | None = None
    """The version the phone started from (an added field)."""
    theirs_version: int | None = None
    """The record's version on the server when the phone's change arrived: ``theirs`` (an added field)."""


class DiffOp(enum.StrEnum):
    EQUAL = "equal"
    INSERT = "insert"
    """Words in ``mine`` (the phone's) that ``theirs`` (the server's) does not have."""
    DELETE = "delete"
    """Words in ``theirs`` that ``mine`` does not have."""


class DiffPart(msgspec.Struct):
    op: DiffOp
    text: str
    """Words with the whitespace that follows each; the parts of one side, joined, are its text."""


class ConflictDetail(ConflictOut, kw_only=True):
    """A conflict for its reader (``GET /conflicts/{id}``), with a word-level diff of each text
    field, from ``theirs`` to ``mine``: ``equal`` and ``delete`` parts joined give theirs,
    ``equal`` and ``insert`` parts give mine. A reading aid; the merge is the person's."""

    diff: dict[str, list[DiffPart]]


class ConflictPage(msgspec.Struct):
    items: list[ConflictOut]
    next_cursor: str | None


class ResolveRequest(msgspec.Struct):
    choice: Choice
    note: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    data: dict[str, Any] | None = None
    expected_version: Annotated[int, msgspec.Meta(ge=1)] | None = None
    """The conflict's ``version`` the person read; if it has moved on (someone resolved it
    meanwhile), 409 ``stale_version`` with the conflict as it is now. An added optional field."""
