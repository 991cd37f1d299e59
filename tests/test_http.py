"""Health, readiness, problem documents, body limits, request ids, the OpenAPI schema."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from server.app import create_app
from server.db import SessionFactory, create_engine, create_session_factory
from tests.conftest import client_for, make_settings
from tests.helpers import Client, bearer, device, login


async def test_health_answers_without_a_database() -> None:
    dead = create_session_factory(create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none", pool_pre_ping=False))
    app = create_app(make_settings(), session_factory=dead)
    async with client_for(app) as client:
        health = await client.get("/health")
        ready = await client.get("/ready")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert ready.status_code == 503


async def test_ready_answers_when_the_database_does(client: Client) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200


async def test_malformed_body_is_400_with_the_field_path(client: Client) -> None:
    response = await client.post("/auth/login", json={"username": "cm1", "password": "x", "device": {"id": 5}})
    assert response.status_code == 400
    body = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert body["code"] == "malformed"
    assert any(e.get("key") == "device.id" for e in body["errors"]), body


async def test_body_that_is_not_json_is_400(client: Client) -> None:
    response = await client.post("/auth/login", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == "malformed"


async def test_oversized_body_is_413(session_factory: SessionFactory) -> None:
    app = create_app(make_settings(max_body_bytes=1000), session_factory=session_factory)
    async with client_for(app) as client:
        payload = {"username": "cm1", "password": "x" * 5000, "device": device()}
        response = await client.post("/auth/login", json=payload)
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"


async def test_unknown_route_is_a_404_problem(client: Client) -> None:
    response = await client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json() == {
        "status": 404,
        "type": "urn:doorstep:problem:not_found",
        "title": "Not Found",
        "detail": "Not Found",
        "code": "not_found",
    }


async def test_every_response_carries_a_request_id(client: Client) -> None:
    assert len((await client.get("/health")).headers["x-request-id"]) == 32
    assert (await client.get("/users/me")).headers["x-request-id"]
    kept = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert kept.headers["x-request-id"] == "abc-123"


async def test_login_is_rate_limited(session_factory: SessionFactory) -> None:
    app = create_app(make_settings(login_rate_per_minute=3), session_factory=session_factory)
    statuses = []
    async with client_for(app) as client:
        for _ in range(5):
            response = await client.post("/auth/login", json={"username": "x", "password": "y", "device": device()})
            statuses.append(response.status_code)
        other = await client.get("/health")
    assert statuses == [401, 401, 401, 429, 429]
    assert other.status_code == 200


async def test_openapi_schema_is_served(client: Client) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.1")
    assert "/auth/login" in schema["paths"]


async def test_an_authenticated_request_never_hops_to_a_thread(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards and the rate limit's check are coroutines: Litestar runs a plain function in a thread
    pool, a hop to a thread and back (and a wait for the GIL) on every request."""
    tokens = await login(client, "cm1")
    loop = asyncio.get_running_loop()
    hops: list[object] = []
    real = loop.run_in_executor

    def counting(executor: Any, fn: Any, *args: Any) -> Any:
        hops.append(fn)
        return real(executor, fn, *args)

    monkeypatch.setattr(loop, "run_in_executor", counting)
    assert (await client.get("/cases", headers=bearer(tokens))).status_code == 200
    assert (await client.get("/health")).status_code == 200
    assert hops == []
