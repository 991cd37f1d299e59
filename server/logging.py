"""Structured logs (structlog) with a request id bound to every line of a request."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import structlog

REQUEST_ID_HEADER = "x-request-id"


def configure(level: str = "INFO", json: bool = True) -> None:
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        # A line and its newline in one write(): several worker processes share one stdout, and
        # print() (structlog's default) wrote them apart when Python runs unbuffered
        # (PYTHONUNBUFFERED, as in most containers), so two workers' lines ran together.
        logger_factory=structlog.WriteLoggerFactory(),
        cache_logger_on_first_use=False,
    )


def request_id_of(scope: Any) -> str | None:
    rid: str | None = scope.get("state", {}).get("request_id")
    return rid


def request_context_middleware(app: Any) -> Any:
    """Give each request an id (the caller's ``X-Request-ID`` if sane) bound to its log lines."""

    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["started"] = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await app(scope, receive, send)

    return middleware


async def before_send(message: Any, scope: Any) -> None:
    """Echo the request id and log one line per response, errors from any layer included."""
    if message["type"] != "http.response.start":
        return
    state = scope.get("state", {})
    request_id = state.get("request_id")
    if request_id is None:
        return
    message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER.encode(), request_id.encode())]
    structlog.get_logger("doorstep.http").info(
        "request",
        request_id=request_id,
        method=scope.get("method"),
        path=scope.get("path"),
        status=message["status"],
        ms=round((time.perf_counter() - state.get("started", time.perf_counter())) * 1000, 1),
    )
