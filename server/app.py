"""``create_app(settings)``: the one place the Litestar application is assembled."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import structlog
from litestar import Litestar, Request, Response, Router
from litestar.config.app import ExperimentalFeatures
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.config import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.plugins.problem_details import (
    ProblemDetailsConfig,
    ProblemDetailsException,
    ProblemDetailsPlugin,
)
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from server import api_docs, app_shell, jobs, overload, queue, security
from server import db as dbmod
from server import logging as logmod
from server import openapi as api_doc
from server.attendance.routes import attendance_import
from server.audit_routes import router as audit_router
from server.auth.guards import PUBLIC, BearerAuthMiddleware, role_guard
from server.auth.routes import router as auth_router
from server.blobs import Blobs
from server.cases.routes import router as cases_router
from server.conflicts.routes import router as conflicts_router
from server.console import pages as console_pages
from server.console import routes as console
from server.dashboard.routes import dashboard
from server.errors import DoorstepError, Unavailable
from server.health import health, ready
from server.inputs import DoorstepRequest, query_guard_middleware
from server.letters.routes import router as letters_router
from server.photos.routes import router as photos_router
from server.referrals.routes import router as referrals_router
from server.reports.routes import reports
from server.resources.routes import router as resources_router
from server.rosters.routes import roster_import
from server.rules.routes import router as rules_router
from server.schools.routes import calendar_import, school_calendar, school_years
from server.settings import Settings
from server.students.routes import router as students_router
from server.sync.routes import router as sync_router
from server.uploads.routes import router as uploads_router
from server.visits.routes import router as visits_router
from sync.engine import SyncError

PROBLEM_TYPE = "urn:doorstep:problem:"

_STATUS_CODES = {
    400: "malformed",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}


def _problem(status: int, code: str, title: str, detail: str, **extra: Any) -> ProblemDetailsException:
    return ProblemDetailsException(
        status_code=status,
        title=title,
        detail=detail,
        type_=PROBLEM_TYPE + code,
        extra={"code": code, **extra},
    )


def _from_domain(exc: DoorstepError) -> ProblemDetailsException:
    problem = _problem(exc.status, exc.code, exc.title, exc.detail, **exc.extra)
    problem.headers = exc.headers or None
    return problem


def _from_sync(exc: SyncError) -> ProblemDetailsException:
    titles = {400: "Malformed request", 403: "Not allowed", 409: "Conflict"}
    return _problem(exc.status, exc.code, titles.get(exc.status, "Sync request refused"), exc.detail)


def _from_http(exc: HTTPException) -> ProblemDetailsException:
    code = _STATUS_CODES.get(exc.status_code, "http_error")
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationException) and exc.extra:
        # msgspec's messages end with the field path, e.g. "... - at `$.device.id`".
        extra["errors"] = exc.extra
    return ProblemDetailsException(
        status_code=exc.status_code,
        title=exc.detail,
        detail=exc.detail,
        type_=PROBLEM_TYPE + code,
        headers=exc.headers,
        extra={"code": code, **extra},
    )


def _internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Everything no other handler took: a database outage (``server.db.unavailable``: the
    connection lost or refused, the pool exhausted, the server restarting) is 503 with
    ``Retry-After``; anything else is a bug, 500. (A missing file, a ``FileNotFoundError``, is
    a bug: the file store's outages are answered where they happen, ``server.blobs``.)"""
    if dbmod.unavailable(exc):
        structlog.get_logger("doorstep").warning("database_unavailable", error=_describe(exc))
        return _from_domain(Unavailable()).to_response(request)
    structlog.get_logger("doorstep").exception("unhandled_error")
    return _problem(500, "internal_error", "Internal server error", "Internal server error").to_response(request)


def _describe(exc: BaseException) -> str:
    """The error and what it came from, on one line (``type: message <- type: message``)."""
    parts: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(parts) < 4:
        lines = str(current).splitlines()
        parts.append(f"{type(current).__name__}: {lines[0][:200] if lines else ''}")
        inner = getattr(current, "orig", None)
        current = inner if isinstance(inner, BaseException) else current.__cause__
    return " <- ".join(parts)


def _settings_provider(settings: Settings) -> Any:
    def provide() -> Settings:
        return settings

    return provide


