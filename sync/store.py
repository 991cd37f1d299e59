"""The Store protocol: everything the sync engine needs from storage, and nothing more.

A push is one transaction that reads twice and writes once::

    lock_client → stored_results (replays only) → load (every record the batch touches) → commit_batch

A pull is one read, ``changes``, in one snapshot. The engine never calls the store per mutation,
so a SQL store can do each step as one set-based statement (or one per table).

Transactions belong to the caller. On PostgreSQL the request's session holds the transaction the
route commits; ``lock_client`` takes the client's row lock (an upsert of its row), so one client's
pushes run one at a time. ``load`` does not lock the records it returns: a record changed by
another transaction before commit fails its version check in ``commit_batch`` and the route
retries the push. What a version check cannot see is scope, which hangs on the case: so ``load``
first share-locks the cases the batch touches (named, or parents of the contact attempts and
visit notes it names), and no case can be reassigned or deleted between the decision and commit
(see ``server.sync.pg_store``). The memory store has no ``await`` that yields inside its methods,
so a push is atomic there by construction.

Data: a record's ``data`` is a dict of JSON values (UUIDs and datetimes as ISO strings), exactly
the fields ``sync.policies.RECORD_TYPES`` lists for its type; both stores must return the same,
but for context the server attaches that no sync decision rests on: a new visit log's
``truancy`` (the student's truancy report on the visit's date) is filled by the PostgreSQL store
from the rules engine, and left null by the memory store, which has none.

Scope (what a device may see, computed by the store from the user and read at pull time):

- ``case_manager``: the cases whose ``case_manager_id`` is hers, and everything under them: each
  case's student, that student's household, the case's contact attempts, visit notes and visit
  logs; and the
  conflicts she authored.
- ``supervisor``: the same for the cases of every case manager whose ``supervisor_id`` is hers
  (and her own), with the conflicts those users authored.
- ``office_staff``, ``admin``: every record. ``attendance_counselor``: nothing.
- ``resource``, the district's directory, is in every scope.
- Under a case also: its follow-ups, assessments, service referrals, parent meetings and letters.

Only case managers write (the engine rejects other roles' mutations with ``read_only``).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from schemas.auth import Role
from schemas.sync import Change, MutationResult

Data = dict[str, Any]


CASE_HOME = "case_home"
"""A derived, read-only ref keyed by a case id: the home of the case's student, as ``load`` finds
it, ``{"latitude", "longitude"}`` (both ``None`` when the household has no coordinates or the
student no household), ``in_scope`` as the case's. Never written, never pulled; it lets a
handler reach case → student → household within ``load``'s one read."""

PHOTO_UPLOADS = "photo_uploads"
"""A derived, read-only ref keyed by a form photo's id: the finished uploads of that photo's file
by the user who pushes, newest first, ``{"uploads": [{"sha256", "error", "exif_latitude",
"exif_longitude"}, ...]}`` (see ``sync.photos``). Always in scope (it is the sender's own);
``load`` waits for an upload finishing at that moment, so registration and file always meet."""


class Ref(NamedTuple):
    """A record's address: its type (``schemas.sync.RecordType``) and id."""

    type: str
    id: uuid.UUID


MEETINGS_DUE = "meetings_due"
"""A derived, read-only ref keyed by a case id: the open ``parent_meeting`` follow-ups of the
case's student (on any of her cases, or on none yet), ``{"follow_ups": [{"id", "version",
"data"}, ...]}`` with each follow-up's whole record, ``in_scope`` as the case's. A handler adopts
them into the batch (``BatchView.adopt``) to complete them: recording a parent meeting does."""

VISIT_HOME = "visit_home"
"""A derived, read-only ref keyed by a visit log id: its case's home, as ``CASE_HOME`` finds it
(visit log → case → student → household), ``in_scope`` as the visit log's; absent when there is
no such visit log. A check-out names only its visit, and checks its fix against this."""


@dataclass(frozen=True)
class Principal:
    """Who is syncing: the device (the client) and the user it is bound to, from the auth layer."""

    client_id: uuid.UUID
    user_id: uuid.UUID
    role: Role


