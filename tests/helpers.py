"""Small helpers shared by the tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import PASSWORD

Client = httpx.AsyncClient


def device(device_id: uuid.UUID | None = None, **fields: str) -> dict[str, Any]:
    return {
        "id": str(device_id or uuid.uuid4()),
        "name": fields.get("name", "Test phone"),
        "platform": fields.get("platform", "android"),
        "app_version": fields.get("app_version", "1.0.0"),
    }


async def login(
    client: Client, username: str, *, device_id: uuid.UUID | None = None, password: str = PASSWORD
) -> dict[str, Any]:
    response = await client.post(
        "/auth/login", json={"username": username, "password": password, "device": device(device_id)}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}
