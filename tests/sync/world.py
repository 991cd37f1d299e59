"""A small district for the sync tests, seeded through the backend-neutral ``Seeder``.

``Backend`` is the fixture API a store backend provides: ``seed`` (a ``sync.store.Seeder``) and
``tx()``, an async context manager yielding a ``Store`` inside one transaction that commits on
exit (the memory store needs none). Team: supervisor ``sup`` leads case managers ``a`` and ``b``;
another team: supervisor ``sup2`` leads case manager ``outsider``, who has no case here; ``office``
sees everything. Households: ``h1`` (students ``s1``, ``s2``, siblings) and ``h2``
(``s3``). Cases: ``c1`` (s1) and ``c2`` (s2) are a's, ``c3`` (s3) is b's.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import msgspec

from schemas.auth import Role
from schemas.sync import SCHEMA_VERSION, PullRequest, PullResponse, PushRequest, PushResponse, Put, RecordType
from sync import engine
from sync.memory import MemoryStore
from sync.store import Data, Principal, Ref, Seeder, Store


@dataclass
class Backend:
    seed: Seeder
    tx: Callable[[], AbstractAsyncContextManager[Store]]


def memory_backend(store: MemoryStore) -> Backend:
    @asynccontextmanager
    async def tx() -> AsyncIterator[Store]:
        yield store

    return Backend(store, tx)


def mutation(mid: int, name: str, args: Any, base_version: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": mid, "name": name, "args": args}
    if base_version is not None:
        out["base_version"] = base_version
    return out


OPENED_AT = "2025-01-06T08:00:00Z"


def case_data(
    student: uuid.UUID, manager: uuid.UUID | None, status: str = "assigned", closed_at: str | None = None
) -> Data:
    return {
        "student_id": str(student),
        "case_manager_id": str(manager) if manager else None,
        "status": status,
        "opened_at": OPENED_AT,
        "closed_at": closed_at,
        "truancy": None,  # kept by the server (sync.case_summary): a write of the case never sets them
        "follow_ups": [],
    }


def student_data(number: str, household: uuid.UUID | None) -> Data:
    return {
        "student_number": number,
        "first_name": "Kid",
        "last_name": number,
        "grade": "5",
        "household_id": str(household) if household else None,
    }


def household_data(phone: str) -> Data:
    return {"phone": phone, "alt_phone": None, "language": "en", "address": "1 Main St"} | {
        "latitude": None,
        "longitude": None,
    }


def follow_up_data(case: uuid.UUID, student: uuid.UUID) -> Data:
    """An open follow-up on the case, as the office makes one."""
    return {
        "case_id": str(case),
        "student_id": str(student),
        "kind": "follow_up",
        "title": "Call the school nurse",
        "due_on": "2025-03-10",
        "status": "open",
        "completed_at": None,
        "completed_by": None,
        "note": None,
        "created_by": None,
        "rescheduled": [],
        "trigger_day": None,
        "flags": [],
    }


def ids(n: int) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(n)]


@dataclass
class World:
    backend: Backend
    sup: Principal
    a: Principal
    b: Principal
    office: Principal
    sup2: Principal
    outsider: Principal
    h1: uuid.UUID
    h2: uuid.UUID
    s1: uuid.UUID
    s2: uuid.UUID
    s3: uuid.UUID
    c1: uuid.UUID
    c2: uuid.UUID
    c3: uuid.UUID

    @classmethod
    async def create(cls, backend: Backend) -> World:
        seed = backend.seed
        sup, a, b, office, sup2, outsider = (Principal(uuid.uuid4(), uuid.uuid4(), role) for role in _ROLES)
        await seed.user(sup.user_id, Role.SUPERVISOR)
        await seed.user(a.user_id, Role.CASE_MANAGER, sup.user_id)
        await seed.user(b.user_id, Role.CASE_MANAGER, sup.user_id)
        await seed.user(office.user_id, Role.OFFICE_STAFF)
        await seed.user(sup2.user_id, Role.SUPERVISOR)
        await seed.user(outsider.user_id, Role.CASE_MANAGER, sup2.user_id)
        h1, h2, s1, s2, s3, c1, c2, c3 = ids(8)
        await seed.put(Ref(RecordType.HOUSEHOLD, h1), household_data("555-0101"))
        await seed.put(Ref(RecordType.HOUSEHOLD, h2), household_data("555-0202"))
        for student, number, household in ((s1, "1", h1), (s2, "2", h1), (s3, "3", h2)):
            await seed.put(Ref(RecordType.STUDENT, student), student_data(f"{number}-{student.hex[:8]}", household))
        for case, student, manager in ((c1, s1, a), (c2, s2, a), (c3, s3, b)):
            await seed.put(Ref(RecordType.CASE, case), case_data(student, manager.user_id))
        return cls(backend, sup, a, b, office, sup2, outsider, h1, h2, s1, s2, s3, c1, c2, c3)

    async def push(self, who: Principal, *mutations: dict[str, Any]) -> PushResponse:
        body = msgspec.json.encode(
            {"client_id": who.client_id, "schema_version": SCHEMA_VERSION, "mutations": list(mutations)}
        )
        request = msgspec.json.decode(body, type=PushRequest)
        async with self.backend.tx() as store:
            response = await engine.push(store, who, request)
        # what the phone reads is what went over the wire
        return msgspec.json.decode(msgspec.json.encode(response), type=PushResponse)

    async def pull(self, who: Principal, cursor: str | None = None, limit: int | None = None) -> PullResponse:
        request = PullRequest(who.client_id, SCHEMA_VERSION, cursor, limit)
        async with self.backend.tx() as store:
            response = await engine.pull(store, who, request)
        return msgspec.json.decode(msgspec.json.encode(response), type=PullResponse)

    async def pull_all(
        self, who: Principal, cursor: str | None = None, held: dict[Ref, tuple[int, Data]] | None = None
    ) -> tuple[dict[Ref, tuple[int, Data]], str]:
        """Pull every page from ``cursor`` and apply it to ``held``; returns the records and cursor."""
        records = dict(held or {})
        while True:
            page = await self.pull(who, cursor)
            if page.reset:
                records.clear()
            for change in page.changes:
                ref = Ref(change.type, change.id)
                if isinstance(change, Put):
                    records[ref] = (change.version, change.data)
                else:
                    records.pop(ref, None)
            cursor = page.cursor
            if not page.has_more:
                return records, cursor

    async def record(self, who: Principal, ref: Ref) -> tuple[int, Data] | None:
        return (await self.backend.seed.snapshot(who.user_id)).get(ref)


_ROLES = (Role.SUPERVISOR, Role.CASE_MANAGER, Role.CASE_MANAGER, Role.OFFICE_STAFF, Role.SUPERVISOR, Role.CASE_MANAGER)
