"""The sync core's Store on PostgreSQL: the only place sync meets SQL.

Push: ``lock_client`` locks the client's row; ``load`` share-locks the cases the batch touches,
then reads every record the batch touches in one statement; ``commit_batch`` writes the survivors
with one statement per table (rows passed as one JSON document through ``jsonb_to_recordset``).
Each table's trigger keeps the new versions in ``record_version`` (migration 0015); the push names
their writer first, in one statement of transaction-local settings (user, device, and each
record's mutation).

What stays true until commit, and why: the records themselves are read without row locks, under
READ COMMITTED; updates are guarded by the version ``load`` saw, so if another transaction got
there first, ``StaleWrite`` is raised and the route retries the whole push in a new transaction
(the client's row lock makes that safe). Scope is the one decision a version guard cannot catch:
whether a record is the pusher's hangs on its case (``case_manager_id``, ``deleted_at``), and a
case reassigned between ``load`` and commit would leave the old owner's phone with a record
written under it that the reassignment's ``del``s never listed (its trigger cannot see the push's
uncommitted rows). So ``load`` first takes ``FOR SHARE`` locks, in id order, on every case the
batch names or whose existing contact attempts or visit notes it names, in a statement of its
own: the read that follows starts after the locks are granted, so it sees any reassignment that
committed while it waited, and none can commit until the push does. (A lock taken in the reading
statement itself would not do: under READ COMMITTED that statement's snapshot predates the wait.)
A reassignment and a push locking cases in another order may deadlock; the route retries 40P01.

Pull: triggers write every change of a synced table to ``sync_change``, stamped with the writing
transaction's id. A page reads the log after the cursor but only for transactions older than the
snapshot's ``xmin``, so a transaction that commits after a later one is never skipped. The page,
the current data, the horizon and ``last_mutation_id`` come from one statement (one snapshot).
A first pull (or a reset) is a snapshot of the scope, type by type, then continues from the
horizon of its first page.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import uuid
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
import msgspec
from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    any_,
    bindparam,
    case,
    exists,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from schemas.sync import Change, Del, MutationResult, Put, RecordType
from server import db, scope
from server.cases.models import (
    Assessment,
    Case,
    ContactAttempt,
    FollowUp,
    FormPhoto,
    ParentMeeting,
    ServiceReferral,
    VisitLog,
    VisitNote,
    VisitNoteAddendum,
)
from server.letters.models import Letter
from server.resources.models import Resource
from server.students.models import Household, Student
from server.sync.models import Conflict, SyncChange, SyncClient, SyncMutation, SyncScopeEpoch
from server.uploads import repository as uploads
from server.visits import context
from sync.policies import RECORD_TYPES, SERVER_KEPT
from sync.store import (
    CASE_HOME,
    MEETINGS_DUE,
    PHOTO_UPLOADS,
    PUSH,
    VISIT_HOME,
    Batch,
    ChangePage,
    ClientState,
    Current,
    Data,
    Principal,
    Ref,
)

MODELS: dict[str, Any] = {
    RecordType.HOUSEHOLD: Household,
    RecordType.STUDENT: Student,
    RecordType.CASE: Case,
    RecordType.CONTACT_ATTEMPT: ContactAttempt,
    RecordType.VISIT_LOG: VisitLog,
    RecordType.VISIT_NOTE: VisitNote,
    RecordType.VISIT_NOTE_ADDENDUM: VisitNoteAddendum,
    RecordType.FOLLOW_UP: FollowUp,
    RecordType.FORM_PHOTO: FormPhoto,
    RecordType.CONFLICT: Conflict,
    RecordType.RESOURCE: Resource,
    RecordType.ASSESSMENT: Assessment,
    RecordType.SERVICE_REFERRAL: ServiceReferral,
    RecordType.PARENT_MEETING: ParentMeeting,
    RecordType.LETTER: Letter,
}
"""Record type → table, in snapshot order (parents first). Columns are named as the data fields."""
TYPE_ORDER = list(MODELS)
TIME_FIELDS: dict[str, tuple[str, ...]] = {
    RecordType.CASE: ("opened_at", "closed_at"),
    RecordType.CONTACT_ATTEMPT: ("at",),
    RecordType.VISIT_NOTE: ("reviewed_at",),
    RecordType.VISIT_LOG: ("checked_in_at", "checked_out_at"),
    RecordType.FOLLOW_UP: ("completed_at",),
    RecordType.FORM_PHOTO: ("taken_at",),
    RecordType.CONFLICT: ("resolved_at",),
    RecordType.ASSESSMENT: ("at",),
    RecordType.SERVICE_REFERRAL: ("at", "status_at"),
    RecordType.PARENT_MEETING: ("held_at",),
    RecordType.LETTER: ("created_at", "mailed_at", "returned_at"),
}
SERVER_FILLED: dict[str, tuple[str, ...]] = {RecordType.VISIT_LOG: ("truancy",)}
"""Fields the server fills when it inserts a record (see ``_visit_context``) and no device writes:
an update leaves them as they are. (``sync.policies.SERVER_KEPT`` fields, a case's ``truancy`` and
``follow_ups``, are written by neither: the evaluation and a trigger keep them.)"""
XMIN: Any = literal_column("(pg_snapshot_xmin(pg_current_snapshot())::text)::bigint")
_ANY_EPOCH = -1  # a fresh snapshot's cursor: it takes the epoch its statement reads


class StaleWrite(Exception):
    """A record changed between ``load`` and ``commit_batch``: retry the push."""


def fields(record_type: str) -> tuple[str, ...]:
    return RECORD_TYPES[record_type].fields


def wire_time(value: datetime) -> str:
    """Times on the wire: UTC, ISO 8601, ``Z`` (as the handlers write them)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _normalise(record_type: str, data: Data) -> Data:
    for name in TIME_FIELDS.get(record_type, ()):
        if isinstance(data.get(name), str):
            data[name] = wire_time(datetime.fromisoformat(data[name]))
    return data


