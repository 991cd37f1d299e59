"""The admin CLI against a database of its own (it commits)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from server.cli import app

runner = CliRunner()


@pytest.fixture
def cli_env(fresh_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", fresh_database)
    monkeypatch.setenv("DOORSTEP_DEMO_PASSWORD", "demo-password-for-tests")


def invoke(*args: str, input: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == 0, result.output
    return result.output


def test_demo_load_is_idempotent_and_creates_the_fixed_users(cli_env: None) -> None:
    first = invoke("demo", "load", "--today", "2026-12-01")
    assert "created 15 demo users" in first
    assert "school year 2026-2027, attendance through 2026-11-30" in " ".join(first.split())
    assert "demo password" not in first  # the configured password is not echoed
    assert "demo users already loaded" in invoke("demo", "load", "--today", "2026-12-01")
    listing = invoke("user", "list")
    for name in ["admin", "sup1", "sup2", *(f"cm{i}" for i in range(1, 9)), "office1", "counselor3"]:
        assert name in listing


def test_demo_load_prints_a_generated_password_once(cli_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOORSTEP_DEMO_PASSWORD")
    assert "demo password: shown once" in invoke("demo", "load", "--today", "2026-12-01")
    assert "demo password" not in invoke("demo", "load", "--today", "2026-12-01")


def test_user_create_list_and_disable(cli_env: None) -> None:
    invoke("user", "create", "sup1", "--role", "supervisor", "--password", "pw-123456")
    out = invoke(
        "user",
        "create",
        "cm9",
        "--role",
        "case_manager",
        "--supervisor",
        "sup1",
        input="s3cret-pass\ns3cret-pass\n",
    )
    assert "created cm9" in out
    invoke("user", "disable", "cm9")
    listing = invoke("user", "list", "--role", "case_manager")
    line = next(line for line in listing.splitlines() if "cm9" in line)
    assert "yes" in line


def test_case_manager_without_a_supervisor_is_refused(cli_env: None) -> None:
    result = runner.invoke(app, ["user", "create", "lonely", "--role", "case_manager", "--password", "pw-123456"])
    assert result.exit_code == 1
    assert "supervisor" in result.output


def test_device_list_and_revoke_of_unknown_device(cli_env: None) -> None:
    invoke("device", "list")
    result = runner.invoke(app, ["device", "revoke", "6f9619ff-8b86-d011-b42d-00c04fc964ff"])
    assert result.exit_code == 1
    assert "No such device" in result.output