@dataclass(frozen=True)
class ClientState:
    client_id: uuid.UUID
    user_id: uuid.UUID
    last_mutation_id: int


@dataclass(frozen=True)
class Current:
    """A record as ``load`` finds it. A deleted record (a tombstone) still has its last ``data``.

    ``in_scope``: the record is in the loading user's scope (see the module docstring). For a case
    that is whether she may write under it; for a record under a case, whether its case is hers.
    """

    version: int
    data: Data
    deleted: bool = False
    in_scope: bool = True


@dataclass(frozen=True)
class Write:
    """A record's new state after the batch. ``expected_version`` is the version ``load`` returned
    (``None``: the record did not exist). Several changes to one record in a batch collapse into one
    write whose ``version`` counts each of them, so it may be more than ``expected_version + 1``.
    A store must refuse a write whose ``expected_version`` no longer matches."""

    ref: Ref
    version: int
    data: Data
    expected_version: int | None
    deleted: bool = False
    mutation_id: int | None = None
    """The mutation that last changed the record in the batch (kept with the version it writes)."""


PUSH = "push"
"""``Version.via`` of a version a push wrote."""


@dataclass(frozen=True)
class Version:
    """One kept version of a record (``Seeder.versions``; on PostgreSQL the ``record_version``
    table). Every write that raises a record's version keeps the new one, whoever writes it; none
    is ever changed or removed. Several changes to one record in one push are one write, so the
    versions between are never kept (a ``base_version`` may name one: the base is then unknown).

    ``data`` is the record as a pull sends it (a tombstone keeps its last data, ``deleted``).
    A push names its user, device and the mutation that last changed the record, ``via``
    ``PUSH``; a change the push caused without a mutation of its own (a case's open follow-ups)
    names the user and device, no mutation. A write outside the protocol names what its server
    names (a request: user, device, route) or nothing."""

    version: int
    data: Data
    deleted: bool
    written_at: datetime
    written_by: uuid.UUID | None
    client_id: uuid.UUID | None
    mutation_id: int | None
    via: str | None


@dataclass(frozen=True)
class Outcome:
    """A processed mutation's stored outcome, returned later by ``stored_results``.

    ``name`` and ``raw`` (the mutation's JSON as sent) are kept for rejected mutations (including
    malformed ones, whose name may not be a string: then ``name`` is its JSON text), so nothing
    a phone sent is lost; ``raw`` is ``None`` otherwise.
    """

    result: MutationResult
    name: str
    raw: bytes | None = None


@dataclass(frozen=True)
class Batch:
    """Everything one push writes, in one call. Conflict rows are ``Write``s of type ``conflict``
    (version 1, ``expected_version`` ``None``) listed in ``writes``."""

    client_id: uuid.UUID
    last_mutation_id: int
    writes: list[Write] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)


@dataclass(frozen=True)
class ChangePage:
    changes: list[Change]
    cursor: str
    has_more: bool
    reset: bool
    last_mutation_id: int