def _record_json(record_type: str) -> Any:
    model = MODELS[record_type]
    args: list[Any] = []
    for name in fields(record_type):
        args += [literal(name), getattr(model, name)]
    return func.jsonb_build_object(*args)


# --- scope -----------------------------------------------------------------------------------------


def reach(record_type: str, user_id: Any) -> ColumnElement[bool]:
    """A predicate over a row of the type's table: may the user's devices hold it (tombstones
    too)? Decided in ``server.scope``, the one place for every reader."""
    return scope.reach(record_type, scope.Reader.device(user_id))


def _in_scope_now(record_type: str, record_id: Any, user_id: Any) -> ColumnElement[bool]:
    model = MODELS[record_type]
    return exists(
        select(1)
        .select_from(model)
        .where(
            model.id == record_id,
            model.deleted_at.is_(None) if hasattr(model, "deleted_at") else true(),
            reach(record_type, user_id),
        )
    )


def _reachable(record_type: str, record_id: Any, user_id: Any) -> ColumnElement[bool]:
    model = MODELS[record_type]
    return exists(select(1).select_from(model).where(model.id == record_id, reach(record_type, user_id)))


# --- cursors ---------------------------------------------------------------------------------------


_BIGINT = msgspec.Meta(ge=0, le=2**63 - 1)
_UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


class Cursor(msgspec.Struct, omit_defaults=True):
    """Where a device's pull stands. The phone keeps it, unsigned: one it damaged or made up fails
    these bounds (or names another client) and starts over from a snapshot, never reaching SQL."""

    c: str
    """The client it was made for."""
    e: int
    """Scope epoch."""
    x: Annotated[int, _BIGINT] = 0
    """Change position: transaction id …"""
    q: Annotated[int, _BIGINT] = 0
    """… and sequence number of the last change sent (0: from the start of txid ``x``)."""
    t: Annotated[int, msgspec.Meta(ge=-1, lt=len(TYPE_ORDER))] = -1
    """Snapshot phase: type index of the last record sent (-1: snapshot done)."""
    i: Annotated[str, msgspec.Meta(pattern=rf"\A({_UUID})?\Z")] = ""
    """Snapshot phase: id of the last record sent."""


def _encode(cursor: Cursor) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(cursor)).decode().rstrip("=")


def _decode(raw: str) -> Cursor | None:
    try:
        return msgspec.json.decode(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)), type=Cursor)
    except (ValueError, msgspec.DecodeError):
        return None


# --- the store -------------------------------------------------------------------------------------


