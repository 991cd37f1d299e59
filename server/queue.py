"""Background work on PostgreSQL (procrastinate): the connector, a job deferred in the caller's
transaction, and the worker. The queue knows no feature: each feature declares its own tasks in
its ``jobs`` module (``server.rules.jobs``, ``server.photos.jobs``, ...), and ``server.jobs``
lists those modules for the worker (docs/architecture.md).

The procrastinate schema lives in its own PostgreSQL schema, ``procrastinate``, created by
migration 0003. Jobs are deferred inside the caller's own transaction (a plain INSERT through
procrastinate's SQL function), so an import and the evaluation it asks for commit together or
not at all. ``doorstep worker`` runs the worker.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from typing import Any

import procrastinate
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from server.db import asyncpg_url
from server.settings import Settings

SCHEMA = "procrastinate"

Register = Callable[[procrastinate.App, str | None, Settings], None]
"""A feature's ``register(app, database_url, settings)``: declares its tasks on the app. Without a
URL (an in-memory app: tests) its tasks do nothing when run."""


def psycopg_conninfo(url: str) -> str:
    """Our SQLAlchemy URL as a libpq URI (psycopg speaks to the same server)."""
    return asyncpg_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


def make_app(database_url: str | None, settings: Settings, features: Iterable[Register]) -> procrastinate.App:
    """The procrastinate app with each feature's tasks. Without a URL it is built with an
    in-memory connector (tests)."""
    connector: Any
    if database_url is None:
        from procrastinate.testing import InMemoryConnector

        connector = InMemoryConnector()
    else:
        connector = procrastinate.PsycopgConnector(
            conninfo=psycopg_conninfo(database_url), kwargs={"options": f"-c search_path={SCHEMA}"}
        )
    app = procrastinate.App(connector=connector)
    for register in features:
        register(app, database_url, settings)
    return app


_DEFER = f"""
    SELECT {SCHEMA}.procrastinate_defer_jobs_v1(ARRAY[ROW(
        'default', :task, 0, :lock, NULL, CAST(:args AS jsonb), NULL
    )::{SCHEMA}.procrastinate_job_to_defer_v1])
"""
_UNLESS_WAITING = f"""
    WHERE NOT EXISTS (
        SELECT 1 FROM {SCHEMA}.procrastinate_jobs
        WHERE task_name = :task AND status = 'todo' AND args = CAST(:args AS jsonb))
"""


async def defer(
    session: AsyncSession,
    task: str,
    args: dict[str, Any],
    *,
    lock: str | None = None,
    unless_waiting: bool = False,
) -> bool:
    """Defer ``task`` with ``args`` in the session's transaction: it runs once that commits, and
    never if it rolls back. ``lock``: procrastinate runs one job of a lock at a time (the decorator's
    ``lock=`` applies only to its own ``defer``, so a job inserted here names it again).
    ``unless_waiting``: nothing is deferred when the same task with the same args is already waiting.
    True if a job was deferred."""
    sql = _DEFER + (_UNLESS_WAITING if unless_waiting else "")
    result = await session.execute(text(sql), {"task": task, "lock": lock, "args": json.dumps(args)})
    return result.first() is not None


def run_worker(app: procrastinate.App) -> None:
    """``doorstep worker``: run the app's worker until interrupted."""

    async def main() -> None:
        async with app.open_async():
            await app.run_worker_async(install_signal_handlers=True)

    asyncio.run(main())


@asynccontextmanager
async def inline_worker(app: procrastinate.App) -> AsyncIterator[None]:
    """Run a worker inside the API process for as long as the context lasts (``scripts/serve``).

    Several API processes may each run one: procrastinate's locks keep each job to one worker.
    """
    async with app.open_async():
        task = asyncio.create_task(app.run_worker_async(install_signal_handlers=False))
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
