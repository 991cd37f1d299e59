"""The evaluation locks only the cases it writes (``server.rules.case_truancy.lock``): a push on a
case whose summary and follow-ups do not change does not wait for it; one on a case it writes
does, until the evaluation commits."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import msgspec
import pytest
from asyncpg.exceptions import LockNotAvailableError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from schemas.sync import PushRequest, PushResponse, Status
from server.db import SessionFactory, create_engine, create_session_factory
from server.rules import case_truancy
from server.rules.evaluate import evaluate_all
from server.sync.pg_store import PgStore
from sync import engine
from sync.store import Principal
from tests import factories
from tests.rules_fixtures import absent, make_district
from tests.sync.pg_backend import PgSeeder

SEPTEMBER = (date(2025, 9, 8), date(2025, 9, 10), date(2025, 9, 12), date(2025, 9, 15))
LOCK_TIMEOUT = "300ms"


async def _push_attempt(factory: SessionFactory, who: Principal, case_id: uuid.UUID, mutation_id: int) -> PushResponse:
    """Push one contact attempt on ``case_id``, giving up on any lock after ``LOCK_TIMEOUT``."""
    args = {
        "id": str(uuid.uuid4()),
        "case_id": str(case_id),
        "method": "phone",
        "outcome": "left_message",
        "at": datetime(2025, 10, 16, 15, tzinfo=UTC).isoformat(),
    }
    body = {
        "client_id": str(who.client_id),
        "schema_version": 1,
        "mutations": [{"id": mutation_id, "name": "contact_attempt.create", "args": args}],
    }
    request = msgspec.json.decode(msgspec.json.encode(body), type=PushRequest)
    async with factory() as s:
        await s.execute(text("SELECT set_config('lock_timeout', :t, true)"), {"t": LOCK_TIMEOUT})
        response = await engine.push(PgStore(s), who, request)
        await s.commit()
    return response


async def test_a_push_waits_only_for_the_cases_the_evaluation_writes(fresh_database: str) -> None:
    db_engine = create_engine(fresh_database)
    factory = create_session_factory(db_engine)
    try:
        manager = Principal(uuid.uuid4(), uuid.uuid4(), Role.CASE_MANAGER)
        supervisor = uuid.uuid4()
        await PgSeeder(factory).user(supervisor, Role.SUPERVISOR)
        await PgSeeder(factory).user(manager.user_id, Role.CASE_MANAGER, supervisor)
        async with factory() as s:
            d = await make_district(s, students=2)
            news, quiet = d.students
            await absent(s, d, news, *SEPTEMBER)
            await absent(s, d, quiet, date(2025, 9, 9))
            changing = await factories.case(s, news, manager=manager.user_id)
            unchanged = await factories.case(s, quiet, manager=manager.user_id)
            await evaluate_all(s, date(2025, 10, 15))
            await s.commit()
        async with factory() as s:
            await absent(s, d, news, date(2025, 10, 16))  # news for one case only
            await s.commit()

        # An evaluation that has written and not committed yet.
        async with factory() as evaluation:
            result = await evaluate_all(evaluation, date(2025, 10, 17))
            assert (result.cases_changed, result.cases_locked) == (1, 1)

            pushed = await _push_attempt(factory, manager, unchanged.id, 1)
            assert [r.status for r in pushed.results] == [Status.APPLIED]
            with pytest.raises((DBAPIError, LockNotAvailableError)) as waited:
                await _push_attempt(factory, manager, changing.id, 2)
            assert "lock timeout" in str(waited.value)
            await evaluation.commit()

        pushed = await _push_attempt(factory, manager, changing.id, 2)
        assert [r.status for r in pushed.results] == [Status.APPLIED]
    finally:
        await db_engine.dispose()


async def test_a_day_without_news_locks_no_case(fresh_database: str) -> None:
    db_engine = create_engine(fresh_database)
    factory = create_session_factory(db_engine)
    try:
        async with factory() as s:
            d = await make_district(s)
            (student,) = d.students
            await absent(s, d, student, *SEPTEMBER)
            await factories.case(s, student)
            first = await evaluate_all(s, date(2025, 10, 15))
            assert (first.cases_changed, first.meetings_created, first.cases_locked) == (1, 1, 1)
            await s.commit()
        async with factory() as s:
            again = await evaluate_all(s, date(2025, 10, 16))
            assert (again.cases_changed, again.meetings_created, again.cases_locked) == (0, 0, 0)
            await s.commit()
    finally:
        await db_engine.dispose()


async def test_a_refresh_writes_the_summaries_that_change_as_the_evaluation_does(db: AsyncSession) -> None:
    d = await make_district(db, students=2)
    news, quiet = d.students
    await absent(db, d, news, *SEPTEMBER)
    case = await factories.case(db, news)
    await factories.case(db, quiet)
    assert await case_truancy.refresh(db, date(2025, 10, 15)) == 2  # first summaries
    assert await case_truancy.refresh(db, date(2025, 10, 16)) == 0  # nothing new
    await absent(db, d, news, date(2025, 10, 16))
    assert await case_truancy.refresh(db, date(2025, 10, 17)) == 1
    await db.refresh(case)
    assert (case.truancy or {}).get("absences") == 5