class PgStore:
    """A ``sync.store.Store`` on the request's session. The route owns the transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._users: dict[uuid.UUID, uuid.UUID] = {}

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        """Run one of the push path's statements on the session's own asyncpg connection, in its
        transaction, as a prepared statement (asyncpg caches it per connection by its text).

        SQLAlchemy's Python work per statement (compile cache, parameter processing, result
        wrapping) cost more than the round trip. SQLAlchemy's asyncpg adapter begins its
        transaction lazily with the first statement it sends; if none was sent yet, this one goes
        through SQLAlchemy (as driver SQL), so the push stays one transaction the session commits.
        Errors come out as SQLAlchemy's (``IntegrityError``, ``DBAPIError`` with the SQLSTATE), as
        the route expects. SQLAlchemy does not see this statement fail, so a lost connection (or a
        statement past the command timeout) is invalidated here, as SQLAlchemy would: the session
        then rolls back without touching it, the pool drops it, and the answer is 503.
        """
        conn = await self.session.connection()
        driver = (await conn.get_raw_connection()).driver_connection
        if driver is None or not driver.is_in_transaction():
            return list(await conn.exec_driver_sql(sql, args))
        try:
            rows: list[Any] = await driver.fetch(sql, *args)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, TimeoutError) as exc:
            if isinstance(exc, TimeoutError) or driver.is_closed() or db.unavailable(exc):
                await conn.invalidate(exc)
                raise DBAPIError(sql, args, exc, connection_invalidated=True) from exc
            kind = IntegrityError if isinstance(exc, asyncpg.IntegrityConstraintViolationError) else DBAPIError
            raise kind(sql, args, exc) from exc
        return rows

    async def lock_client(self, client_id: uuid.UUID, user_id: uuid.UUID) -> ClientState:
        ((user, last),) = await self._fetch(_LOCK_CLIENT, client_id, user_id)
        self._users[client_id] = user
        return ClientState(client_id, user, last)

    async def stored_results(self, client_id: uuid.UUID, ids: Collection[int]) -> dict[int, MutationResult]:
        rows = await self.session.execute(
            select(SyncMutation.mutation_id, SyncMutation.result).where(
                SyncMutation.client_id == client_id, SyncMutation.mutation_id.in_(list(ids))
            )
        )
        return {mid: msgspec.convert(result, MutationResult) for mid, result in rows}

    async def load(self, user_id: uuid.UUID, refs: Collection[Ref]) -> dict[Ref, Current]:
        by_type: dict[str, list[uuid.UUID]] = {}
        for ref in refs:
            by_type.setdefault(ref.type, []).append(ref.id)
        if not by_type:
            return {}
        keys = [by_type.get(t, []) for t in _CASE_KEYED]
        if any(keys):
            await self._fetch(_LOCK_CASES, *keys)  # before the read: see the module
        if PHOTO_UPLOADS in by_type:
            await self._fetch(uploads.LOCK_PHOTOS, sorted(by_type[PHOTO_UPLOADS]))
        types = tuple(sorted(by_type))
        given: dict[str, Any] = {f"ids_{n}": by_type[t] for n, t in enumerate(types)}
        given["user_id"] = user_id
        sql, names, constants = _load_statement(types)
        rows = await self._fetch(sql, *(given[n] if n in given else constants[n] for n in names))
        # Columns: type, id, version, deleted, in_scope, data.
        return {Ref(r[0], r[1]): Current(r[2], _normalise(r[0], r[5]), r[3], r[4]) for r in rows}

    async def commit_batch(self, batch: Batch) -> None:
        inserts: dict[str, list[dict[str, Any]]] = {}
        updates: dict[str, list[dict[str, Any]]] = {}
        marks: list[tuple[str, uuid.UUID, int | None]] = []
        for w in batch.writes:
            row = {"id": w.ref.id, "version": w.version, "deleted": w.deleted, **w.data}
            if w.expected_version is None:
                inserts.setdefault(w.ref.type, []).append(row)
            else:
                row["expected"] = w.expected_version
                updates.setdefault(w.ref.type, []).append(row)
            marks.append((w.ref.type, w.ref.id, w.mutation_id))  # keyed in SQL: str(uuid) costs
        if batch.writes and (user := self._users.get(batch.client_id)) is not None:
            # who writes, for the versions the tables' triggers keep (migration 0015)
            await self._fetch(_NAME_PUSH, str(user), str(batch.client_id), _json(marks))
        if new_visits := [row for row in inserts.get(RecordType.VISIT_LOG, []) if not row["deleted"]]:
            await self._visit_context(new_visits)
        # One statement per table, parents first; the last one rides with the outcomes and the
        # client's advance in one statement (data-modifying CTEs), one round trip fewer each.
        steps = [
            (k, t, rows)
            for t in TYPE_ORDER
            for k, rows in (("insert", inserts.get(t)), ("update", updates.get(t)))
            if rows
        ]
        last = steps.pop() if steps else None
        for kind, record_type, rows in steps:
            await self._write(kind, record_type, rows, batch.client_id)
        args: list[Any] = [batch.client_id, batch.last_mutation_id]
        if batch.outcomes:
            outcomes = [
                _OutcomeRow(
                    o.result.id,
                    o.name[:200],
                    o.raw.decode("utf-8", "replace") if o.raw is not None else None,
                    o.result.status.value,
                    o.result,
                )
                for o in batch.outcomes
            ]
            args += [await self._user_of(batch.client_id), _json(outcomes)]
        if last is not None:
            args.append(_json(last[2]))
        sql = _finish_sql(last[:2] if last is not None else None, bool(batch.outcomes))
        ((written,),) = await self._fetch(sql, *args)
        if last is not None and last[0] == "update" and written != len(last[2]):
            raise StaleWrite(f"{len(last[2]) - written} {last[1]} record(s) changed under the batch")

    async def _visit_context(self, rows: list[dict[str, Any]]) -> None:
        """Fill each new visit log's ``truancy`` (the student's status on the visit's date) in the
        push's transaction, before the insert: server context that the handlers leave null
        (``server.visits.context``). An update never writes it (``SERVER_FILLED``)."""
        visits = [(uuid.UUID(row["case_id"]), datetime.fromisoformat(row["checked_in_at"])) for row in rows]
        for row, truancy in zip(rows, await context.truancy(self.session, visits), strict=True):
            row["truancy"] = truancy

    async def _write(self, kind: str, record_type: str, rows: list[dict[str, Any]], client_id: uuid.UUID) -> None:
        if kind == "insert":
            sql = _insert_sql(record_type, "$1", "$2")
            await self._fetch(sql, _json(rows), *([client_id] if "$2" in sql else []))
            return
        done = await self._fetch(_update_sql(record_type, "$1"), _json(rows))
        if len(done) != len(rows):
            raise StaleWrite(f"{len(rows) - len(done)} {record_type} record(s) changed under the batch")

    async def _user_of(self, client_id: uuid.UUID) -> uuid.UUID:
        if client_id not in self._users:
            user = await self.session.scalar(select(SyncClient.user_id).where(SyncClient.client_id == client_id))
            assert user is not None, "commit_batch follows lock_client"
            self._users[client_id] = user
        return self._users[client_id]

    # --- pull ------------------------------------------------------------------------------------

    async def changes(self, principal: Principal, cursor: str | None, limit: int, max_bytes: int) -> ChangePage:
        """One page, decided from one statement: the page's rows, the horizon its cursor takes,
        ``last_mutation_id``, and the scope epoch and purge bound that say whether the cursor is
        still good, all read in that statement's snapshot (see ``_head``). A cursor found stale
        there (another epoch, or its changes purged) starts over from a snapshot: a second
        statement, whose page is again decided from its own snapshot alone."""
        parsed = _decode(cursor) if cursor is not None else None
        if parsed is not None and parsed.c == str(principal.client_id):
            read = self._snapshot_page if parsed.t >= 0 else self._change_page
            page = await read(principal, parsed, limit, max_bytes)
            if page is not None:
                return page
        fresh = Cursor(c=str(principal.client_id), e=_ANY_EPOCH, t=0)
        page = await self._snapshot_page(principal, fresh, limit, max_bytes)
        assert page is not None, "a fresh snapshot takes whatever epoch it finds"
        return dataclasses.replace(page, reset=cursor is not None)

    @staticmethod
    def _stale(cursor: Cursor, epoch: int, purged_below: int) -> bool:
        if cursor.e == _ANY_EPOCH:
            return False
        return cursor.e != epoch or (cursor.x != 0 and cursor.x < purged_below)  # its changes were purged

    def snapshot_query(self, user_id: uuid.UUID, after: tuple[int, str] | None = None) -> Select[Any]:
        """Every record the user's devices hold, after ``(type index, id)`` if given."""
        after_id = uuid.UUID(after[1]) if after is not None and after[1] else None
        return _snapshot_query(user_id, after[0] if after is not None else 0, after_id)

    async def _snapshot_page(
        self, principal: Principal, cursor: Cursor, limit: int, max_bytes: int
    ) -> ChangePage | None:
        """A page of the scope as it is now, after the cursor's (type, id); ``None`` if the cursor
        is stale. The first page fixes the horizon the change log is read from afterwards."""
        statement = _snapshot_statement(cursor.t, bool(cursor.i), bool(cursor.x))
        params = {"me": principal.user_id, "client": principal.client_id, "rows": limit + 1}
        if cursor.i:
            params["after_id"] = uuid.UUID(cursor.i)
        if cursor.x:
            params["horizon"] = cursor.x
        rows = (await self.session.execute(statement, params)).all()
        top = rows[0]
        if self._stale(cursor, int(top.epoch), int(top.purged_below)):
            return None
        epoch, horizon = int(top.epoch), cursor.x or int(top.xmin)
        if top.id is None:
            return ChangePage([], _encode(Cursor(c=cursor.c, e=epoch, x=horizon)), False, False, int(top.lmid))
        page_ = _cut([Put(r.type, r.id, r.version, _normalise(r.type, r.data)) for r in rows[:limit]], max_bytes)
        if len(rows) > len(page_):
            last = rows[len(page_) - 1]
            nxt = Cursor(c=cursor.c, e=epoch, x=horizon, t=int(last.type_index), i=str(last.id))
            return ChangePage(page_, _encode(nxt), True, False, int(top.lmid_horizon))
        return ChangePage(page_, _encode(Cursor(c=cursor.c, e=epoch, x=horizon)), False, False, int(top.lmid))

    async def _change_page(self, principal: Principal, cursor: Cursor, limit: int, max_bytes: int) -> ChangePage | None:
        """The change log after the cursor, below the snapshot's ``xmin``: every transaction below
        it has ended, so none can still add changes there. ``None`` if the cursor is stale."""
        params = {"me": principal.user_id, "client": principal.client_id, "x": cursor.x, "q": cursor.q}
        rows = (await self.session.execute(_change_statement(), params | {"rows": limit + 1})).all()
        top = rows[0]
        if self._stale(cursor, int(top.epoch), int(top.purged_below)):
            return None
        if top.txid is None:
            # Nothing pending below the horizon: move up to it (never past a change not yet sent).
            nxt = cursor if cursor.q else Cursor(c=cursor.c, e=cursor.e, x=max(cursor.x, int(top.xmin)))
            return ChangePage([], _encode(nxt), False, False, int(top.lmid))
        # Bound the page by bytes in log order, then send each record once, as it is now.
        window: list[Any] = []
        size = 0
        for row in rows[:limit]:
            size += len(msgspec.json.encode(row.data)) + 120
            if window and size > max_bytes:
                break
            window.append(row)
        latest: dict[tuple[str, uuid.UUID], Any] = {}
        for row in window:
            latest.pop((row.record_type, row.record_id), None)
            latest[(row.record_type, row.record_id)] = row
        changes: list[Change] = []
        for row in latest.values():
            if row.op == "put" and row.data is not None and not row.deleted:
                changes.append(Put(row.record_type, row.record_id, row.version, _normalise(row.record_type, row.data)))
            else:
                changes.append(Del(row.record_type, row.record_id, row.version or 0))
        last = window[-1]
        has_more = len(rows) > len(window)
        nxt = Cursor(c=cursor.c, e=cursor.e, x=int(last.txid), q=int(last.seq))
        # A page cut short reports the mutations below its last transaction: every transaction
        # below that one had ended when the page was read (it is below ``xmin``), so this second
        # read finds the same set whatever committed since.
        lmid = int(top.lmid) if not has_more else await self._lmid(principal.client_id, int(last.txid))
        return ChangePage(changes, _encode(nxt), has_more, False, lmid)

    async def _lmid(self, client_id: uuid.UUID, bound: int) -> int:
        return int(await self.session.scalar(select(_last_mutation_id(client_id, literal(bound)))) or 0)


