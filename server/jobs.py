"""The one list of the features that have background tasks, for the worker (``doorstep worker``)
and the inline worker ``serve`` runs. The queue (``server.queue``) knows no feature; each feature
declares its tasks in its own ``jobs`` module, and a feature with new tasks is added here.
"""

from __future__ import annotations

import procrastinate

from server import queue
from server.letters import jobs as letters
from server.photos import jobs as photos
from server.rules import jobs as rules
from server.settings import Settings
from server.sync import jobs as sync

TASK_MODULES = (rules, photos, letters, sync)


def make_app(database_url: str | None = None, settings: Settings | None = None) -> procrastinate.App:
    """The procrastinate app with every feature's tasks; without a URL, in memory (tests)."""
    return queue.make_app(database_url, settings or Settings(), (m.register for m in TASK_MODULES))