def settle_heap() -> None:
    """Move everything alive after startup (modules, the app, SQLAlchemy's mappings and caches)
    out of the garbage collector's sight: ``gc.freeze``.

    Those ~170,000 long-lived objects never become garbage, yet every full collection walked
    them all: about 120 ms with the event loop stopped, every few hundred requests, which set
    the push's p95. Called once, at the end of startup."""
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None, *, session_factory: dbmod.SessionFactory | None = None) -> Litestar:
    """Build the app. Settings are read from the environment here, never at import time.

    ``session_factory`` lets tests bind every session to one rolled-back connection.
    """
    settings = (settings or Settings.from_env()).with_secret()
    logmod.configure(settings.log_level, settings.log_json)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if session_factory is not None:
            yield
            return
        embedded = None
        url = settings.database_url
        if url is None:
            embedded = dbmod.EmbeddedPostgres(settings.data_dir / "pgdata")
            url = embedded.url()
        engine = dbmod.create_engine(
            url,
            pool_timeout=settings.db_pool_timeout_seconds,
            connect_timeout=settings.db_connect_timeout_seconds,
            command_timeout=settings.db_command_timeout_seconds,
        )
        app.state.session_factory = dbmod.create_session_factory(engine)
        app.state.settings = replace(settings, database_url=url)
        settle_heap()
        try:
            if settings.inline_worker:
                async with queue.inline_worker(jobs.make_app(url, settings)):
                    yield
            else:
                yield
        finally:
            await engine.dispose()

    problem_plugin = ProblemDetailsPlugin(
        ProblemDetailsConfig(
            exception_to_problem_detail_map={
                DoorstepError: _from_domain,
                HTTPException: _from_http,
                SyncError: _from_sync,
            }
        )
    )
    app = Litestar(
        route_handlers=[
            health,
            ready,
            auth_router,
            cases_router,
            students_router,
            visits_router,
            conflicts_router,
            dashboard,
            reports,
            referrals_router,
            sync_router,
            uploads_router,
            photos_router,
            rules_router,
            resources_router,
            letters_router,
            roster_import,
            calendar_import,
            school_calendar,
            school_years,
            attendance_import,
            api_docs.assets_router(),
            audit_router,
            console.console_router(settings),
            app_shell.router(),
            create_static_files_router(
                path="/console/static", directories=[console_pages.STATIC], opt=PUBLIC, include_in_schema=False
            ),
        ],
        dependencies={
            "db": Provide(dbmod.provide_db),
            "settings": Provide(_settings_provider(settings), use_cache=True, sync_to_thread=False),
        },
        guards=[role_guard],
        middleware=[
            logmod.request_context_middleware,
            # At most max_in_flight requests at once per worker, else a quick 503 (server/overload.py).
            overload.middleware(settings),
            dbmod.close_sessions_middleware,
            query_guard_middleware,
            # Login and refresh limits: in PostgreSQL, shared by every worker (server/auth/throttle.py).
            BearerAuthMiddleware,
        ],
        # nosniff, Referrer-Policy, frame protection and the pages' CSP on every answer (server/security.py).
        before_send=[logmod.before_send, security.before_send],
        plugins=[problem_plugin],
        exception_handlers={Exception: _internal_error},
        openapi_config=OpenAPIConfig(
            title="Doorstep",
            version="1",
            path="/schema",
            openapi_router=Router(
                path="/schema",
                route_handlers=[],
                opt=PUBLIC,
                include_in_schema=False,
                middleware=[security.docs_page_policy],  # Swagger UI's inline start script, by hash
            ),
            render_plugins=[api_docs.render_plugin()],
        ),
        template_config=TemplateConfig(
            directory=console_pages.TEMPLATES,
            engine=JinjaTemplateEngine,
            engine_callback=console_pages.time_filters(settings),
        ),
        request_max_body_size=settings.max_body_bytes,
        request_class=DoorstepRequest,
        lifespan=[lifespan],
        debug=False,
        experimental_features=list[ExperimentalFeatures](),
    )
    api_doc.describe(app)
    app.state.settings = settings
    app.state.blobs = Blobs.from_settings(settings)
    if session_factory is not None:
        app.state.session_factory = session_factory
    return app