def _last_mutation_id(client_id: Any, bound: Any) -> Any:
    return (
        select(func.coalesce(func.max(SyncMutation.mutation_id), 0))
        .where(SyncMutation.client_id == client_id, SyncMutation.txid < bound)
        .scalar_subquery()
    )


def _head(client_id: Any, horizon: Any = None) -> Any:
    """One row of what a page decides with, read by the page's own statement: the snapshot's
    ``xmin``, the scope epoch and purge bound, the client's ``last_mutation_id`` below
    ``xmin`` (``lmid``) and below ``horizon`` (``lmid_horizon``; ``xmin`` if ``None``)."""
    bound = XMIN if horizon is None else horizon
    return (
        select(
            XMIN.label("xmin"),
            SyncScopeEpoch.epoch.label("epoch"),
            SyncScopeEpoch.purged_below.label("purged_below"),
            _last_mutation_id(client_id, XMIN).label("lmid"),
            _last_mutation_id(client_id, bound).label("lmid_horizon"),
        )
        .where(SyncScopeEpoch.id == 1)
        .subquery("head")
    )


# The pull's statements, built once a process with bound parameters. Building one took 40 ms of
# Python a pull (fifteen record types' scopes as SQLAlchemy expressions, then their cache key):
# a third of an API worker's time under load (py-spy, ``scripts/bench devices`` at 500 phones).
# Built once, SQLAlchemy keeps its cache key and its compiled form.
_ME = bindparam("me", type_=SyncClient.user_id.type)
_CLIENT = bindparam("client", type_=SyncClient.client_id.type)
_ROWS = bindparam("rows", type_=Integer)


