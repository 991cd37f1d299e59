"""A push decides that a case is the pusher's and writes under it; a reassignment of that case
must not slip in between the decision and the commit.

The interleaving that left a record on the old owner's phone for good: a push by the case manager
loads her case (in scope), a supervisor reassigns the case and commits (the reassignment's
``del``s for the old owner list the records under the case that it can see, and the push's new
contact attempt is not committed yet), then the push commits its contact attempt under the case.
Nothing ever told the old owner's phone to drop it. The test controls the barrier: right after
``load``, the reassignment runs and the push waits until it has either committed or is waiting
for a lock, then commits.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime

import msgspec
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from schemas.sync import PushRequest, Put, RecordType, Status
from server.audit import Actor
from server.auth import service as auth
from server.auth.models import User
from server.cases import service as cases
from server.sync.pg_store import PgStore
from sync import engine
from sync.store import Current, Principal, Ref
from tests.conftest import PASSWORD
from tests.server_sync.conftest import Field

WAIT = 10.0  # seconds: a hang fails the test instead of blocking it


async def _pull_to_the_end(f: Field, who: Principal, cursor: str | None) -> tuple[dict[uuid.UUID, str], str]:
    """Every contact attempt's and visit log's last change (``put``/``del``) from ``cursor`` on,
    and the next cursor."""
    seen: dict[uuid.UUID, str] = {}
    while True:
        async with f.factory() as s:
            page = await PgStore(s).changes(who, cursor, 100, 1_000_000)
        for change in page.changes:
            if change.type in (RecordType.CONTACT_ATTEMPT, RecordType.VISIT_LOG):
                seen[change.id] = "put" if isinstance(change, Put) else "del"
        cursor = page.cursor
        if not page.has_more:
            return seen, cursor


async def _caught_up(f: Field, who: Principal) -> str:
    _, cursor = await _pull_to_the_end(f, who, None)  # the snapshot
    _, cursor = await _pull_to_the_end(f, who, cursor)  # then the change log
    return cursor


class _LoadThen(PgStore):
    """A PgStore that runs ``after_load`` between ``load`` and the rest of the push."""

    def __init__(self, session: AsyncSession, after_load: Callable[[], Awaitable[None]]) -> None:
        super().__init__(session)
        self.after_load = after_load

    async def load(self, user_id: uuid.UUID, refs: Collection[Ref]) -> dict[Ref, Current]:
        current = await super().load(user_id, refs)
        await self.after_load()
        return current


async def _push_while_reassigned(
    field: Field, who: Principal, to: uuid.UUID, mutation: dict[str, object]
) -> tuple[list[Status], bool]:
    """Push ``mutation`` as ``who``; right after the push's ``load``, reassign the field's case to
    ``to``. Returns the results and whether the reassignment was still waiting when the push
    committed (it waits on the push's lock)."""
    async with field.factory() as s:
        sup = (await s.scalars(select(User).where(User.username == "sup"))).one()
    supervisor = auth.Principal(sup.id, "sup", "", Role.SUPERVISOR, None, uuid.uuid4())
    backend_pid: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def reassign() -> None:
        async with field.factory() as s:
            backend_pid.set_result(int(await s.scalar(text("SELECT pg_backend_pid()")) or 0))
            await cases.assign(s, supervisor, Actor.system(), field.case_id, to)
            await s.commit()

    reassignment: asyncio.Task[None] | None = None

    async def reassign_now() -> None:
        """Start the reassignment; return once it has committed or waits for a lock."""
        nonlocal reassignment
        reassignment = asyncio.create_task(reassign())
        pid = await asyncio.wait_for(asyncio.shield(backend_pid), WAIT)
        async with asyncio.timeout(WAIT):
            while not reassignment.done():
                async with field.factory() as s:
                    blockers = await s.scalar(text("SELECT pg_blocking_pids(:pid)"), {"pid": pid})
                if blockers:
                    return
                await asyncio.sleep(0.01)

    request = PushRequest(
        client_id=field.phone, schema_version=1, mutations=[msgspec.Raw(msgspec.json.encode(mutation))]
    )
    try:
        async with field.factory() as s:
            response = await engine.push(_LoadThen(s, reassign_now), who, request)
            assert reassignment is not None, "the barrier never fired"
            waited = not reassignment.done()
            await s.commit()
        await asyncio.wait_for(reassignment, WAIT)
    finally:
        if reassignment is not None and not reassignment.done():
            reassignment.cancel()
    return [r.status for r in response.results], waited


async def _second_manager(field: Field) -> tuple[Principal, Principal]:
    async with field.factory() as s:
        cm = (await s.scalars(select(User).where(User.username == "cm"))).one()
        cm2 = await auth.create_user(
            s, Actor.system(), username="cm2", password=PASSWORD, role=Role.CASE_MANAGER, supervisor_username="sup"
        )
        await s.commit()
    return Principal(field.phone, cm.id, Role.CASE_MANAGER), Principal(uuid.uuid4(), cm2.id, Role.CASE_MANAGER)


async def test_a_case_reassigned_during_a_push_takes_the_pushed_record_off_the_old_owners_phone(
    field: Field,
) -> None:
    old, new = await _second_manager(field)
    old_cursor, new_cursor = await _caught_up(field, old), await _caught_up(field, new)
    attempt = uuid.uuid4()
    args = {
        "id": str(attempt),
        "case_id": str(field.case_id),
        "method": "phone",
        "outcome": "reached",
        "at": datetime.now(UTC).isoformat(),
    }
    statuses, _ = await _push_while_reassigned(
        field, old, new.user_id, {"id": 1, "name": "contact_attempt.create", "args": args}
    )
    assert statuses == [Status.APPLIED]  # the case was hers when it was decided

    async with field.factory() as s:
        owner = await s.scalar(text("SELECT case_manager_id FROM case_file WHERE id = :id"), {"id": field.case_id})
    assert owner == new.user_id

    seen_old, _ = await _pull_to_the_end(field, old, old_cursor)
    assert seen_old.get(attempt) == "del", f"the old owner's phone keeps the contact attempt: {seen_old}"
    seen_new, _ = await _pull_to_the_end(field, new, new_cursor)
    assert seen_new.get(attempt) == "put", f"the new owner's phone never gets it: {seen_new}"


async def test_a_household_update_holds_its_students_case_until_it_commits(field: Field) -> None:
    """``household.update`` is decided through case → student → household: the student's case is
    locked too, so the reassignment waits for the push instead of slipping in between its
    decision and its write (the write of a household that was no longer hers)."""
    old, new = await _second_manager(field)
    async with field.factory() as s:
        household = await s.scalar(
            text("SELECT s.household_id FROM case_file c JOIN student s ON s.id = c.student_id WHERE c.id = :id"),
            {"id": field.case_id},
        )
    update = {"id": str(household), "changes": {"phone": "555-0142"}}
    statuses, waited = await _push_while_reassigned(
        field, old, new.user_id, {"id": 1, "name": "household.update", "args": update, "base_version": 1}
    )
    assert statuses == [Status.APPLIED]
    assert waited, "the reassignment committed between the push's decision and its write"


async def test_a_visit_checked_out_while_its_case_is_reassigned_leaves_the_old_owners_phone(field: Field) -> None:
    """``visit_log.check_out`` names only the visit log: its case is locked through it (``$5``)."""
    old, new = await _second_manager(field)
    visit = uuid.uuid4()
    check_in = {"id": str(visit), "case_id": str(field.case_id), "at": datetime.now(UTC).isoformat()}
    async with field.factory() as s:
        pushed = await engine.push(
            PgStore(s),
            old,
            PushRequest(
                client_id=field.phone,
                schema_version=1,
                mutations=[msgspec.Raw(msgspec.json.encode({"id": 1, "name": "visit_log.check_in", "args": check_in}))],
            ),
        )
        await s.commit()
    assert pushed.results[0].status is Status.APPLIED
    old_cursor, new_cursor = await _caught_up(field, old), await _caught_up(field, new)
    out = {"id": str(visit), "at": datetime.now(UTC).isoformat(), "outcome": "family_met"}
    statuses, waited = await _push_while_reassigned(
        field, old, new.user_id, {"id": 2, "name": "visit_log.check_out", "args": out}
    )
    assert statuses == [Status.APPLIED]
    assert waited, "the reassignment slipped in between the check-out's load and its commit"
    seen_old, _ = await _pull_to_the_end(field, old, old_cursor)
    assert seen_old.get(visit) == "del", seen_old
    seen_new, _ = await _pull_to_the_end(field, new, new_cursor)
    assert seen_new.get(visit) == "put", seen_new
