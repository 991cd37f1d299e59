"""The rules' background tasks: evaluate after an import (deferred by the import, in its
transaction), and daily, since documentation windows close as days pass without any new data.

Both run under one procrastinate lock, so an evaluation never overlaps another.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import procrastinate
from sqlalchemy.ext.asyncio import AsyncSession

from server import clock, queue
from server.audit import Actor
from server.db import create_engine, create_session_factory, session_scope
from server.rules.evaluate import evaluate_all
from server.settings import Settings

EVALUATE_TASK = "rules.evaluate"
EVALUATE_DAILY_TASK = "rules.evaluate_daily"
EVALUATE_LOCK = "rules.evaluate"


async def enqueue_evaluation(session: AsyncSession, as_of: date | None = None) -> bool:
    """Defer an evaluation in the session's transaction, unless one is already waiting."""
    args = {} if as_of is None else {"as_of": as_of.isoformat()}
    return await queue.defer(session, EVALUATE_TASK, args, lock=EVALUATE_LOCK, unless_waiting=True)


async def run_evaluation(database_url: str, as_of: date, task: str = EVALUATE_TASK) -> dict[str, Any]:
    """The job: evaluate every student as of ``as_of`` in one committed transaction; the versions
    it writes name the task (``via`` ``job rules.evaluate``)."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with session_scope(create_session_factory(engine), via=f"job {task}") as session:
            result = await evaluate_all(session, as_of, Actor.system("queue"))
    finally:
        await engine.dispose()
    return {"school_year": result.school_year, "truant": result.truant, "seconds": result.seconds}


def register(app: procrastinate.App, database_url: str | None, settings: Settings) -> None:
    @app.task(name=EVALUATE_TASK, lock=EVALUATE_LOCK, pass_context=False)
    async def evaluate(as_of: str | None = None) -> None:
        if database_url is None:
            return
        await run_evaluation(database_url, date.fromisoformat(as_of) if as_of else clock.today(settings))

    @app.periodic(cron="15 5 * * *", periodic_id="daily")
    @app.task(name=EVALUATE_DAILY_TASK, lock=EVALUATE_LOCK, pass_context=False)
    async def evaluate_daily(timestamp: int) -> None:
        """Documentation windows close as days pass, without any new data."""
        if database_url is None:
            return
        day = clock.day_of(datetime.fromtimestamp(timestamp, UTC), settings)
        await run_evaluation(database_url, day, EVALUATE_DAILY_TASK)