def _snapshot_query(user_id: Any, first_type: int, after_id: Any) -> Select[Any]:
    """The union of every record type's rows the user's devices hold, from type index
    ``first_type`` on, and within that type after ``after_id`` (if not ``None``)."""
    parts = []
    for index, record_type in enumerate(TYPE_ORDER[first_type:], start=first_type):
        model = MODELS[record_type]
        # ``reach`` split in two branches: one ``OR`` would make PostgreSQL scan the whole table
        # and test each row; apart, the all-seeing branch is a one-time filter and the team's
        # branch is driven from her cases through the indexes.
        device = scope.Reader.device(user_id)
        all_seeing = scope.sees_all(device)
        for branch in (all_seeing, and_(~all_seeing, scope.team_reach(record_type, device))):
            query = select(
                literal(index).label("type_index"),
                literal(record_type).label("type"),
                model.id.label("id"),
                model.version.label("version"),
                _record_json(record_type).label("data"),
            ).where(branch)
            if hasattr(model, "deleted_at"):
                query = query.where(model.deleted_at.is_(None))
            if after_id is not None and index == first_type:
                query = query.where(model.id > after_id)
            parts.append(query)
    return union_all(*parts)  # type: ignore[return-value]


@functools.cache
def _snapshot_statement(first_type: int, after_id: bool, horizon: bool) -> Select[Any]:
    """A snapshot page (``PgStore._snapshot_page``): parameters ``me``, ``client``, ``rows``, and
    ``after_id`` and ``horizon`` when the cursor has them."""
    after = bindparam("after_id", type_=SyncChange.record_id.type) if after_id else None
    records = _snapshot_query(_ME, first_type, after).subquery("records")
    page = select(records).order_by(records.c.type_index, records.c.id).limit(_ROWS).subquery("page")
    head = _head(_CLIENT, bindparam("horizon", type_=SyncChange.txid.type) if horizon else None)
    return select(head, page).select_from(head.outerjoin(page, true())).order_by(page.c.type_index, page.c.id)


@functools.cache
def _change_statement() -> Select[Any]:
    """A change-log page (``PgStore._change_page``): parameters ``me``, ``client``, ``rows``, and
    the cursor's ``x`` and ``q``."""
    c = SyncChange.__table__.alias("c")
    scoped = [(t, _reachable(t, c.c.record_id, _ME), _in_scope_now(t, c.c.record_id, _ME)) for t in TYPE_ORDER]
    deliverable = or_(
        *(
            and_(
                c.c.record_type == t,
                or_(
                    and_(c.c.op == "put", c.c.audience_user_id.is_(None), reachable),
                    and_(c.c.op == "del", or_(c.c.audience_user_id.is_(None), c.c.audience_user_id == _ME), ~now),
                ),
            )
            for t, reachable, now in scoped
        )
    )
    after = tuple_(bindparam("x", type_=c.c.txid.type), bindparam("q", type_=c.c.seq.type))
    page = (
        select(c.c.txid, c.c.seq, c.c.record_type, c.c.record_id, c.c.op)
        .where(tuple_(c.c.txid, c.c.seq) > after, c.c.txid < XMIN)
        .where(deliverable)
        .order_by(c.c.txid, c.c.seq)
        .limit(_ROWS)
        .subquery("page")
    )
    version, data, deleted = _current(page.c.record_type, page.c.record_id)
    head = _head(_CLIENT)
    return (
        select(head, page, version.label("version"), data.label("data"), deleted.label("deleted"))
        .select_from(head.outerjoin(page, true()))
        .order_by(page.c.txid, page.c.seq)
    )


