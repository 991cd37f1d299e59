"""The console at /console: sign-in in a session cookie, CSRF on every form, and the Cases pages
through the same service and scope as ``GET /cases`` (out of scope is the 404 page, audited)."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from server import audit
from server.console.session import COOKIE, CSRF_COOKIE
from tests import factories as f
from tests.conftest import PASSWORD


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert found, "the form carries no CSRF token"
    return found.group(1)


async def _sign_in(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    page = await client.get("/console/sign-in")
    form = {"username": username, "password": password, "_csrf_token": _csrf(page)}
    return await client.post("/console/sign-in", data=form)


def _labels_cover_inputs(html: str) -> None:
    """Every visible input has a ``<label for>`` naming it."""
    labelled = set(re.findall(r'<label for="([^"]+)"', html))
    for tag in re.findall(r"<input[^>]*>", html):
        if 'type="hidden"' in tag:
            continue
        found = re.search(r'id="([^"]+)"', tag)
        assert found and found.group(1) in labelled, f"input without a label: {tag}"


async def test_sign_in_sets_a_session_cookie_and_opens_the_cases(client: httpx.AsyncClient) -> None:
    response = await _sign_in(client, "cm1")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/cases"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}="))
    flags = cookie.lower()
    assert "httponly" in flags and "samesite=lax" in flags and "path=/console" in flags
    assert "secure" not in flags  # served over http here
    page = await client.get("/console/cases")
    assert page.status_code == 200
    assert "Sign out" in page.text and "Cases" in page.text


async def test_the_session_cookie_is_secure_over_https(app: object) -> None:
    from typing import Any, cast

    transport = httpx.ASGITransport(app=cast(Any, app))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        response = await _sign_in(client, "cm1")
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}="))
    assert "secure" in cookie.lower()


async def test_a_wrong_password_is_refused_and_sets_no_session(client: httpx.AsyncClient) -> None:
    response = await _sign_in(client, "cm1", "not the password")
    assert response.status_code == 401
    assert "do not match" in response.text
    assert COOKIE not in client.cookies
    assert (await client.get("/console/cases")).status_code == 303


async def test_pages_without_a_session_go_to_sign_in(client: httpx.AsyncClient) -> None:
    for path in ("/console", "/console/cases", f"/console/cases/{uuid.uuid4()}", "/console/approvals"):
        response = await client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/console/sign-in"


async def test_a_bearer_token_is_not_a_console_session(client: httpx.AsyncClient) -> None:
    from tests.helpers import bearer, login

    tokens = await login(client, "cm1")
    response = await client.get("/console/cases", headers=bearer(tokens))
    assert response.status_code == 303


async def test_the_session_token_is_not_a_bearer_token(client: httpx.AsyncClient) -> None:
    await _sign_in(client, "cm1")
    token = client.cookies[COOKIE]
    client.cookies.delete(COOKIE)
    response = await client.get("/cases", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


async def test_a_forged_cookie_is_no_session(client: httpx.AsyncClient) -> None:
    client.cookies.set(COOKIE, "forged.token.value", path="/console")
    assert (await client.get("/console/cases")).status_code == 303


async def test_sign_out_ends_the_session_even_for_a_copied_cookie(client: httpx.AsyncClient) -> None:
    await _sign_in(client, "cm1")
    copied = client.cookies[COOKIE]
    page = await client.get("/console/cases")
    response = await client.post("/console/sign-out", data={"_csrf_token": _csrf(page)})
    assert response.status_code == 303
    assert response.headers["location"] == "/console/sign-in"
    assert (await client.get("/console/cases")).status_code == 303
    client.cookies.set(COOKIE, copied, path="/console")
    assert (await client.get("/console/cases")).status_code == 303


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await client.get("/console/sign-in")
    refused = await client.post("/console/sign-in", data={"username": "cm1", "password": PASSWORD})
    assert refused.status_code == 403
    assert COOKIE not in client.cookies
    forged = await client.post(
        "/console/sign-in", data={"username": "cm1", "password": PASSWORD, "_csrf_token": "forged"}
    )
    assert forged.status_code == 403
    assert COOKIE not in client.cookies

    await _sign_in(client, "cm1")
    assert (await client.post("/console/sign-out", data={})).status_code == 403
    assert (await client.get("/console/cases")).status_code == 200  # still signed in
    client.cookies.delete(CSRF_COOKIE)
    assert (await client.post("/console/sign-out", data={"_csrf_token": "x"})).status_code == 403
    assert (await client.get("/console/cases")).status_code == 200


async def test_a_case_manager_sees_her_case_and_not_another_teams(client: httpx.AsyncClient, db: AsyncSession) -> None:
    north, south = await f.school(db, "North"), await f.school(db, "South")
    cm1, cm5 = await f.user_id(db, "cm1"), await f.user_id(db, "cm5")
    mine = await f.case(db, await f.student(db, north, first_name="Ana", last_name="Mine"), manager=cm1)
    theirs = await f.case(db, await f.student(db, south, first_name="Bo", last_name="Theirs"), manager=cm5)
    await db.commit()
    await _sign_in(client, "cm1")

    listing = await client.get("/console/cases")
    assert f"/console/cases/{mine.id}" in listing.text and "Mine, Ana" in listing.text
    assert str(theirs.id) not in listing.text and "Theirs" not in listing.text

    page = await client.get(f"/console/cases/{mine.id}")
    assert page.status_code == 200
    for heading in ("Household", "Truancy", "Contact attempts", "Letters", "Visits", "Notes", "Follow-ups"):
        assert f">{heading}</h2>" in page.text
    assert [e.action for e in await audit.entries_for(db, "case", mine.id)][-2:] == ["case.read", "letter.list"]

    hidden = await client.get(f"/console/cases/{theirs.id}")
    assert hidden.status_code == 404
    assert "Theirs" not in hidden.text
    assert "case.read_refused" in [e.action for e in await audit.entries_for(db, "case", theirs.id)]


async def test_the_case_list_pages_with_the_api_cursor(client: httpx.AsyncClient, db: AsyncSession) -> None:
    school = await f.school(db, "North")
    cm1 = await f.user_id(db, "cm1")
    made = [await f.case(db, await f.student(db, school), manager=cm1) for _ in range(30)]
    await db.commit()
    await _sign_in(client, "cm1")
    seen: list[str] = []
    url: str | None = "/console/cases"
    while url:
        page = await client.get(url)
        assert page.status_code == 200
        seen += re.findall(r'href="/console/cases/([0-9a-f-]{36})"', page.text)
        found = re.search(r'<a rel="next" href="([^"]+)">Next</a>', page.text)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert len(seen) == len(set(seen)) == 30
    assert set(seen) == {str(c.id) for c in made}


async def test_a_bad_cursor_is_a_plain_400_page(client: httpx.AsyncClient) -> None:
    await _sign_in(client, "cm1")
    response = await client.get("/console/cases", params={"cursor": "not-a-cursor!"})
    assert response.status_code == 400
    assert "text/html" in response.headers["content-type"]


async def test_navigation_shows_only_what_the_role_uses(client: httpx.AsyncClient) -> None:
    await _sign_in(client, "cm1")
    page = (await client.get("/console/cases")).text
    assert ">Cases</a>" in page
    for hidden in ("Approvals", "Conflicts", "Truant students", "Dashboard", "Reports"):
        assert f">{hidden}</a>" not in page
    forbidden = await client.get("/console/approvals")
    assert forbidden.status_code == 403
    assert "text/html" in forbidden.headers["content-type"]


@pytest.mark.parametrize(
    ("username", "sections"),
    [
        ("sup1", ["Approvals", "Conflicts", "Cases", "Dashboard", "Reports"]),
        ("office1", ["Approvals", "Conflicts", "Cases", "Imports", "Resources", "Letters", "Dashboard", "Reports"]),
        ("counselor1", ["Truant students", "Cases"]),
        ("cm1", ["Cases"]),
        (
            "admin",
            [
                "Approvals",
                "Conflicts",
                "Truant students",
                "Cases",
                "Imports",
                "Resources",
                "Letters",
                "Dashboard",
                "Reports",
            ],
        ),
    ],
)
async def test_each_role_sees_its_sections_and_each_one_is_a_page(
    client: httpx.AsyncClient, username: str, sections: list[str]
) -> None:
    await _sign_in(client, username)
    page = (await client.get("/console/cases")).text
    links = re.findall(r'<nav aria-label="Console sections">.*?</nav>', page, re.S)[0]
    assert re.findall(r'<a href="[^"]+"[^>]*>([^<]+)</a>', links) == sections
    for path in re.findall(r'<a href="(/console/[^"]+)"', links):
        answer = await client.get(path)
        assert answer.status_code == 200, path
        assert "not built yet" not in answer.text, path


async def test_every_page_labels_its_inputs_and_has_a_skip_link(client: httpx.AsyncClient, db: AsyncSession) -> None:
    school = await f.school(db, "North")
    case = await f.case(db, await f.student(db, school), manager=await f.user_id(db, "cm1"))
    await db.commit()
    pages = [await client.get("/console/sign-in")]
    await _sign_in(client, "cm1")
    pages += [await client.get(p) for p in ("/console", "/console/cases", f"/console/cases/{case.id}")]
    for page in pages:
        assert page.status_code == 200
        assert 'href="#main"' in page.text
        _labels_cover_inputs(page.text)


async def test_the_stylesheet_is_served_by_doorstep(client: httpx.AsyncClient) -> None:
    response = await client.get("/console/static/console.css")
    assert response.status_code == 200
    assert "text/css" in response.headers["content-type"]
