"""Sync's background task: weekly, old change-log entries go (``server.sync.maintenance``), and
devices away longer than they are kept refetch their scope."""

from __future__ import annotations

import procrastinate

from server.db import create_engine, create_session_factory, session_scope
from server.settings import Settings
from server.sync.maintenance import purge_changes

PURGE_TASK = "sync.purge_weekly"


async def run_purge(database_url: str) -> int:
    """The job: purge the sync change log of entries older than 90 days."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with session_scope(create_session_factory(engine), via=f"job {PURGE_TASK}") as session:
            return await purge_changes(session)
    finally:
        await engine.dispose()


def register(app: procrastinate.App, database_url: str | None, settings: Settings) -> None:
    @app.periodic(cron="30 4 * * 0", periodic_id="weekly")
    @app.task(name=PURGE_TASK, pass_context=False)
    async def purge_weekly(timestamp: int) -> None:
        """Old change-log entries go; devices away longer than 90 days refetch their scope."""
        if database_url is None:
            return
        await run_purge(database_url)