_INSERT_EXTRAS: dict[str, dict[str, str]] = {
    RecordType.HOUSEHOLD: {"external_id": "r.id::text"},
    RecordType.CONTACT_ATTEMPT: {"device_id": "{client}"},
    RecordType.VISIT_NOTE: {"submitted_at": "CASE WHEN r.status = 'submitted' THEN now() END"},
    RecordType.VISIT_LOG: {"device_id": "{client}"},
    RecordType.FORM_PHOTO: {"device_id": "{client}"},
    RecordType.ASSESSMENT: {"device_id": "{client}"},
    RecordType.SERVICE_REFERRAL: {"device_id": "{client}", "referred_on": "(r.at AT TIME ZONE 'UTC')::date"},
    RecordType.PARENT_MEETING: {"device_id": "{client}"},
    RecordType.LETTER: {"device_id": "{client}"},
}


class _OutcomeRow(msgspec.Struct):
    """One ``sync_mutation`` row as the outcomes' insert reads it from JSON."""

    mutation_id: int
    name: str
    raw: str | None
    status: str
    result: MutationResult


_encoder = msgspec.json.Encoder()


def _json(rows: Any) -> str:
    """Rows as one JSON document for ``jsonb_to_recordset`` (asyncpg's jsonb codec takes text)."""
    return _encoder.encode(rows).decode()


# The push path's statements, as asyncpg runs them ($n parameters); made once, prepared per
# connection. A statement built per call costs more Python time than its round trip.
_LOCK_CLIENT = (
    # A no-op update on conflict: one statement that creates the client if new and locks its row.
    "INSERT INTO sync_client (client_id, user_id, last_mutation_id) VALUES ($1, $2, 0) "
    "ON CONFLICT (client_id) DO UPDATE SET last_mutation_id = sync_client.last_mutation_id "
    "RETURNING sync_client.user_id, sync_client.last_mutation_id"
)

_NAME_PUSH = (
    # The writer of the versions this push's statements keep (``record_version``, migration 0015),
    # for the tables' triggers: transaction-local, as ``server.db.name_writer`` names a request's.
    # ``doorstep.mutations`` is ``{"<type>:<id>": mutation id}``, made here from the writes' triples.
    "SELECT set_config('doorstep.actor', $1, true), set_config('doorstep.client', $2, true), "
    f"set_config('doorstep.via', '{PUSH}', true), set_config('doorstep.mutations', "
    "(SELECT coalesce(jsonb_object_agg((e ->> 0) || ':' || (e ->> 1), e -> 2), '{}')::text "
    "FROM jsonb_array_elements($3::jsonb) AS e), true)"
)

_CASE_KEYED = (
    RecordType.CASE,
    RecordType.CONTACT_ATTEMPT,
    RecordType.VISIT_NOTE,
    RecordType.HOUSEHOLD,
    RecordType.VISIT_LOG,
    RecordType.FOLLOW_UP,
    RecordType.FORM_PHOTO,
    RecordType.ASSESSMENT,
    RecordType.SERVICE_REFERRAL,
)
_LOCK_CASES = (
    # The cases whose scope the batch's decisions rest on: the cases it names ($1), those of the
    # existing contact attempts ($2), visit notes ($3), visit logs ($5), follow-ups ($6), form
    # photos ($7), assessments ($8) and service referrals ($9) it names, and those of the students
    # of the households ($4) it names, share-locked in id order (the rows are locked as the sort
    # hands them up). Blocks a reassignment or deletion until commit. (A parent meeting is only
    # ever made, under a case the batch names.)
    f"SELECT c.id FROM {Case.__tablename__} AS c WHERE c.id = ANY(ARRAY("
    "SELECT unnest($1::uuid[]) "
    f"UNION SELECT a.case_id FROM {ContactAttempt.__tablename__} AS a WHERE a.id = ANY($2::uuid[]) "
    f"UNION SELECT n.case_id FROM {VisitNote.__tablename__} AS n WHERE n.id = ANY($3::uuid[]) "
    f"UNION SELECT v.case_id FROM {VisitLog.__tablename__} AS v WHERE v.id = ANY($5::uuid[]) "
    f"UNION SELECT f.case_id FROM {FollowUp.__tablename__} AS f WHERE f.id = ANY($6::uuid[]) "
    f"UNION SELECT p.case_id FROM {FormPhoto.__tablename__} AS p WHERE p.id = ANY($7::uuid[]) "
    f"UNION SELECT s.case_id FROM {Assessment.__tablename__} AS s WHERE s.id = ANY($8::uuid[]) "
    f"UNION SELECT r.case_id FROM {ServiceReferral.__tablename__} AS r WHERE r.id = ANY($9::uuid[]) "
    f"UNION SELECT k.id FROM {Case.__tablename__} AS k JOIN {Student.__tablename__} AS s ON s.id = k.student_id "
    "WHERE s.household_id = ANY($4::uuid[]))) "
    "ORDER BY c.id FOR SHARE OF c"
)


