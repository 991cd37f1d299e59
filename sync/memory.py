"""An in-memory Store (and Seeder): the executable model of the Store contract.

It passes the same suite as the PostgreSQL store (tests/sync/store_suite.py). Its cursors name
the view the client held after each page (what it was sent), so a pull is the difference between
that view and the scope now: it cannot skip a change, whatever the commit order, and it expresses
reassignment with puts and dels. The last ``KEEP_CURSORS`` cursors of each client are kept; an
older or unknown one gets ``reset``. Every write of a record keeps its new version in ``history``
(``sync.store.Version``), as the PostgreSQL store's trigger does, with the same writer: a push
names its user, device and mutation; the seeder's writes name no one.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import msgspec

from schemas.auth import Role
from schemas.sync import Change, Del, MutationResult, Put, RecordType
from sync.case_summary import open_follow_ups, summary_changed
from sync.policies import SERVER_KEPT
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
    Outcome,
    Principal,
    Ref,
    Version,
)

KEEP_CURSORS = 16
_TYPE_ORDER = {t.value: n for n, t in enumerate(RecordType)}


@dataclass(frozen=True)
class _User:
    role: Role
    supervisor_id: uuid.UUID | None


@dataclass(frozen=True)
class _Writer:
    """Who a version names (``Version``): the pushing user and device, and the mutation."""

    user_id: uuid.UUID | None = None
    client_id: uuid.UUID | None = None
    mutation_id: int | None = None
    via: str | None = None


_NO_ONE = _Writer()


class MemoryStore:
    def __init__(self) -> None:
        self.users: dict[uuid.UUID, _User] = {}
        self.records: dict[Ref, Current] = {}
        self.history: dict[Ref, list[Version]] = {}
        self.clients: dict[uuid.UUID, ClientState] = {}
        self.outcome_log: dict[uuid.UUID, dict[int, Outcome]] = {}
        self._views: dict[str, tuple[uuid.UUID, dict[Ref, int]]] = {}
        self._cursors = itertools.count(1)
        self.uploads: dict[tuple[uuid.UUID, uuid.UUID], list[Data]] = {}
        """(form photo id, uploader) → finished uploads, newest first (``PHOTO_UPLOADS``)."""

    # --- Store ------------------------------------------------------------------------------------

    async def lock_client(self, client_id: uuid.UUID, user_id: uuid.UUID) -> ClientState:
        return self.clients.setdefault(client_id, ClientState(client_id, user_id, 0))

    async def stored_results(self, client_id: uuid.UUID, ids: Collection[int]) -> dict[int, MutationResult]:
        log = self.outcome_log.get(client_id, {})
        return {i: log[i].result for i in ids if i in log}

    async def load(self, user_id: uuid.UUID, refs: Collection[Ref]) -> dict[Ref, Current]:
        reach = self._reach(user_id)
        found = {ref: replace(self.records[ref], in_scope=ref in reach) for ref in refs if ref in self.records}
        found |= self._visit_homes([ref.id for ref in refs if ref.type == VISIT_HOME], reach)
        for ref in refs:
            if ref.type == CASE_HOME and (home := self._home(ref.id)) is not None:
                found[ref] = replace(home, in_scope=Ref(RecordType.CASE, ref.id) in reach)
            if ref.type == PHOTO_UPLOADS:
                found[ref] = Current(0, {"uploads": self.uploads.get((ref.id, user_id), [])})
            if ref.type == MEETINGS_DUE and (due := self._meetings_due(ref.id)) is not None:
                found[ref] = replace(due, in_scope=Ref(RecordType.CASE, ref.id) in reach)
        return found

    def _meetings_due(self, case_id: uuid.UUID) -> Current | None:
        """The derived ``MEETINGS_DUE`` record of a case (see ``sync.store``)."""
        case = self.records.get(Ref(RecordType.CASE, case_id))
        if case is None:
            return None
        items = [
            {"id": str(ref.id), "version": rec.version, "data": rec.data}
            for ref, rec in sorted(self.records.items(), key=lambda item: str(item[0].id))
            if ref.type == RecordType.FOLLOW_UP
            and rec.data.get("student_id") == case.data["student_id"]
            and rec.data.get("kind") == "parent_meeting"
            and rec.data.get("status") == "open"
        ]
        return Current(0, {"follow_ups": items})

    async def finished_upload(self, photo_id: uuid.UUID, user_id: uuid.UUID, upload: Data) -> None:
        """A file arrived for a photo (what the server's upload routes record)."""
        self.uploads.setdefault((photo_id, user_id), []).insert(0, upload)

    def _home(self, case_id: uuid.UUID) -> Current | None:
        """The derived ``CASE_HOME`` record of a case (see ``sync.store``)."""
        case = self.records.get(Ref(RecordType.CASE, case_id))
        if case is None:
            return None
        student = self.records.get(Ref(RecordType.STUDENT, uuid.UUID(case.data["student_id"])))
        household_id = student.data.get("household_id") if student else None
        household = self.records.get(Ref(RecordType.HOUSEHOLD, uuid.UUID(household_id))) if household_id else None
        if household is None:
            return Current(0, {"latitude": None, "longitude": None})
        data = {"latitude": household.data.get("latitude"), "longitude": household.data.get("longitude")}
        return Current(household.version, data)

    def _visit_homes(self, visit_ids: list[uuid.UUID], reach: set[Ref]) -> dict[Ref, Current]:
        """The derived ``VISIT_HOME`` records: each visit log's case's home (see ``sync.store``)."""
        found = {}
        for visit_id in visit_ids:
            visit = self.records.get(Ref(RecordType.VISIT_LOG, visit_id))
            home = self._home(uuid.UUID(visit.data["case_id"])) if visit is not None else None
            if home is not None:
                found[Ref(VISIT_HOME, visit_id)] = replace(home, in_scope=Ref(RecordType.VISIT_LOG, visit_id) in reach)
        return found

    async def commit_batch(self, batch: Batch) -> None:
        for w in batch.writes:
            before = self.records.get(w.ref)
            if (before.version if before else None) != w.expected_version:
                raise RuntimeError(f"{w.ref} changed under the batch: expected {w.expected_version}")
        client = self.clients.get(batch.client_id)  # a push locked it; the seeder's writes did not
        pusher = _Writer(client.user_id, batch.client_id, None, PUSH) if client else _NO_ONE
        for w in batch.writes:
            before = self.records.get(w.ref)
            writer = replace(pusher, mutation_id=w.mutation_id) if client else _NO_ONE
            self._set(w.ref, Current(w.version, self._kept(w.ref, w.data), w.deleted), writer)
            self._refresh_cases(w.ref, before, pusher)
        log = self.outcome_log.setdefault(batch.client_id, {})
        for outcome in batch.outcomes:
            assert outcome.result.id not in log, "an outcome is stored once"
            log[outcome.result.id] = outcome
        self.clients[batch.client_id] = replace(self.clients[batch.client_id], last_mutation_id=batch.last_mutation_id)

    async def changes(self, principal: Principal, cursor: str | None, limit: int, max_bytes: int) -> ChangePage:
        held: dict[Ref, int] = {}
        reset = False
        if cursor is not None:
            owner, view = self._views.get(cursor, (None, None))
            if view is None or owner != principal.client_id:
                reset = True
            else:
                held = view
        now = self._scope(principal.user_id)
        pending: list[Change] = []
        for ref in sorted(held.keys() | now.keys(), key=lambda r: (_TYPE_ORDER[r.type], str(r.id))):
            if ref in now and held.get(ref) != now[ref].version:
                pending.append(Put(ref.type, ref.id, now[ref].version, now[ref].data))
            elif ref not in now and ref in held:
                version = self.records[ref].version if ref in self.records else held[ref]
                pending.append(Del(ref.type, ref.id, version))
        page: list[Change] = []
        size = 0
        for change in pending[:limit]:
            size += len(msgspec.json.encode(change))
            if page and size > max_bytes:
                break
            page.append(change)
        view = dict(held)
        for change in page:
            if isinstance(change, Put):
                view[Ref(change.type, change.id)] = change.version
            else:
                view.pop(Ref(change.type, change.id), None)
        client = self.clients.get(principal.client_id)
        return ChangePage(
            changes=page,
            cursor=self._remember(principal.client_id, view),
            has_more=len(page) < len(pending),
            reset=reset,
            last_mutation_id=client.last_mutation_id if client else 0,
        )

    def _remember(self, client_id: uuid.UUID, view: dict[Ref, int]) -> str:
        cursor = f"m{next(self._cursors)}"
        self._views[cursor] = (client_id, view)
        mine = [c for c, (owner, _) in self._views.items() if owner == client_id]
        for old in mine[:-KEEP_CURSORS]:
            del self._views[old]
        return cursor

    # --- what a case carries (sync.case_summary) ------------------------------------------------

    def _kept(self, ref: Ref, data: Data) -> Data:
        """``data`` with the fields the server keeps on the record (``SERVER_KEPT``) as they are:
        a write of the record never sets them."""
        kept = SERVER_KEPT.get(ref.type)
        if not kept:
            return data
        before = self.records.get(ref)
        out = {k: v for k, v in data.items() if k not in kept} | {"truancy": before.data["truancy"] if before else None}
        return out | {"follow_ups": self._open_follow_ups(ref.id)}

    def _open_follow_ups(self, case_id: uuid.UUID) -> list[dict[str, object]]:
        return open_follow_ups(
            (str(ref.id), rec.data)
            for ref, rec in self.records.items()
            if ref.type == RecordType.FOLLOW_UP and not rec.deleted and rec.data.get("case_id") == str(case_id)
        )

    def _set(self, ref: Ref, record: Current, writer: _Writer = _NO_ONE) -> None:
        """Write the record, and keep its new version (``Version``) unless the version is kept
        already (a write that does not raise the version keeps nothing, as on PostgreSQL)."""
        self.records[ref] = record
        kept = self.history.setdefault(ref, [])
        if any(v.version == record.version for v in kept):
            return
        kept.append(
            Version(
                record.version,
                record.data,
                record.deleted,
                datetime.now(UTC),
                writer.user_id,
                writer.client_id,
                writer.mutation_id,
                writer.via,
            )
        )

    def _refresh_cases(self, ref: Ref, before: Current | None, writer: _Writer = _NO_ONE) -> None:
        """After a follow-up was written: its case (and the one it was on before) lists its open
        follow-ups again, and a case whose list changed takes a new version."""
        if ref.type != RecordType.FOLLOW_UP:
            return
        case_ids = {rec.data.get("case_id") for rec in (before, self.records.get(ref)) if rec is not None}
        for case_id in sorted(c for c in case_ids if c):
            case_ref = Ref(RecordType.CASE, uuid.UUID(case_id))
            case = self.records.get(case_ref)
            listed = self._open_follow_ups(case_ref.id)
            if case is not None and case.data.get("follow_ups") != listed:
                self._set(
                    case_ref, replace(case, version=case.version + 1, data=case.data | {"follow_ups": listed}), writer
                )

    # --- scope ------------------------------------------------------------------------------------

    def _team(self, user_id: uuid.UUID) -> set[str] | None:
        """The users whose cases and conflicts the user sees; ``None``: everyone's."""
        user = self.users.get(user_id)
        if user is None or user.role is Role.ATTENDANCE_COUNSELOR:
            return set()
        if user.role in (Role.OFFICE_STAFF, Role.ADMIN):
            return None
        team = {str(user_id)}
        if user.role is Role.SUPERVISOR:
            team |= {str(u) for u, info in self.users.items() if info.supervisor_id == user_id}
        return team

    def _reach(self, user_id: uuid.UUID) -> set[Ref]:
        """The refs in the user's scope, tombstones under her live cases included."""
        team = self._team(user_id)
        if team is None:
            return set(self.records)
        by_type: dict[str, list[tuple[Ref, Current]]] = {t.value: [] for t in RecordType}
        for ref, rec in self.records.items():
            by_type[ref.type].append((ref, rec))
        cases = {
            ref.id
            for ref, rec in by_type[RecordType.CASE]
            if not rec.deleted and rec.data.get("case_manager_id") in team
        }
        students = {uuid.UUID(self.records[Ref(RecordType.CASE, c)].data["student_id"]) for c in cases}
        households = {
            uuid.UUID(rec.data["household_id"])
            for ref, rec in by_type[RecordType.STUDENT]
            if ref.id in students and rec.data.get("household_id")
        }
        reach = {Ref(RecordType.CASE, c) for c in cases}
        reach |= {Ref(RecordType.STUDENT, s) for s in students}
        reach |= {Ref(RecordType.HOUSEHOLD, h) for h in households}
        under_a_case = (
            RecordType.CONTACT_ATTEMPT,
            RecordType.VISIT_NOTE,
            RecordType.VISIT_LOG,
            RecordType.FORM_PHOTO,
            RecordType.ASSESSMENT,
            RecordType.SERVICE_REFERRAL,
            RecordType.PARENT_MEETING,
        )
        for kind in under_a_case:
            reach |= {ref for ref, rec in by_type[kind] if uuid.UUID(rec.data["case_id"]) in cases}
        reach |= {ref for ref, _ in by_type[RecordType.RESOURCE]}  # the district's directory: everyone's
        for kind in (RecordType.FOLLOW_UP, RecordType.LETTER):  # these may have no case yet
            reach |= {
                ref for ref, rec in by_type[kind] if rec.data.get("case_id") and uuid.UUID(rec.data["case_id"]) in cases
            }
        notes = {ref.id for ref, _ in by_type[RecordType.VISIT_NOTE] if ref in reach}
        reach |= {
            ref for ref, rec in by_type[RecordType.VISIT_NOTE_ADDENDUM] if uuid.UUID(rec.data["note_id"]) in notes
        }
        reach |= {ref for ref, rec in by_type[RecordType.CONFLICT] if rec.data["author_id"] in team}
        return reach & self.records.keys()

    def _scope(self, user_id: uuid.UUID) -> dict[Ref, Current]:
        return {ref: self.records[ref] for ref in self._reach(user_id) if not self.records[ref].deleted}

    # --- Seeder -----------------------------------------------------------------------------------

    async def user(self, user_id: uuid.UUID, role: Role, supervisor_id: uuid.UUID | None = None) -> None:
        self.users[user_id] = _User(role, supervisor_id)

    async def put(self, ref: Ref, data: Data) -> int:
        before = self.records.get(ref)
        version = before.version + 1 if before else 1
        self._set(ref, Current(version, self._kept(ref, data)))
        self._refresh_cases(ref, before)
        if ref.type == RecordType.CASE and before is None and data.get("status") != "closed":
            self._adopt_follow_ups(ref.id, data["student_id"])
        return version

    def _adopt_follow_ups(self, case_id: uuid.UUID, student_id: str) -> None:
        """A new open case takes its student's open follow-ups that no case holds (on PostgreSQL the
        trigger of migration 0012): the rules make a meeting deadline before any case exists."""
        for ref, rec in list(self.records.items()):
            if (
                ref.type == RecordType.FOLLOW_UP
                and rec.data.get("student_id") == student_id
                and rec.data.get("case_id") is None
                and rec.data.get("status") == "open"
            ):
                self._set(ref, replace(rec, version=rec.version + 1, data=rec.data | {"case_id": str(case_id)}))
                self._refresh_cases(ref, rec)

    async def delete(self, ref: Ref) -> int:
        before = self.records[ref]
        self._set(ref, Current(before.version + 1, before.data, deleted=True))
        self._refresh_cases(ref, before)
        return before.version + 1

    async def evaluated(self, student_id: uuid.UUID, truancy: Data) -> None:
        for ref, rec in list(self.records.items()):
            if (
                ref.type == RecordType.CASE
                and not rec.deleted
                and rec.data["student_id"] == str(student_id)
                and rec.data["status"] != "closed"
                and summary_changed(rec.data.get("truancy"), truancy)
            ):
                self._set(ref, replace(rec, version=rec.version + 1, data=rec.data | {"truancy": truancy}))

    async def snapshot(self, user_id: uuid.UUID) -> dict[Ref, tuple[int, Data]]:
        return {ref: (rec.version, rec.data) for ref, rec in self._scope(user_id).items()}

    async def outcomes(self, client_id: uuid.UUID) -> dict[int, Outcome]:
        return dict(self.outcome_log.get(client_id, {}))

    async def versions(self, ref: Ref) -> list[Version]:
        return list(self.history.get(ref, []))
