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
    mine: Any
    theirs: Any
    status: ConflictStatus
    resolution: Any
    created_at: datetime
    version: int


class ConflictPage(msgspec.Struct):
    items: list[ConflictOut]
    next_cursor: str | None


class ResolveRequest(msgspec.Struct):
    choice: Choice
    note: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    data: dict[str, Any] | None = None
