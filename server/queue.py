"""Background work on PostgreSQL (procrastinate): re-evaluate the rules after imports and daily,
make a received photo's served copy and thumbnail, sweep expired uploads and orphaned files.

The procrastinate schema lives in its own PostgreSQL schema, ``procrastinate``, created by
migration 0003. Jobs are deferred inside the caller's own transaction (a plain INSERT through
procrastinate's SQL function), so an import and the evaluation it asks for commit together or
not at all. ``doorstep worker`` runs the worker.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, date, datetime
from typing import Any

import procrastinate
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from server import clock
from server.audit import Actor
from server.db import asyncpg_url, create_engine, create_session_factory, session_scope
from server.settings import Settings

SCHEMA = "procrastinate"
EVALUATE_TASK = "rules.evaluate"
EVALUATE_LOCK = "rules.evaluate"
PHOTO_TASK = "photos.process"
LETTERS_TASK = "letters.batch"


def psycopg_conninfo(url: str) -> str:
    """Our SQLAlchemy URL as a libpq URI (psycopg speaks to the same server)."""
    return asyncpg_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


def make_app(database_url: str | None = None, settings: Settings | None = None) -> procrastinate.App:
    """The procrastinate app. Without a URL it is built with an in-memory connector (tests, imports).
    ``settings`` say where files are (the photo tasks need them)."""
    connector: Any
    if database_url is None:
        from procrastinate.testing import InMemoryConnector

        connector = InMemoryConnector()
    else:
        connector = procrastinate.PsycopgConnector(
            conninfo=psycopg_conninfo(database_url), kwargs={"options": f"-c search_path={SCHEMA}"}
        )
    app = procrastinate.App(connector=connector)
    _register(app, database_url, settings or Settings())
    return app


async def run_evaluation(database_url: str, as_of: date) -> dict[str, Any]:
    """The job: evaluate every student as of ``as_of`` in one committed transaction."""
    from server.rules.evaluate import evaluate_all

    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with session_scope(create_session_factory(engine)) as session:
            result = await evaluate_all(session, as_of, Actor.system("queue"))
    finally:
        await engine.dispose()
    return {"school_year": result.school_year, "truant": result.truant, "seconds": result.seconds}


def _register(app: procrastinate.App, database_url: str | None, settings: Settings) -> None:
    @app.task(name=EVALUATE_TASK, lock=EVALUATE_LOCK, pass_context=False)
    async def evaluate(as_of: str | None = None) -> None:
        if database_url is None:
            return
        await run_evaluation(database_url, date.fromisoformat(as_of) if as_of else clock.today(settings))

    @app.periodic(cron="15 5 * * *", periodic_id="daily")
    @app.task(name="rules.evaluate_daily", lock=EVALUATE_LOCK, pass_context=False)
    async def evaluate_daily(timestamp: int) -> None:
        """Documentation windows close as days pass, without any new data."""
        if database_url is None:
            return
        await run_evaluation(database_url, clock.day_of(datetime.fromtimestamp(timestamp, UTC), settings))

    @app.periodic(cron="30 4 * * 0", periodic_id="weekly")
    @app.task(name="sync.purge_weekly", pass_context=False)
    async def purge_weekly(timestamp: int) -> None:
        """Old change-log entries go; devices away longer than 90 days refetch their scope."""
        if database_url is None:
            return
        await run_purge(database_url)

    @app.task(name=PHOTO_TASK, retry=3, pass_context=False)
    async def process_photo(sha256: str) -> None:
        """A received file's served copy (EXIF stripped) and thumbnail."""
        if database_url is None:
            return
        from server.photos import processing

        await processing.run_process(database_url, settings, sha256)

    @app.task(name=LETTERS_TASK, pass_context=False)
    async def letter_batch(batch_id: str) -> None:
        """A batch of family letters: made, printed into one PDF (``server.letters.service``)."""
        if database_url is None:
            return
        from server.letters import service as letters

        await letters.run_queued(database_url, settings, uuid.UUID(batch_id))

    @app.periodic(cron="*/15 * * * *", periodic_id="sweep")
    @app.task(name="uploads.sweep", lock="uploads.sweep", pass_context=False)
    async def sweep(timestamp: int) -> None:
        """Expired uploads and files no form photo references go; stuck finishes are retried."""
        if database_url is None:
            return
        from server.photos import processing

        await processing.run_sweep(database_url, settings)


async def run_purge(database_url: str) -> int:
    """The job: purge the sync change log of entries older than 90 days."""
    from server.sync.maintenance import purge_changes

    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with session_scope(create_session_factory(engine)) as session:
            return await purge_changes(session)
    finally:
        await engine.dispose()


async def enqueue_evaluation(session: AsyncSession, as_of: date | None = None) -> bool:
    """Defer an evaluation in the session's transaction, unless one is already waiting."""
    result = await session.execute(
        text(
            f"""
            SELECT {SCHEMA}.procrastinate_defer_jobs_v1(ARRAY[ROW(
                'default', :task, 0, :lock, NULL, CAST(:args AS jsonb), NULL
            )::{SCHEMA}.procrastinate_job_to_defer_v1])
            WHERE NOT EXISTS (
                SELECT 1 FROM {SCHEMA}.procrastinate_jobs
                WHERE task_name = :task AND status = 'todo' AND args = CAST(:args AS jsonb))
            """
        ),
        {"task": EVALUATE_TASK, "lock": EVALUATE_LOCK, "args": _args(as_of)},
    )
    return result.first() is not None


async def enqueue_photo(session: AsyncSession, sha256: str) -> None:
    """Defer a photo's processing in the session's transaction (it runs once the file is committed)."""
    await session.execute(
        text(
            f"""
            SELECT {SCHEMA}.procrastinate_defer_jobs_v1(ARRAY[ROW(
                'default', :task, 0, NULL, NULL, CAST(:args AS jsonb), NULL
            )::{SCHEMA}.procrastinate_job_to_defer_v1])
            """
        ),
        {"task": PHOTO_TASK, "args": json.dumps({"sha256": sha256})},
    )


async def enqueue_letter_batch(session: AsyncSession, batch_id: uuid.UUID) -> None:
    """Defer a letter batch in the session's transaction (it runs once the batch is committed)."""
    await session.execute(
        text(
            f"""
            SELECT {SCHEMA}.procrastinate_defer_jobs_v1(ARRAY[ROW(
                'default', :task, 0, NULL, NULL, CAST(:args AS jsonb), NULL
            )::{SCHEMA}.procrastinate_job_to_defer_v1])
            """
        ),
        {"task": LETTERS_TASK, "args": json.dumps({"batch_id": str(batch_id)})},
    )


def _args(as_of: date | None) -> str:
    return json.dumps({} if as_of is None else {"as_of": as_of.isoformat()})


def run_worker(database_url: str, settings: Settings) -> None:
    app = make_app(database_url, settings)

    async def main() -> None:
        async with app.open_async():
            await app.run_worker_async(install_signal_handlers=True)

    asyncio.run(main())


@asynccontextmanager
async def inline_worker(database_url: str, settings: Settings) -> AsyncIterator[None]:
    """Run a worker inside the API process for as long as the context lasts (``scripts/serve``).

    Several API processes may each run one: procrastinate's locks keep each job to one worker.
    """
    app = make_app(database_url, settings)
    async with app.open_async():
        task = asyncio.create_task(app.run_worker_async(install_signal_handlers=False))
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
