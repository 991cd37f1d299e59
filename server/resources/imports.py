"""Resource import: the district's directory from a CSV file (format in docs/imports.md).

A directory is small (hundreds of rows, not millions), so unlike the roster it is not staged by
COPY: each row is read with the csv module, checked by the same rules as ``POST /resources``
(``service.clean``), matched to what is stored, and written through the ORM by the same service,
so every change is audited and logged for the phones' pulls like a change made through the API.

A row is matched by ``id`` when it has one (an id no resource has is a bad row), else by its exact
name and address: a re-import adds nothing twice. Strict by default: one bad row and nothing is
written."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.casework import Factor, ResourceCreate, ResourceIn
from schemas.imports import BadRow, ImportMode, ImportResult
from server import imports as imp
from server.audit import Actor
from server.resources import repository as repo
from server.resources import service
from server.resources.models import Resource

REQUIRED = ("name",)
OPTIONAL = ("id", "factors", "languages", "address", "phone", "website", "hours", "latitude", "longitude", "active")
MAX_IMPORT_BYTES = 5 * 1024 * 1024
"""A directory of thousands of resources is far below this."""
KIND = "resource"


@dataclass(frozen=True)
class Row:
    line: int
    id: uuid.UUID | None
    data: ResourceIn


def _list(value: str) -> list[str]:
    return [part.strip() for part in value.split(";") if part.strip()]


def _number(value: str, name: str, reasons: list[str]) -> float | None:
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        reasons.append(f"{name}: not a number: {value!r}")
        return None
    return number


def _converter(ix: dict[str, int]) -> imp.Convert:
    def get(row: list[str], name: str) -> str:
        i = ix.get(name)
        return row[i].strip() if i is not None else ""

    def convert(row: list[str]) -> tuple[Any, ...]:
        """``(id, ResourceIn)``; every reason the row is bad, at once, in a RowError."""
        reasons: list[str] = []
        resource_id = None
        if raw_id := get(row, "id"):
            try:
                resource_id = uuid.UUID(raw_id)
            except ValueError:
                reasons.append(f"id: not a UUID: {raw_id!r} (leave it empty to add a new resource)")
        factors: list[Factor] = []
        for code in _list(get(row, "factors")):
            try:
                factors.append(Factor(code.lower()))
            except ValueError:
                reasons.append(f"factors: unknown code {code!r} (the codes are listed in docs/imports.md)")
        languages = _list(get(row, "languages")) or ["en"]
        latitude = _number(get(row, "latitude"), "latitude", reasons)
        longitude = _number(get(row, "longitude"), "longitude", reasons)
        try:
            active = imp.parse_bool(get(row, "active"), "active")
        except imp.RowError as exc:
            reasons.append(str(exc))
            active = None
        data = ResourceIn(
            name=get(row, "name"),
            factors=factors,
            languages=languages,
            address=get(row, "address") or None,
            phone=get(row, "phone") or None,
            website=get(row, "website") or None,
            hours=get(row, "hours") or None,
            latitude=latitude,
            longitude=longitude,
            active=True if active is None else active,
        )
        numbers_read = not any(r.startswith(("latitude:", "longitude:")) for r in reasons)
        for field, reason in service.problems(data):
            if field in ("latitude", "longitude") and not numbers_read:
                continue  # "not a number" already says it
            reasons.append(f"{field}: {reason}")
        if reasons:
            raise imp.RowError("; ".join(reasons))
        return resource_id, service.clean(data)

    return convert


def _match(rows: list[Row], stored: Iterable[Resource], bad: list[BadRow]) -> list[tuple[Row, Resource | None]]:
    """Each good row with the stored resource it updates (None: a new one). Bad: an id no resource
    has, an id or a name and address the file repeats, a name and address that match several
    stored resources, two rows that would update the same resource."""
    by_id: dict[uuid.UUID, Resource] = {}
    by_key: dict[tuple[str, str | None], list[Resource]] = {}
    for r in stored:
        by_id[r.id] = r
        by_key.setdefault((r.name, r.address), []).append(r)
    first_id: dict[uuid.UUID, int] = {}
    first_key: dict[tuple[str, str | None], int] = {}
    first_target: dict[uuid.UUID, int] = {}
    plan: list[tuple[Row, Resource | None]] = []
    for row in rows:
        key = (row.data.name, row.data.address)
        target: Resource | None = None
        reason = None
        if row.id is not None:
            target = by_id.get(row.id)
            if row.id in first_id:
                reason = f"id repeats line {first_id[row.id]}"
            elif target is None:
                reason = "id: no resource has this id (leave id empty to add a new resource)"
            first_id.setdefault(row.id, row.line)
        else:
            matches = by_key.get(key, [])
            if key in first_key:
                reason = f"name and address repeat line {first_key[key]} (one resource per name and address)"
            elif len(matches) > 1:
                reason = f"name and address match {len(matches)} stored resources: give the id of the one to update"
            else:
                target = matches[0] if matches else None
            first_key.setdefault(key, row.line)
        if reason is None and target is not None:
            if target.id in first_target:
                reason = f"updates the same resource as line {first_target[target.id]}"
            first_target.setdefault(target.id, row.line)
        if reason is not None:
            bad.append(BadRow(row.line, reason))
        else:
            plan.append((row, target))
    return plan


async def import_resources(
    session: AsyncSession,
    actor: Actor,
    lines: Iterable[str],
    *,
    mode: ImportMode = ImportMode.ALL_OR_NOTHING,
    source_name: str = "",
    progress: imp.Progress | None = None,
    total_rows: int = 0,
) -> ImportResult:
    """Add and update the resources of a CSV file. Nothing is written when a row is bad, unless
    ``mode`` is ``good_rows``. Flushes; the caller commits."""
    staged = imp.Staged()
    rows: list[Row] = []
    for batch in imp.batches(lines, REQUIRED, OPTIONAL, _converter, staged):
        rows.extend(Row(line, resource_id, data) for line, resource_id, data in batch)
        if progress:
            progress("read", staged.rows, max(total_rows, staged.rows))
    await repo.lock_directory(session)
    bad = list(staged.bad)
    plan = _match(rows, await repo.everything(session), bad)
    bad.sort(key=lambda b: b.line)
    result = ImportResult(kind=KIND, mode=mode, rows=staged.rows, applied=False, rejected=len(bad), bad_rows=bad)
    if not imp.should_apply(mode, bad):
        return result
    import_id = uuid.uuid4()
    for n, (row, target) in enumerate(plan, start=1):
        where = {"import_id": str(import_id), "line": row.line}
        if target is None:
            body = ResourceCreate(**{f: getattr(row.data, f) for f in service.CONTENT})
            await service.create(session, actor, body, **where)
            result.inserted += 1
        elif service.apply(session, actor, target, service.content(row.data), **where):
            result.updated += 1
        else:
            result.unchanged += 1
        if progress:
            progress("apply", n, len(plan))
    result.applied = True
    imp.audit_import(session, actor, import_id, source_name, result)
    await session.flush()
    return result
