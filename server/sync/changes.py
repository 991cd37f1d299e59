"""Reading the change log for a device: the pull half of sync on PostgreSQL.

A pull has two phases, both keyset-paginated and bounded by rows and bytes:

1. **snapshot** (no cursor yet, or after a reset): every record in the device's scope, type by
   type in id order. The position to continue from afterwards is the first page's horizon.
2. **changes**: rows of ``sync_change`` after the cursor's ``(txid, seq)``, but only those of
   transactions older than the snapshot's ``xmin`` (``pg_snapshot_xmin``). A transaction that is
   still open holds back every later one, so a change that commits after a later one is never
   skipped; it costs a little latency, never a lost change.

Each page, its records' current data, the horizon and ``last_mutation_id`` come from ONE
statement, so they share one snapshot. ``last_mutation_id`` counts only mutations whose changes
the device has been sent (their transaction is below the page's bound).
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    exists,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.service import Principal
from server.cases.models import Case, ContactAttempt, VisitNote
from server.cases.scope import visible_cases
from server.students.models import Household, Student
from server.sync.models import Conflict, SyncChange, SyncMutation, SyncScopeEpoch

XMIN: Any = literal_column("(pg_snapshot_xmin(pg_current_snapshot())::text)::bigint")

# Record types in snapshot order (parents first), each with its table and the fields of `data`.
RECORD_FIELDS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "household": (Household, ("phone", "alt_phone", "language", "address", "latitude", "longitude")),
    "student": (
        Student,
        ("student_number", "first_name", "last_name", "birth_date", "grade", "household_id", "school_id"),
    ),
    "case": (
        Case,
        ("student_id", "school_id", "status", "case_manager_id", "opened_at", "closed_at", "outcome", "close_reason"),
    ),
    "contact_attempt": (ContactAttempt, ("case_id", "method", "outcome", "at", "note", "created_by")),
    "visit_note": (VisitNote, ("case_id", "author_id", "body", "status", "submitted_at")),
    "conflict": (
        Conflict,
        ("record_type", "record_id", "kind", "mutation_id", "base", "mine", "theirs", "status", "resolution"),
    ),
}
TYPE_ORDER = list(RECORD_FIELDS)


class Cursor(msgspec.Struct, omit_defaults=True):
    e: int  # scope epoch
    x: int  # change position: txid (exclusive below this txid's seq q)
    q: int = 0
    t: int = -1  # snapshot phase: type index of the last record sent (-1 = not in snapshot phase)
    i: str = ""  # snapshot phase: id of the last record sent


def encode_cursor(cursor: Cursor) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(cursor)).decode().rstrip("=")


def decode_cursor(raw: str) -> Cursor | None:
    try:
        return msgspec.json.decode(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)), type=Cursor)
    except (ValueError, msgspec.DecodeError):
        return None


@dataclass(frozen=True)
class Change:
    op: str  # "put" | "del"
    type: str
    id: uuid.UUID
    version: int
    data: dict[str, Any] | None


@dataclass(frozen=True)
class Page:
    changes: list[Change]
    cursor: str
    has_more: bool
    reset: bool
    last_mutation_id: int


def _in_scope(record_type: str, principal: Principal, device_id: uuid.UUID) -> ColumnElement[bool]:
    """A predicate over a row of ``record_type``'s table: is it in this device's scope now?"""
    cases = visible_cases(principal)
    match record_type:
        case "case":
            return cases
        case "contact_attempt":
            return exists().where(Case.id == ContactAttempt.case_id, cases)
        case "visit_note":
            return exists().where(Case.id == VisitNote.case_id, cases)
        case "student":
            return exists().where(Case.student_id == Student.id, cases)
        case "household":
            return exists().where(Student.household_id == Household.id, Case.student_id == Student.id, cases)
        case "conflict":
            return Conflict.client_id == device_id
    return false()


def _record_json(model: Any, fields: tuple[str, ...]) -> Any:
    args: list[Any] = []
    for field in fields:
        args += [literal(field), getattr(model, field)]
    return func.jsonb_build_object(*args)


async def _epoch(session: AsyncSession) -> int:
    return int(await session.scalar(select(SyncScopeEpoch.epoch).where(SyncScopeEpoch.id == 1)) or 0)


async def pull(
    session: AsyncSession,
    principal: Principal,
    device_id: uuid.UUID,
    raw_cursor: str | None,
    *,
    limit: int = 500,
    max_bytes: int = 1_000_000,
) -> Page:
    epoch = await _epoch(session)
    cursor = decode_cursor(raw_cursor) if raw_cursor else None
    reset = raw_cursor is not None and (cursor is None or cursor.e != epoch)
    if cursor is None or reset:
        cursor = Cursor(e=epoch, x=0, t=0, i="")  # x=0: take the horizon on the first page
    if cursor.t >= 0:
        return await _snapshot_page(session, principal, device_id, cursor, limit, max_bytes, reset)
    return await _change_page(session, principal, device_id, cursor, limit, max_bytes)


async def _snapshot_page(
    session: AsyncSession,
    principal: Principal,
    device_id: uuid.UUID,
    cursor: Cursor,
    limit: int,
    max_bytes: int,
    reset: bool,
) -> Page:
    parts: list[Select[Any]] = []
    for index, (record_type, (model, fields)) in enumerate(RECORD_FIELDS.items()):
        if index < cursor.t:
            continue
        query = select(
            literal(index).label("type_index"),
            literal(record_type).label("record_type"),
            model.id.label("id"),
            model.version.label("version"),
            _record_json(model, fields).label("data"),
        ).where(_in_scope(record_type, principal, device_id))
        if index == cursor.t and cursor.i:
            query = query.where(model.id > uuid.UUID(cursor.i))
        parts.append(query)
    records = union_all(*parts).subquery("records")
    statement = (
        select(
            records,
            XMIN.label("xmin"),
            _last_mutation_id(device_id, XMIN).label("last_mutation_id"),
        )
        .order_by(records.c.type_index, records.c.id)
        .limit(limit + 1)
    )
    rows = (await session.execute(statement)).all()
    horizon = cursor.x
    last_mutation_id = 0
    if not rows:
        # Nothing (more) in scope: one cheap statement for the horizon and last_mutation_id.
        row = (await session.execute(select(XMIN, _last_mutation_id(device_id, XMIN)))).one()
        horizon = horizon or int(row[0])
        return Page([], encode_cursor(Cursor(e=cursor.e, x=horizon)), False, reset, int(row[1] or 0))
    horizon = horizon or int(rows[0].xmin)
    changes, used = _cut([Change("put", r.record_type, r.id, r.version, r.data) for r in rows[:limit]], max_bytes)
    has_more = len(rows) > used
    last = rows[used - 1]
    if has_more:
        next_cursor = Cursor(e=cursor.e, x=horizon, t=int(last.type_index), i=str(last.id))
    else:
        next_cursor = Cursor(e=cursor.e, x=horizon)
        last_mutation_id = int(rows[0].last_mutation_id or 0)
    return Page(changes, encode_cursor(next_cursor), has_more, reset, last_mutation_id)


def _cut(changes: list[Change], max_bytes: int) -> tuple[list[Change], int]:
    """Keep changes while their encoded size stays within ``max_bytes`` (always at least one)."""
    total = 0
    for n, change in enumerate(changes):
        total += len(msgspec.json.encode(change.data)) + 100
        if total > max_bytes and n > 0:
            return changes[:n], n
    return changes, len(changes)


def _last_mutation_id(device_id: uuid.UUID, bound: Any) -> Any:
    return (
        select(func.coalesce(func.max(SyncMutation.mutation_id), 0))
        .where(SyncMutation.client_id == device_id, SyncMutation.txid < bound)
        .scalar_subquery()
    )


async def _change_page(
    session: AsyncSession,
    principal: Principal,
    device_id: uuid.UUID,
    cursor: Cursor,
    limit: int,
    max_bytes: int,
) -> Page:
    c = SyncChange.__table__.alias("c")
    deliverable = or_(
        and_(c.c.op == "put", c.c.audience_user_id.is_(None), _any_visible(c, principal, device_id)),
        and_(c.c.op == "del", c.c.audience_user_id.is_(None)),
        and_(
            c.c.op == "del",
            c.c.audience_user_id == principal.user_id,
            ~_any_visible(c, principal, device_id),
        ),
    )
    page = (
        select(c.c.txid, c.c.seq, c.c.record_type, c.c.record_id, c.c.op)
        .where(tuple_(c.c.txid, c.c.seq) > tuple_(literal(cursor.x), literal(cursor.q)), c.c.txid < XMIN, deliverable)
        .order_by(c.c.txid, c.c.seq)
        .limit(limit + 1)
        .subquery("page")
    )
    version, data = _current(page.c.record_type, page.c.record_id)
    statement = select(
        page,
        version.label("version"),
        data.label("data"),
        XMIN.label("xmin"),
        _last_mutation_id(device_id, XMIN).label("last_mutation_id"),
    )
    rows = (await session.execute(statement.order_by(page.c.txid, page.c.seq))).all()
    if not rows:
        row = (await session.execute(select(XMIN, _last_mutation_id(device_id, XMIN)))).one()
        horizon = max(cursor.x, int(row[0])) if cursor.q == 0 else cursor.x
        next_cursor = Cursor(e=cursor.e, x=horizon, q=0) if cursor.q == 0 else cursor
        return Page([], encode_cursor(next_cursor), False, False, int(row[1] or 0))
    window = rows[:limit]
    latest: dict[tuple[str, uuid.UUID], Any] = {}
    for row in window:
        latest.pop((row.record_type, row.record_id), None)
        latest[(row.record_type, row.record_id)] = row
    changes = []
    for row in latest.values():
        if row.op == "put" and row.data is not None:
            changes.append(Change("put", row.record_type, row.record_id, row.version, row.data))
        else:
            changes.append(Change("del", row.record_type, row.record_id, row.version or 0, None))
    changes, used = _cut(changes, max_bytes)
    has_more = len(rows) > limit or used < len(latest)
    if used < len(latest):
        # Cut by bytes: continue after the last change kept, in log order.
        kept = {(ch.type, ch.id) for ch in changes}
        last = max((r for r in window if (r.record_type, r.record_id) in kept), key=lambda r: (r.txid, r.seq))
    else:
        last = window[-1]
    next_cursor = Cursor(e=cursor.e, x=int(last.txid), q=int(last.seq))
    bound = int(last.txid) if has_more else int(rows[0].xmin)
    last_mutation_id = int(rows[0].last_mutation_id or 0) if not has_more else await _lmid(session, device_id, bound)
    return Page(changes, encode_cursor(next_cursor), has_more, False, last_mutation_id)


async def _lmid(session: AsyncSession, device_id: uuid.UUID, bound: int) -> int:
    return int(await session.scalar(select(_last_mutation_id(device_id, literal(bound)))) or 0)


def _any_visible(c: Any, principal: Principal, device_id: uuid.UUID) -> ColumnElement[bool]:
    return or_(
        *(
            and_(
                c.c.record_type == t,
                exists(select(1).select_from(m).where(m.id == c.c.record_id, _in_scope(t, principal, device_id))),
            )
            for t, (m, _) in RECORD_FIELDS.items()
        )
    )


def _current(record_type: Any, record_id: Any) -> tuple[Any, Any]:
    """The record's current ``version`` and ``data``, chosen by its type."""
    version = case(
        *(
            (record_type == t, select(m.version).where(m.id == record_id).scalar_subquery())
            for t, (m, _) in RECORD_FIELDS.items()
        ),
        else_=None,
    )
    data = case(
        *(
            (record_type == t, select(_record_json(m, f)).where(m.id == record_id).scalar_subquery())
            for t, (m, f) in RECORD_FIELDS.items()
        ),
        else_=None,
    )
    return version, data
