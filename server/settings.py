"""One frozen Settings object, read from the environment only when asked to."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class SettingsError(ValueError):
    """An environment variable holds a value Doorstep cannot use."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc


def _at_least(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    value = _int(env, name, default)
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def parse_proxies(raw: str, name: str = "DOORSTEP_TRUSTED_PROXIES") -> tuple[str, ...]:
    """Comma-separated addresses or CIDR blocks, as normalised CIDR strings (``10.0.0.1/32``)."""
    proxies = []
    for part in raw.split(","):
        if not (part := part.strip()):
            continue
        try:
            proxies.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError as exc:
            raise SettingsError(f"{name}: {part!r} is not an IP address or CIDR block") from exc
    return tuple(proxies)


def _zone(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name) or default
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SettingsError(f"{name} must be an IANA time zone such as America/New_York, got {raw!r}") from exc
    return raw


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """A positive number of seconds, fractions allowed (``0.5``)."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from exc
    if not value > 0 or value == float("inf"):
        raise SettingsError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value < 1:
        raise SettingsError(f"{name} must be at least 1, got {value}")
    return value


def _letterhead(env: Mapping[str, str]) -> dict[str, Any]:
    """The ``DOORSTEP_LETTERHEAD_*`` variables that are set (the others keep their defaults)."""
    found: dict[str, Any] = {}
    for name in ("name", "program", "phone", "website"):
        if (value := env.get(f"DOORSTEP_LETTERHEAD_{name.upper()}")) is not None:
            found[f"letterhead_{name}"] = value.strip()
    if (address := env.get("DOORSTEP_LETTERHEAD_ADDRESS")) is not None:
        found["letterhead_address"] = tuple(line.strip() for line in address.split(";") if line.strip())
    return found


@dataclass(frozen=True)
class Settings:
    """Everything configurable about a Doorstep process.

    Built by :meth:`from_env` inside ``create_app`` (or the CLI), never at import time.
    """

    database_url: str | None = None
    db_pool_timeout_seconds: float = 5.0
    """How long a request waits for a database connection when every one is in use
    (``DOORSTEP_DB_POOL_TIMEOUT_SECONDS``) before it is answered 503 with ``Retry-After``."""
    db_connect_timeout_seconds: float = 5.0
    """How long opening a database connection may take (``DOORSTEP_DB_CONNECT_TIMEOUT_SECONDS``):
    a database that does not answer is a quick 503, not a request hanging on it."""
    db_command_timeout_seconds: float = 60.0
    """How long one SQL statement of a request may take (``DOORSTEP_DB_COMMAND_TIMEOUT_SECONDS``);
    past it the connection is dropped and the request answered 503."""
    max_in_flight: int = 20
    """Requests one API worker process serves at once (``DOORSTEP_MAX_IN_FLIGHT``; 0: no limit);
    more wait for a place up to ``queue_timeout_seconds``, then get 503 with ``Retry-After``
    (server/overload.py). 20 is the worker's database pool (10 connections and 10 more at a
    peak): a request past them would only wait for a connection, up to
    ``db_pool_timeout_seconds``, and then be answered 503 after 5 s instead of 2."""
    queue_timeout_seconds: float = 2.0
    """How long a request waits for a place (``DOORSTEP_QUEUE_TIMEOUT_SECONDS``)."""
    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = 8000
    jwt_secret: str = field(default="", repr=False)
    access_token_seconds: int = 15 * 60
    refresh_token_seconds: int = 30 * 24 * 3600
    refresh_reuse_grace_seconds: int = 30
    """How long a used refresh token presented again answers the same pair it gave the first time
    (``DOORSTEP_REFRESH_REUSE_GRACE_SECONDS``; 0: never), so that a phone whose answer was lost is
    not logged out by its retry; later, reuse is taken as theft (server/auth/service.py)."""
    console_session_seconds: int = 8 * 3600
    """How long a console sign-in lasts (``DOORSTEP_CONSOLE_SESSION_SECONDS``); signing out ends it at once."""
    max_body_bytes: int = 1_000_000
    login_rate_per_minute: int = 10
    """Failed logins per client address per minute; also refreshes per device per minute."""
    login_lockout_failures: int = 5
    """Consecutive failed logins for one username before it backs off."""
    login_backoff_seconds: int = 30
    """The first back-off; it doubles with each further failure..."""
    login_backoff_max_seconds: int = 15 * 60
    """...up to this."""
    trusted_proxies: tuple[str, ...] = ()
    """Peers (CIDR blocks) whose X-Forwarded-For is believed; none by default."""
    log_level: str = "INFO"
    log_json: bool = True
    demo_password: str | None = field(default=None, repr=False)
    inline_worker: bool = False
    """``DOORSTEP_WORKER=inline`` (the default of :meth:`from_env`): ``serve`` starts one background
    worker process beside its API workers; an app made by ``create_app`` alone (``uvicorn
    --factory``) runs one inside its process. ``off``: run ``doorstep worker`` yourself."""
    workers: int = 1
    """API worker processes ``serve`` runs (``DOORSTEP_WORKERS``, default: the number of CPUs)."""
    blob_url: str | None = None
    """Where files go (``DOORSTEP_BLOB_URL``): an ``s3://bucket/prefix`` URL for any S3-compatible
    store (credentials and endpoint from the usual ``AWS_*`` variables), or unset for the folder
    ``<data_dir>/blobs``."""
    max_upload_bytes: int = 25 * 1024 * 1024
    """The largest file an upload may announce (``DOORSTEP_MAX_UPLOAD_BYTES``)."""
    max_image_pixels: int = 80_000_000
    """An image with more pixels is refused as a decompression bomb, before it is decoded."""
    upload_expiry_seconds: int = 24 * 3600
    """An unfinished upload untouched this long expires and is removed (``Upload-Expires``)."""
    orphan_file_seconds: int = 7 * 24 * 3600
    """A stored file no form photo references is removed this long after it came."""
    time_zone: str = "America/New_York"
    """The district's IANA time zone (``DOORSTEP_TIME_ZONE``): how the console shows times, and
    where its weeks begin. Stored times stay UTC."""
    letterhead_name: str = "Waterbury Public Schools"
    """The district's name atop every family letter (``DOORSTEP_LETTERHEAD_NAME``)."""
    letterhead_program: str = "Truancy Prevention Program"
    letterhead_address: tuple[str, ...] = ("236 Grand Street", "Waterbury, CT 06702")
    """The return address, a line each (``DOORSTEP_LETTERHEAD_ADDRESS``, lines split by ``;``)."""
    letterhead_phone: str = "(203) 574-8000"
    """The number a letter gives when its student has no case manager with a phone."""
    letterhead_website: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("DOORSTEP_DATA_DIR") or "var")
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            db_pool_timeout_seconds=_seconds(env, "DOORSTEP_DB_POOL_TIMEOUT_SECONDS", 5.0),
            db_connect_timeout_seconds=_seconds(env, "DOORSTEP_DB_CONNECT_TIMEOUT_SECONDS", 5.0),
            db_command_timeout_seconds=_seconds(env, "DOORSTEP_DB_COMMAND_TIMEOUT_SECONDS", 60.0),
            max_in_flight=_at_least(env, "DOORSTEP_MAX_IN_FLIGHT", 20, 0),
            queue_timeout_seconds=_seconds(env, "DOORSTEP_QUEUE_TIMEOUT_SECONDS", 2.0),
            data_dir=data_dir,
            host=env.get("DOORSTEP_HOST") or "127.0.0.1",
            port=_int(env, "DOORSTEP_PORT", 8000),
            jwt_secret=env.get("DOORSTEP_JWT_SECRET") or "",
            access_token_seconds=_int(env, "DOORSTEP_ACCESS_TOKEN_SECONDS", 15 * 60),
            refresh_token_seconds=_int(env, "DOORSTEP_REFRESH_TOKEN_SECONDS", 30 * 24 * 3600),
            refresh_reuse_grace_seconds=_at_least(env, "DOORSTEP_REFRESH_REUSE_GRACE_SECONDS", 30, 0),
            console_session_seconds=_at_least(env, "DOORSTEP_CONSOLE_SESSION_SECONDS", 8 * 3600, 60),
            max_body_bytes=_int(env, "DOORSTEP_MAX_BODY_BYTES", 1_000_000),
            login_rate_per_minute=_at_least(env, "DOORSTEP_LOGIN_RATE_PER_MINUTE", 10, 1),
            login_lockout_failures=_at_least(env, "DOORSTEP_LOGIN_LOCKOUT_FAILURES", 5, 1),
            login_backoff_seconds=_at_least(env, "DOORSTEP_LOGIN_BACKOFF_SECONDS", 30, 1),
            login_backoff_max_seconds=_at_least(env, "DOORSTEP_LOGIN_BACKOFF_MAX_SECONDS", 15 * 60, 1),
            trusted_proxies=parse_proxies(env.get("DOORSTEP_TRUSTED_PROXIES") or ""),
            log_level=(env.get("DOORSTEP_LOG_LEVEL") or "INFO").upper(),
            log_json=(env.get("DOORSTEP_LOG_FORMAT") or "json") == "json",
            demo_password=env.get("DOORSTEP_DEMO_PASSWORD") or None,
            inline_worker=(env.get("DOORSTEP_WORKER") or "inline") == "inline",
            workers=_positive(env, "DOORSTEP_WORKERS", os.cpu_count() or 1),
            blob_url=env.get("DOORSTEP_BLOB_URL") or None,
            max_upload_bytes=_positive(env, "DOORSTEP_MAX_UPLOAD_BYTES", 25 * 1024 * 1024),
            max_image_pixels=_positive(env, "DOORSTEP_MAX_IMAGE_PIXELS", 80_000_000),
            upload_expiry_seconds=_at_least(env, "DOORSTEP_UPLOAD_EXPIRY_SECONDS", 24 * 3600, 60),
            orphan_file_seconds=_at_least(env, "DOORSTEP_ORPHAN_FILE_SECONDS", 7 * 24 * 3600, 60),
            time_zone=_zone(env, "DOORSTEP_TIME_ZONE", "America/New_York"),
            **_letterhead(env),
        )

    def with_secret(self) -> Settings:
        """Return settings with a JWT secret, persisting a generated one in the data dir.

        Tokens must survive a restart, and every worker on one machine must agree on the
        secret, so a generated secret is written once to ``<data_dir>/jwt-secret``. In a
        deployment with several machines set ``DOORSTEP_JWT_SECRET`` instead.
        """
        if self.jwt_secret:
            return self
        path = self.data_dir / "jwt-secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        return replace(self, jwt_secret=path.read_text().strip())
