"""The letters' background task: a batch of family letters, made and printed into one PDF
(``server.letters.service.run_batch``), deferred by the office's request in its transaction."""

from __future__ import annotations

import uuid

import procrastinate
from sqlalchemy.ext.asyncio import AsyncSession

from server import queue
from server.letters import service
from server.letters.service import BATCH_TASK
from server.settings import Settings


async def enqueue_batch(session: AsyncSession, batch_id: uuid.UUID) -> None:
    """Defer a letter batch in the session's transaction (it runs once the batch is committed)."""
    await queue.defer(session, BATCH_TASK, {"batch_id": str(batch_id)})


def register(app: procrastinate.App, database_url: str | None, settings: Settings) -> None:
    @app.task(name=BATCH_TASK, pass_context=False)
    async def letter_batch(batch_id: str) -> None:
        """A batch of family letters: made, printed into one PDF."""
        if database_url is None:
            return
        await service.run_queued(database_url, settings, uuid.UUID(batch_id))
