"""A record's history for the console: every kept version (``server.sync.versions``), oldest
first, with when, who and through what it was written, for a person to read (the visit page's
"History" of its note)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.sync import versions
from sync.store import PUSH, Ref, Version


@dataclass(frozen=True)
class Entry:
    """One version as the page shows it."""

    version: int
    written_at: datetime
    who: str
    via: str
    deleted: bool
    data: dict[str, Any]


def via(version: Version) -> str:
    """Through what the version was written, in words."""
    if version.via == PUSH:
        device = f"device {str(version.client_id)[:8]}" if version.client_id else "a device"
        if version.mutation_id is None:
            return f"a sync from {device} (as a consequence of its changes)"
        return f"a sync from {device}, its change number {version.mutation_id}"
    if version.via == versions.BACKFILL:
        return "kept when the server began keeping versions (the versions before it are gone)"
    if version.via:
        return f"the server: {version.via}"
    return "the server (no request named)"


async def history(session: AsyncSession, ref: Ref, people: dict[uuid.UUID, str]) -> list[Entry]:
    """Every kept version of the record, oldest first; ``people`` names the writers."""
    return [
        Entry(
            v.version,
            v.written_at,
            people.get(v.written_by, "unknown") if v.written_by else "unknown",
            via(v),
            v.deleted,
            v.data,
        )
        for v in await versions.history(session, ref)
    ]