@functools.cache
def _finish_sql(last: tuple[str, str] | None, outcomes: bool) -> str:
    """The batch's last statement: its last table's insert or update (if any), its outcomes (if
    any) and the client's advance, as one statement; it answers how many rows the update matched.

    Parameters: $1 client, $2 last_mutation_id, then $3 user and $4 outcomes, then the rows."""
    ctes = []
    rows = "$5" if outcomes else "$3"
    if last is not None:
        kind, record_type = last
        step = (
            _insert_sql(record_type, rows, "$1::uuid") + " RETURNING 1"
            if kind == "insert"
            else _update_sql(record_type, rows)
        )
        ctes.append(f"w AS ({step})")
    if outcomes:
        ctes.append(
            "o AS (INSERT INTO sync_mutation (client_id, mutation_id, user_id, name, raw, status, result) "
            "SELECT $1::uuid, r.mutation_id, $3::uuid, r.name, r.raw, r.status, r.result "
            "FROM jsonb_to_recordset($4::jsonb) "
            "AS r(mutation_id bigint, name varchar(200), raw varchar, status varchar(20), result jsonb))"
        )
    ctes.append(
        "a AS (UPDATE sync_client SET last_mutation_id = $2::bigint, updated_at = now() WHERE client_id = $1::uuid)"
    )
    count = "(SELECT count(*) FROM w)" if last is not None else "0"
    return f"WITH {', '.join(ctes)} SELECT {count}"


_ASYNCPG: Any = pg_asyncpg.dialect()  # type: ignore[no-untyped-call]


@functools.cache
def _load_statement(types: tuple[str, ...]) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """``load``'s one read for records of these types, built once (ids as one array per type).

    Compiled for asyncpg: the SQL, its parameter names in ``$n`` order, and the values of the
    statement's own constants (the names of the JSON keys, the all-seeing roles)."""
    user_id = bindparam("user_id", type_=postgresql.UUID(as_uuid=True))
    parts = []
    for n, record_type in enumerate(types):
        if record_type in (CASE_HOME, VISIT_HOME):
            ids = bindparam(f"ids_{n}", type_=postgresql.ARRAY(postgresql.UUID(as_uuid=True)))
            parts.append(_home_select(ids, user_id) if record_type == CASE_HOME else _visit_home_select(ids, user_id))
            continue
        if record_type == PHOTO_UPLOADS:
            ids = bindparam(f"ids_{n}", type_=postgresql.ARRAY(postgresql.UUID(as_uuid=True)))
            parts.append(uploads.finished_uploads(ids, user_id, PHOTO_UPLOADS))
            continue
        if record_type == MEETINGS_DUE:
            ids = bindparam(f"ids_{n}", type_=postgresql.ARRAY(postgresql.UUID(as_uuid=True)))
            parts.append(_meetings_due_select(ids, user_id))
            continue
        model = MODELS[record_type]
        deleted = model.deleted_at.is_not(None) if hasattr(model, "deleted_at") else false()
        ids = bindparam(f"ids_{n}", type_=postgresql.ARRAY(postgresql.UUID(as_uuid=True)))
        parts.append(
            select(
                literal(record_type).label("type"),
                model.id.label("id"),
                model.version.label("version"),
                deleted.label("deleted"),
                reach(record_type, user_id).label("in_scope"),
                _record_json(record_type).label("data"),
            ).where(model.id == any_(ids))
        )
    given: dict[str, Any] = {f"ids_{n}": [] for n in range(len(types))} | {"user_id": uuid.UUID(int=0)}
    state = union_all(*parts).compile(dialect=_ASYNCPG).construct_expanded_state(given)
    names = tuple(state.positiontup or ())
    return state.statement, names, {k: v for k, v in state.parameters.items() if k not in given}


def _home_select(ids: Any, user_id: Any) -> Select[Any]:
    """The derived ``CASE_HOME`` records (see ``sync.store``): each case's household coordinates,
    through its student, in scope as the case is."""
    return (
        select(
            literal(CASE_HOME).label("type"),
            Case.id.label("id"),
            func.coalesce(Household.version, 0).label("version"),
            false().label("deleted"),
            reach(RecordType.CASE, user_id).label("in_scope"),
            func.jsonb_build_object(
                literal("latitude"), Household.latitude, literal("longitude"), Household.longitude
            ).label("data"),
        )
        .select_from(Case)
        .join(Student, Student.id == Case.student_id)
        .outerjoin(Household, Household.id == Student.household_id)
        .where(Case.id == any_(ids))
    )


def _meetings_due_select(ids: Any, user_id: Any) -> Select[Any]:
    """The derived ``MEETINGS_DUE`` records (see ``sync.store``): each case's student's open
    parent-meeting follow-ups, whole, in scope as the case is."""
    items = (
        select(
            func.coalesce(
                func.jsonb_agg(
                    aggregate_order_by(
                        func.jsonb_build_object(
                            literal("id"),
                            FollowUp.id,
                            literal("version"),
                            FollowUp.version,
                            literal("data"),
                            _record_json(RecordType.FOLLOW_UP),
                        ),
                        FollowUp.id,
                    )
                ),
                literal_column("'[]'::jsonb"),
            )
        )
        .where(FollowUp.student_id == Case.student_id, FollowUp.kind == "parent_meeting", FollowUp.status == "open")
        .correlate(Case)
        .scalar_subquery()
    )
    return select(
        literal(MEETINGS_DUE).label("type"),
        Case.id.label("id"),
        literal(0).label("version"),
        false().label("deleted"),
        reach(RecordType.CASE, user_id).label("in_scope"),
        func.jsonb_build_object(literal("follow_ups"), items).label("data"),
    ).where(Case.id == any_(ids))


