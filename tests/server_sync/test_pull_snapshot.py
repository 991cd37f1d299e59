"""A pull page decides its cursor and ``last_mutation_id`` from one snapshot (issue 8).

The interleaving that used to lose a transaction for good: a writer holds a transaction id while
the page is read (so its changes are not below the page's horizon), then commits before the pull's
next statement. If the cursor's horizon came from that next statement, it stepped over the writer.
The test controls the barrier: the writer commits right after the pull's statement that reads the
change log, whichever statements follow it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from schemas.sync import RecordType
from server.cases.models import Case, ContactAttempt
from server.sync.pg_store import PgStore
from sync.store import ChangePage, Principal
from tests.server_sync.conftest import Field


def _attempt(case_id: uuid.UUID) -> ContactAttempt:
    return ContactAttempt(id=uuid.uuid4(), case_id=case_id, method="phone", outcome="reached", at=datetime.now(UTC))


async def _principal(f: Field) -> Principal:
    async with f.factory() as s:
        cm = (await s.execute(select(Case.case_manager_id).where(Case.id == f.case_id))).scalar_one()
    assert cm is not None
    return Principal(f.phone, cm, Role.CASE_MANAGER)


async def _pull_to_the_end(f: Field, who: Principal, cursor: str | None) -> tuple[set[uuid.UUID], str]:
    seen: set[uuid.UUID] = set()
    while True:
        async with f.factory() as s:
            page = await PgStore(s).changes(who, cursor, 100, 1_000_000)
        seen |= {c.id for c in page.changes if c.type == RecordType.CONTACT_ATTEMPT}
        cursor = page.cursor
        if not page.has_more:
            return seen, cursor


def _commit_after_reading(table: str, session: AsyncSession, writer: AsyncSession) -> list[str]:
    """Make ``writer`` commit right after ``session``'s first statement that reads ``table``."""
    original = session.execute
    statements: list[str] = []

    async def execute(statement: Any, *args: Any, **kwargs: Any) -> Any:
        result = await original(statement, *args, **kwargs)
        statements.append(str(statement))
        if table in statements[-1] and writer.in_transaction():
            await writer.commit()
        return result

    session.execute = execute  # type: ignore[method-assign]
    return statements


async def test_a_writer_committing_between_a_pages_statements_is_not_skipped(field: Field) -> None:
    who = await _principal(field)
    _, cursor = await _pull_to_the_end(field, who, None)  # the snapshot
    _, cursor = await _pull_to_the_end(field, who, cursor)  # caught up on the change log

    async with field.factory() as writer:
        late = _attempt(field.case_id)
        writer.add(late)
        await writer.flush()  # the writer holds a transaction id while the page is read
        async with field.factory() as s:
            statements = _commit_after_reading("sync_change", s, writer)
            page: ChangePage = await PgStore(s).changes(who, cursor, 100, 1_000_000)
        assert not writer.in_transaction(), f"the barrier never fired: {statements}"
    assert late.id not in {c.id for c in page.changes}  # it was not committed when the page was read

    seen, _ = await _pull_to_the_end(field, who, page.cursor)
    assert late.id in seen


async def test_an_empty_first_page_does_not_step_over_a_writer(field: Field) -> None:
    """The snapshot phase's empty page (a principal who reaches nothing yet) has the same shape."""
    who = await _principal(field)
    async with field.factory() as s:
        case = await s.get(Case, field.case_id)
        assert case is not None
        case.case_manager_id = None  # she reaches nothing: her first page is empty
        await s.commit()

    async with field.factory() as writer:
        case = await writer.get(Case, field.case_id)
        assert case is not None
        case.case_manager_id = who.user_id  # handed back to her by a transaction still open
        await writer.flush()
        async with field.factory() as s:
            # A first pull reads the tables, not the log.
            statements = _commit_after_reading("case_file", s, writer)
            page = await PgStore(s).changes(who, None, 100, 1_000_000)
        assert not writer.in_transaction(), f"the barrier never fired: {statements}"
    assert page.changes == []

    async with field.factory() as s:
        nxt = await PgStore(s).changes(who, page.cursor, 100, 1_000_000)
    assert RecordType.CASE in {c.type for c in nxt.changes}, "the case handed back was skipped"
