"""The import and evaluation commands, and the queue that re-evaluates after imports."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from server import jobs, queue
from server.cli import app
from server.db import create_engine
from server.rules.jobs import enqueue_evaluation, run_evaluation
from tests.test_imports import ATTENDANCE, CALENDAR, ROSTER

runner = CliRunner()


@pytest.fixture
def cli_env(fresh_database: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", fresh_database)
    return fresh_database


def test_import_commands_then_evaluate(cli_env: str, tmp_path: Path) -> None:
    files = {"roster": ROSTER, "calendar": CALENDAR, "attendance": ATTENDANCE}
    for kind, body in files.items():
        path = tmp_path / f"{kind}.csv"
        path.write_text(body)
        result = runner.invoke(app, [kind, "import", str(path)])
        assert result.exit_code == 0, result.output
        # One evaluation waits in the queue for all three imports.
        assert ("re-evaluation queued" in result.output) is (kind == "roster")
    again = runner.invoke(app, ["attendance", "import", str(tmp_path / "attendance.csv")])
    assert "0 inserted, 0 updated, 0 deleted, 4 unchanged" in again.output
    bad = tmp_path / "bad.csv"
    bad.write_text(ATTENDANCE + "T-9999,IMP1,2025-09-02,0,360,,,,\n")
    rejected = runner.invoke(app, ["attendance", "import", str(bad)])
    assert rejected.exit_code == 1
    assert "line 6: unknown student_number T-9999" in rejected.output
    evaluated = runner.invoke(app, ["rules", "evaluate", "--as-of", "2025-09-12"])
    assert evaluated.exit_code == 0, evaluated.output
    assert "2025-2026 as of 2025-09-12: 3 students" in evaluated.output


async def test_the_queued_job_evaluates_in_its_own_transaction(cli_env: str) -> None:
    engine = create_engine(cli_env)
    try:
        async with engine.begin() as conn:
            session = AsyncSession(bind=conn)
            assert await enqueue_evaluation(session) is True
            assert await enqueue_evaluation(session) is False  # one waiting is enough
            jobs = (await conn.execute(text("SELECT task_name, lock FROM procrastinate.procrastinate_jobs"))).all()
            assert [tuple(j) for j in jobs] == [("rules.evaluate", "rules.evaluate")]
    finally:
        await engine.dispose()
    result = await run_evaluation(cli_env, date(2025, 10, 1))
    assert result["school_year"] is None  # an empty district: nothing to evaluate, and no error


def test_procrastinate_app_registers_the_tasks() -> None:
    procrastinate_app = jobs.make_app(None)
    assert {"rules.evaluate", "rules.evaluate_daily"} <= set(procrastinate_app.tasks)
    assert queue.psycopg_conninfo("postgresql+asyncpg://u:p@/db?host=/tmp/x") == "postgresql://u:p@/db?host=/tmp/x"