def _visit_home_select(ids: Any, user_id: Any) -> Select[Any]:
    """The derived ``VISIT_HOME`` records (see ``sync.store``): each visit log's case's household
    coordinates, in scope as the visit log is. (The case is aliased: the scope predicate's own
    ``Case`` must not correlate to it.)"""
    case_ = aliased(Case)
    return (
        select(
            literal(VISIT_HOME).label("type"),
            VisitLog.id.label("id"),
            func.coalesce(Household.version, 0).label("version"),
            false().label("deleted"),
            reach(RecordType.VISIT_LOG, user_id).label("in_scope"),
            func.jsonb_build_object(
                literal("latitude"), Household.latitude, literal("longitude"), Household.longitude
            ).label("data"),
        )
        .select_from(VisitLog)
        .join(case_, case_.id == VisitLog.case_id)
        .join(Student, Student.id == case_.student_id)
        .outerjoin(Household, Household.id == Student.household_id)
        .where(VisitLog.id == any_(ids))
    )


@functools.cache
def _insert_sql(record_type: str, rows: str, client: str) -> str:
    """The insert of a table's new records from the JSON rows in parameter ``rows``; ``client``
    is the parameter of the client id, if the table keeps it."""
    model = MODELS[record_type]
    names = tuple(n for n in fields(record_type) if n not in SERVER_KEPT.get(record_type, ()))
    extra = {k: v.replace("{client}", client) for k, v in _INSERT_EXTRAS.get(record_type, {}).items()}
    columns = ["id", "version", *names, *extra, *(["deleted_at"] if hasattr(model, "deleted_at") else [])]
    values = [
        "r.id",
        "r.version",
        *(f"r.{n}" for n in names),
        *extra.values(),
        *(["CASE WHEN r.deleted THEN now() END"] if hasattr(model, "deleted_at") else []),
    ]
    return (
        f"INSERT INTO {model.__tablename__} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM jsonb_to_recordset({rows}::jsonb) "
        f"AS r({_recordset_types(record_type)})"
    )


@functools.cache
def _update_sql(record_type: str, rows: str) -> str:
    """The version-guarded update of a table's records from the JSON rows in parameter ``rows``."""
    model = MODELS[record_type]
    names = fields(record_type)
    kept = SERVER_FILLED.get(record_type, ()) + SERVER_KEPT.get(record_type, ())
    sets = [f"{n} = r.{n}" for n in names if n not in kept] + ["version = r.version"]
    if hasattr(model, "deleted_at"):
        sets.append("deleted_at = CASE WHEN r.deleted THEN coalesce(t.deleted_at, now()) END")
    if hasattr(model, "updated_at"):
        sets.append("updated_at = now()")
    if record_type == RecordType.VISIT_NOTE:
        # when it was last submitted: stamped as it becomes submitted (from a draft, or again from
        # returned), kept through review and while a returned note is edited, cleared for a draft
        sets.append(
            "submitted_at = CASE WHEN r.status = 'draft' THEN NULL "
            "WHEN r.status = 'submitted' AND t.status <> 'submitted' THEN now() "
            "WHEN r.status = 'submitted' THEN coalesce(t.submitted_at, now()) ELSE t.submitted_at END"
        )
    return (
        f"UPDATE {model.__tablename__} AS t SET {', '.join(sets)} "
        f"FROM jsonb_to_recordset({rows}::jsonb) AS r(expected int, {_recordset_types(record_type)}) "
        "WHERE t.id = r.id AND t.version = r.expected RETURNING t.id"
    )


def _recordset_types(record_type: str) -> str:
    """``id uuid, version int, deleted boolean, <field> <type>…`` for ``jsonb_to_recordset``."""
    table = MODELS[record_type].__table__
    dialect: Any = postgresql.dialect()  # type: ignore[no-untyped-call]
    typed = [f"{n} {table.c[n].type.compile(dialect=dialect)}" for n in fields(record_type)]
    return ", ".join(["id uuid", "version int", "deleted boolean", *typed])


def _current(record_type: Any, record_id: Any) -> tuple[Any, Any, Any]:
    """The record's current version, data and tombstone flag, chosen by its type."""

    def pick(column: Any) -> Any:
        return case(
            *(
                (record_type == t, select(column(t)).where(MODELS[t].id == record_id).scalar_subquery())
                for t in TYPE_ORDER
            ),
            else_=None,
        )

    return (
        pick(lambda t: MODELS[t].version),
        pick(_record_json),
        pick(lambda t: MODELS[t].deleted_at.is_not(None) if hasattr(MODELS[t], "deleted_at") else false()),
    )


def _cut(changes: Sequence[Change], max_bytes: int) -> list[Change]:
    """The longest prefix within ``max_bytes`` of encoded changes (at least one)."""
    total = 0
    for n, change in enumerate(changes):
        total += len(msgspec.json.encode(change))
        if total > max_bytes and n > 0:
            return list(changes[:n])
    return list(changes)
