"""Hostile input at the request edge (issue 9, findings 4 and 8): a NUL in any string, a body
that is not UTF-8, JSON nested absurdly deep, a NUL in a query string, a body that is not JSON.
Each used to reach PostgreSQL or the decoder's stack and answer 500; each is now a 400 (or 415)
problem document that names the field, on public routes too."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests import factories as f
from tests.conftest import PASSWORD
from tests.helpers import Client, bearer, device, login


def _login(username: str = "cm1", name: str = "Test phone") -> dict[str, Any]:
    return {"username": username, "password": PASSWORD, "device": device(name=name)}


def _problem(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code
    detail: str = body["detail"]
    return detail


async def test_a_nul_in_the_login_username_or_device_name_is_400_naming_the_field(client: Client) -> None:
    detail = _problem(await client.post("/auth/login", json=_login("cm\u00001")), 400, "malformed")
    assert "`$.username`" in detail
    detail = _problem(await client.post("/auth/login", json=_login(name="my\u0000phone")), 400, "malformed")
    assert "`$.device.name`" in detail
    # the escape as text (a backslash, then u0000) is no NUL: an ordinary failed login
    literal = await client.post("/auth/login", json=_login("cm\\u00001"))
    assert literal.status_code == 401


async def test_a_body_that_is_not_utf8_is_400(client: Client) -> None:
    body = b'{"username": "cm\xff1", "password": "x", "device": {"id": "6f9619ff-8b86-d011-b42d-00c04fc964ff"}}'
    response = await client.post("/auth/login", content=body, headers={"content-type": "application/json"})
    assert "UTF-8" in _problem(response, 400, "malformed")


@pytest.mark.parametrize("depth", [33, 1_000, 100_000])
async def test_json_nested_too_deep_is_400(client: Client, depth: int) -> None:
    body = b'{"username": "cm1", "password": "x", "device": ' + b"[" * depth + b"]" * depth + b"}"
    response = await client.post("/auth/login", content=body, headers={"content-type": "application/json"})
    assert "nested deeper than 32" in _problem(response, 400, "malformed")


async def test_brackets_inside_strings_do_not_count_as_nesting(client: Client) -> None:
    response = await client.post("/auth/login", json=_login(name="[" * 60 + '{"' * 30))
    assert response.status_code == 200, response.text


async def test_a_nul_in_a_query_string_is_400_naming_the_parameter(client: Client) -> None:
    tokens = await login(client, "office1")
    response = await client.get("/students", params={"student_number": "S\u00001"}, headers=bearer(tokens))
    assert "student_number" in _problem(response, 400, "malformed")


async def test_json_routes_refuse_another_content_type_with_415(client: Client) -> None:
    response = await client.post("/auth/login", content=b"username=cm1", headers={"content-type": "text/plain"})
    _problem(response, 415, "unsupported_media_type")
    missing = await client.post("/auth/login", content=b'{"username": "cm1"}')
    _problem(missing, 415, "unsupported_media_type")
    charset = await client.post(
        "/auth/login",
        content=__import__("json").dumps(_login()).encode(),
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert charset.status_code == 200


async def test_a_nul_in_case_texts_is_400_and_nothing_is_written(client: Client, db: AsyncSession) -> None:
    kid = await f.student(db, await f.school(db))
    case = await f.case(db, kid, manager=await f.user_id(db, "cm1"))
    await db.commit()
    tokens = await login(client, "cm1")
    cases = f"/cases/{case.id}"
    follow_up = {"title": "call\u0000back", "due_on": "2026-01-05"}
    referral = {"resource": "food bank", "referred_on": "2026-01-05", "note": "\u0000"}
    transition = {"status": "closed", "outcome": "improved", "reason": "done\u0000"}
    for path, body, field in (
        ("/follow-ups", follow_up, "$.title"),
        ("/service-referrals", referral, "$.note"),
        ("/transition", transition, "$.reason"),
    ):
        response = await client.post(cases + path, json=body, headers=bearer(tokens))
        assert f"`{field}`" in _problem(response, 400, "malformed"), path
    detail = (await client.get(cases, headers=bearer(tokens))).json()
    assert (detail["follow_ups"], detail["service_referrals"], detail["case"]["status"]) == ([], [], "assigned")
