"""The import commands as a data clerk runs them: a file refused says why, and exits non-zero."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from server.cli import app
from server.db import create_engine
from tests.test_imports import ATTENDANCE, CALENDAR, ROSTER

runner = CliRunner()


@pytest.fixture
def cli_env(fresh_database: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", fresh_database)
    return fresh_database


def load(tmp_path: Path, kind: str, body: str, *options: str) -> str:
    path = tmp_path / f"{kind}.csv"
    path.write_text(body)
    result = runner.invoke(app, [kind, "import", str(path), *options])
    assert result.exit_code == 0, result.output
    return result.output


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    async def run() -> list[tuple[Any, ...]]:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(text(sql))
                return [tuple(r) for r in result] if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(run())


def reasons(url: str) -> list[tuple[Any, ...]]:
    return query(url, "SELECT student_id, day, reason_code FROM attendance_record ORDER BY student_id, day")


@pytest.mark.parametrize("mode", ["all_or_nothing", "good_rows"])
def test_the_cli_refuses_a_file_with_unknown_columns_and_names_them(cli_env: str, tmp_path: Path, mode: str) -> None:
    load(tmp_path, "roster", ROSTER)
    load(tmp_path, "calendar", CALENDAR)
    load(tmp_path, "attendance", ATTENDANCE)
    before = reasons(cli_env)
    misspelled = tmp_path / "misspelled.csv"
    misspelled.write_text(ATTENDANCE.replace("reason_code,documentation_received_on", "reason,documentation_date"))
    result = runner.invoke(app, ["attendance", "import", str(misspelled), "--mode", mode])
    assert result.exit_code == 1, result.output
    out = " ".join(result.output.split())
    assert "unknown column(s): reason, documentation_date" in out
    assert "expected: student_number, school_code, day, minutes_present" in out
    assert "nothing was imported" in out
    assert reasons(cli_env) == before


def test_the_cli_voids_attendance_imported_by_mistake(cli_env: str, tmp_path: Path) -> None:
    load(tmp_path, "roster", ROSTER)
    load(tmp_path, "calendar", CALENDAR)
    load(tmp_path, "attendance", ATTENDANCE)
    query(cli_env, "DELETE FROM procrastinate.procrastinate_jobs")
    voids = ATTENDANCE.splitlines()[0] + ",void\n" + "T-1001,IMP1,2025-09-02,,,,,,,true\n"
    out = load(tmp_path, "attendance", voids)
    assert "1 rows, 0 inserted, 0 updated, 1 deleted, 0 unchanged" in out
    assert "re-evaluation queued" in out
    assert len(reasons(cli_env)) == 3
    voided = query(cli_env, "SELECT actor_role, detail->>'line' FROM audit_log WHERE action = 'attendance.voided'")
    assert voided == [("cli", "2")]
