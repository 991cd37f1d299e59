"""The background jobs: each feature's ``jobs`` module is on the worker's one list, the stored task
names hold, and a job is deferred in the caller's transaction (docs/architecture.md)."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from server import jobs, queue

ROOT = Path(__file__).resolve().parents[1]


def test_every_features_jobs_module_is_on_the_one_list() -> None:
    """A ``jobs.py`` left off ``TASK_MODULES`` would have its tasks never run."""
    on_disk = {".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (ROOT / "server").glob("*/jobs.py")}
    assert {m.__name__ for m in jobs.TASK_MODULES} == on_disk


def test_the_stored_task_names_locks_and_schedules_hold() -> None:
    """Each queued job and each periodic defer stores its task's name: renaming one strands them."""
    app = jobs.make_app(None)
    ours = {name: task.lock for name, task in app.tasks.items() if "procrastinate" not in name}
    assert ours == {
        "rules.evaluate": "rules.evaluate",
        "rules.evaluate_daily": "rules.evaluate",
        "photos.process": None,
        "uploads.sweep": "uploads.sweep",
        "letters.batch": None,
        "sync.purge_weekly": None,
    }
    periodic = {(p.task.name, p.periodic_id, p.cron) for p in app.periodic_registry.periodic_tasks.values()}
    assert periodic == {
        ("rules.evaluate_daily", "daily", "15 5 * * *"),
        ("uploads.sweep", "sweep", "*/15 * * * *"),
        ("sync.purge_weekly", "weekly", "30 4 * * 0"),
    }


async def _waiting(db: AsyncSession, task: str) -> list[tuple[object, ...]]:
    rows = await db.execute(
        text("SELECT args, lock FROM procrastinate.procrastinate_jobs WHERE task_name = :t AND status = 'todo'"),
        {"t": task},
    )
    return [tuple(r) for r in rows]


async def test_a_job_is_deferred_in_the_callers_transaction(db: AsyncSession) -> None:
    task = f"test.{uuid.uuid4().hex}"
    savepoint = await db.begin_nested()
    assert await queue.defer(db, task, {"n": 1}) is True
    assert await _waiting(db, task) == [({"n": 1}, None)]
    await savepoint.rollback()
    assert await _waiting(db, task) == [], "rolled back with the work that asked for it"

    assert await queue.defer(db, task, {"n": 1}, lock="one", unless_waiting=True) is True
    assert await queue.defer(db, task, {"n": 1}, lock="one", unless_waiting=True) is False
    assert await queue.defer(db, task, {"n": 2}, lock="one", unless_waiting=True) is True
    assert await queue.defer(db, task, {"n": 2}) is True  # without unless_waiting, a second one
    assert sorted(await _waiting(db, task), key=str) == [({"n": 1}, "one"), ({"n": 2}, "one"), ({"n": 2}, None)]