class Store(Protocol):
    async def lock_client(self, client_id: uuid.UUID, user_id: uuid.UUID) -> ClientState:
        """Lock the client's sync state until the transaction ends and return it.

        A client seen for the first time starts at ``last_mutation_id`` 0 and is bound to
        ``user_id``. An existing client keeps the user it is bound to: the engine refuses the push
        (403) if that is not ``user_id``.
        """
        ...

    async def stored_results(self, client_id: uuid.UUID, ids: Collection[int]) -> dict[int, MutationResult]:
        """The stored results of these already processed mutations (as first answered), by id."""
        ...

    async def load(self, user_id: uuid.UUID, refs: Collection[Ref]) -> dict[Ref, Current]:
        """Every record among ``refs`` that exists (deleted ones too), in one read. A missing ref is
        absent from the answer. ``in_scope`` is for ``user_id`` and stays true until the transaction
        ends: the cases it rests on (those among ``refs``, and those of the contact attempts and
        visit notes among ``refs``) are locked before the read. The records are not locked."""
        ...

    async def commit_batch(self, batch: Batch) -> None:
        """Write the batch: every record write (inserts, updates, tombstones, conflict rows), every
        outcome, and the client's new ``last_mutation_id``, so that they become visible together.
        A write whose ``expected_version`` no longer matches (another transaction changed the
        record since ``load``) writes nothing: raise, and the caller retries the push."""
        ...

    async def changes(self, principal: Principal, cursor: str | None, limit: int, max_bytes: int) -> ChangePage:
        """One page of what changed in the principal's scope since ``cursor``, in one snapshot.

        Contract (checked by tests/sync/store_suite.py):

        - A cursor is an opaque string that the store made. Applying every page from ``cursor=None``
          until ``has_more`` is false gives exactly the records in scope now (``snapshot``), at
          their current versions. From a cursor C, the pages bring the view at C to the current one:
          a ``put`` for each record in scope now that is new or has another version than at C, a
          ``del`` for each record the view at C had that is deleted or has left scope. A record
          the device never had may get a ``del``; a ``put`` never carries a record out of scope.
        - Never skipped: a change is in a later page if it was not visible when an earlier page was
          read, whatever order transactions committed in (PostgreSQL: an ``xid8`` change log read
          up to ``pg_snapshot_xmin``, or a per-client view of what was sent).
        - Reassignment: the new owner's next pull brings the whole case (student, household,
          contacts, notes); the old owner's brings a ``del`` for each of them she can no longer
          reach (not a household she still reaches through another case).
        - ``reset`` is true when the cursor is unknown, too old (e.g. tombstones purged), or the
          scope changed in a way deltas cannot express; the page then starts from an empty view and
          the device must forget its records first. ``reset`` on ``cursor=None`` is false.
        - A page has at most ``limit`` changes and at most ``max_bytes`` of encoded changes, but
          always at least one change when any is pending. The same cursor may be pulled again (an
          answer lost on the network) and gives a correct page again.
        - ``last_mutation_id`` is the principal's client's, read in the same snapshot as the changes.
        """
        ...


class Seeder(Protocol):
    """Server-side changes and reads the tests need, made outside the sync protocol (imports, assignments,
    office edits). Each backend provides one next to its store; tests/sync/conftest.py wires it.

    ``put`` creates or replaces a record with ``data`` (bumping its version, undeleting it) and
    returns the new version; ``delete`` tombstones it. Reassigning a case is ``put`` of the case
    with another ``case_manager_id``. A new case takes its student's open follow-ups that have no
    case (each one's version goes up), as the server's trigger does (migration 0012).
    """

    async def user(self, user_id: uuid.UUID, role: Role, supervisor_id: uuid.UUID | None = None) -> None: ...

    async def put(self, ref: Ref, data: Data) -> int: ...

    async def delete(self, ref: Ref) -> int: ...

    async def finished_upload(self, photo_id: uuid.UUID, user_id: uuid.UUID, upload: Data) -> None:
        """A photo's file came by upload from ``user_id`` (``{"sha256", "error", "exif_latitude",
        "exif_longitude"}``, see ``PHOTO_UPLOADS``), as the server's upload routes record it."""
        ...

    async def evaluated(self, student_id: uuid.UUID, truancy: Data) -> None:
        """The rules evaluation found ``truancy`` (a ``schemas.truancy.TruancySummary``) for the
        student: each of her open cases takes it, and one whose summary changed takes a new version
        (``sync.case_summary``; on PostgreSQL ``server.rules.case_truancy`` writes it)."""
        ...

    async def snapshot(self, user_id: uuid.UUID) -> dict[Ref, tuple[int, Data]]:
        """Every record in the user's scope now, with version and data (the truth pulls converge to)."""
        ...

    async def outcomes(self, client_id: uuid.UUID) -> dict[int, Outcome]:
        """Every stored outcome of the client's mutations, by mutation id."""
        ...

    async def versions(self, ref: Ref) -> list[Version]:
        """Every kept version of the record, oldest first (see ``Version``)."""
        ...
