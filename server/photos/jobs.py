"""The photos' background tasks (``server.photos.processing``): a stored file's served copy and
thumbnail, deferred when the file is stored (``server.photos.files``); and every 15 minutes the
sweep of expired uploads and of files no form photo references, retrying stuck finishes."""

from __future__ import annotations

import procrastinate

from server.photos import processing
from server.photos.files import PROCESS_TASK
from server.photos.processing import SWEEP_TASK
from server.settings import Settings


def register(app: procrastinate.App, database_url: str | None, settings: Settings) -> None:
    @app.task(name=PROCESS_TASK, retry=3, pass_context=False)
    async def process_photo(sha256: str) -> None:
        """A received file's served copy (EXIF stripped) and thumbnail."""
        if database_url is None:
            return
        await processing.run_process(database_url, settings, sha256)

    @app.periodic(cron="*/15 * * * *", periodic_id="sweep")
    @app.task(name=SWEEP_TASK, lock=SWEEP_TASK, pass_context=False)
    async def sweep(timestamp: int) -> None:
        """Expired uploads and files no form photo references go; stuck finishes are retried."""
        if database_url is None:
            return
        await processing.run_sweep(database_url, settings)
