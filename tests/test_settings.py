from __future__ import annotations

import os
from pathlib import Path

import pytest

from server.settings import Settings, SettingsError


def test_settings_come_from_doorstep_variables_and_database_url() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://u@h/db",
            "DOORSTEP_HOST": "0.0.0.0",
            "DOORSTEP_PORT": "9000",
            "DOORSTEP_DATA_DIR": "/srv/doorstep",
        }
    )
    assert settings.database_url == "postgresql://u@h/db"
    assert (settings.host, settings.port, settings.data_dir) == ("0.0.0.0", 9000, Path("/srv/doorstep"))


def test_defaults_are_local_and_embedded() -> None:
    settings = Settings.from_env({})
    assert settings.database_url is None
    assert (settings.host, settings.port, settings.data_dir) == ("127.0.0.1", 8000, Path("var"))


def test_serve_runs_the_worker_inline_unless_told_otherwise() -> None:
    assert Settings.from_env({}).inline_worker is True
    assert Settings.from_env({"DOORSTEP_WORKER": "off"}).inline_worker is False


def test_serve_runs_a_worker_process_per_cpu_unless_told_otherwise() -> None:
    assert Settings.from_env({}).workers == (os.cpu_count() or 1)
    assert Settings.from_env({"DOORSTEP_WORKERS": "3"}).workers == 3
    with pytest.raises(SettingsError, match="DOORSTEP_WORKERS"):
        Settings.from_env({"DOORSTEP_WORKERS": "0"})


def test_a_bad_number_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="DOORSTEP_PORT"):
        Settings.from_env({"DOORSTEP_PORT": "eighty"})


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Settings().port = 1  # type: ignore[misc]


def test_generated_secret_is_kept_in_the_data_dir(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).with_secret()
    second = Settings(data_dir=tmp_path).with_secret()
    assert first.jwt_secret and first.jwt_secret == second.jwt_secret
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o077 == 0


def test_the_districts_time_zone_is_checked_when_read() -> None:
    assert Settings.from_env({}).time_zone == "America/New_York"
    assert Settings.from_env({"DOORSTEP_TIME_ZONE": "America/Chicago"}).time_zone == "America/Chicago"
    for bad in ("Mars/Olympus", "EST5EDT/../../etc", "not a zone"):
        with pytest.raises(SettingsError, match="DOORSTEP_TIME_ZONE"):
            Settings.from_env({"DOORSTEP_TIME_ZONE": bad})
