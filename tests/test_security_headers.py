"""The security headers (server/security.py) on every answer the app gives: each GET route
without a path parameter (walked from the app, as tests/test_authz_matrix.py walks it), signed
in as each role and not signed in; every static file (the console's, the field app's, the API
docs' assets); and answers with parameters: a case page, a letter's PDF (the API's and the
console's), a form photo's file and thumbnail (streamed), a 404 page and a problem.

Every answer carries nosniff, a Referrer-Policy and X-Frame-Options, each once; every HTML
answer a Content-Security-Policy with no inline script, no inline style and no framing. The
district is tests/test_letters.py's ``world`` (a letter is made, and its PDF read, at once)."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from litestar.types import Message, Receive, Scope, Send
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from schemas.auth import Role
from server import app_shell, security
from server.audit import Actor
from server.auth import service as auth
from server.blobs import Blobs
from server.cases.models import Case, FormPhoto
from server.console import pages as console_pages
from server.photos import files
from server.photos.models import PhotoFile
from server.schools.models import CounselorSchool
from tests import test_letters
from tests.conftest import PASSWORD, app_for
from tests.test_authz_matrix import app_routes
from tests.test_console import _sign_in
from tests.test_letters import World

world = test_letters.world
"""tests/test_letters.py's fixture, used here by name."""

EVERY_ANSWER = {"x-content-type-options": "nosniff", "referrer-policy": "same-origin", "x-frame-options": "DENY"}
PAGE_DIRECTIVES = {  # what every HTML page's policy says, the docs page's scripts and style aside
    "default-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
USERS = ("cm", "sup", "office", "admin", "counselor")


def policy(answer: httpx.Response) -> dict[str, list[str]]:
    """The answer's one Content-Security-Policy, by directive."""
    found = answer.headers.get_list("content-security-policy")
    assert len(found) == 1, f"{answer.request.url}: {len(found)} policies"
    directives = (d.split() for d in found[0].split(";") if d.strip())
    return {d[0]: d[1:] for d in directives}


def check(path: str, answer: httpx.Response) -> None:
    for name, value in EVERY_ANSWER.items():
        assert answer.headers.get_list(name) == [value], f"{path} ({answer.status_code}): {name}"
    if not answer.headers.get("content-type", "").startswith("text/html"):
        assert "content-security-policy" not in answer.headers, path
        return
    directives = policy(answer)
    for name, sources in PAGE_DIRECTIVES.items():
        assert directives.get(name) == sources, f"{path}: {name} {directives.get(name)}"
    for name in ("script-src", "style-src"):
        assert directives[name][0] == "'self'", f"{path}: {name}"
        assert all(s.startswith("'sha256-") for s in directives[name][1:]), f"{path}: {name} {directives[name]}"
    if not path.startswith("/schema"):  # only the docs page's own inline start script is allowed
        assert directives["script-src"] == ["'self'"] and directives["style-src"] == ["'self'"], path


def static_paths() -> list[str]:
    """Every file the app serves from a folder: the console's CSS, the field app, Swagger UI."""
    folders = (
        ("/console/static", console_pages.STATIC),
        ("/app", app_shell.STATIC),
        ("/schema/assets", Path(str(swagger_ui_path))),
    )
    return [
        f"{prefix}/{p.relative_to(root).as_posix()}" for prefix, root in folders for p in root.rglob("*") if p.is_file()
    ]


async def _counselor(w: World) -> None:
    """An attendance counselor at Ana's school (the world has none): Refer a student is hers."""
    async with w.factory() as s:
        user = await auth.create_user(
            s, Actor.system(), username="counselor", password=PASSWORD, role=Role.ATTENDANCE_COUNSELOR
        )
        await s.flush()
        case = await s.get(Case, w.ids["case_ana"])
        assert case is not None
        s.add(CounselorSchool(user_id=user.id, school_id=case.school_id))
        await s.commit()


async def _photo(w: World) -> uuid.UUID:
    """A received, processed form photo of Ana's case, its served copy and thumbnail stored."""
    data = b"\xff\xd8\xff\xe0 not really a jpeg"
    sha = hashlib.sha256(data).hexdigest()
    blobs = Blobs.from_settings(w.settings)
    for key in (files.served_key(sha), files.thumb_key(sha)):
        await blobs.put_file(key, io.BytesIO(data))
    photo_id = uuid.uuid4()
    async with w.factory() as s:
        now = datetime.now(UTC).replace(tzinfo=None)
        s.add(PhotoFile(sha256=sha, size=len(data), media_type="image/jpeg", processed_at=now))
        await s.flush()
        s.add(
            FormPhoto(
                id=photo_id,
                case_id=w.ids["case_ana"],
                form_type="consent",
                sha256=sha,
                size=len(data),
                content_type="image/jpeg",
                taken_at=datetime.now(UTC),
                upload_status="received",
            )
        )
        await s.commit()
    return photo_id


async def test_every_answer_carries_the_headers_and_every_page_a_strict_policy(world: World) -> None:
    client = world.client
    app = app_for(world.settings, world.factory)
    plain = sorted(r.split(" ", 1)[1] for r in app_routes(app) if r.startswith("GET ") and "{" not in r)
    office = await world.auth("office")
    letter = await client.post(
        f"/cases/{world.ids['case_ana']}/letters",
        json={"id": str(uuid.uuid4()), "kind": "truancy_notice"},
        headers=office,
    )
    assert letter.status_code == 201, letter.text
    letter_id, case_id, photo_id = letter.json()["id"], world.ids["case_ana"], await _photo(world)
    await _counselor(world)
    at = {
        "app": "/app/",  # the field app's page (``/app`` redirects here)
        "case page": f"/console/cases/{case_id}",
        "404 page": f"/console/cases/{uuid.uuid4()}",
        "referral form": f"/console/referrals/new?student_id={world.ids['ana']}",
        "console PDF": f"/console/letters/{letter_id}/pdf",
        "console thumbnail": f"/console/form-photos/{photo_id}/thumbnail",
        "case": f"/cases/{case_id}",
        "PDF": f"/letters/{letter_id}/pdf",
        "photo file": f"/form-photos/{photo_id}/file",
        "thumbnail": f"/form-photos/{photo_id}/thumbnail",
        "no route": "/no/such/route",
    }
    with_params = list(at.values())
    seen: dict[str, set[tuple[int, str]]] = {}

    async def read(path: str, headers: dict[str, str] | None = None) -> None:
        answer = await client.get(path, headers=headers)
        check(path, answer)
        seen.setdefault(path, set()).add((answer.status_code, answer.headers.get("content-type", "").split(";")[0]))

    for path in plain + static_paths() + with_params:  # not signed in: redirects, 401s, public files
        await read(path)
    for username in USERS:
        client.cookies.clear()
        signed_in = await _sign_in(client, username)
        assert signed_in.status_code == 303, signed_in.text
        check("/console/sign-in (POST)", signed_in)
        bearer = await world.auth(username)
        for path in plain + with_params:
            await read(path, bearer)

    pages = {p for p, answers in seen.items() if (200, "text/html") in answers}
    console = {
        p for p in plain if p.startswith("/console/") and p not in ("/console/sign-in", "/console/referrals/new")
    }
    assert console - pages == set(), "every console page was read as a page by some role"
    assert {"/app/", "/schema", "/console/sign-in", at["case page"], at["referral form"]} <= pages
    assert (404, "text/html") in seen[at["404 page"]]
    for name in ("PDF", "console PDF"):  # built by server/letters/responses.py
        assert (200, "application/pdf") in seen[at[name]], name
    for name in ("photo file", "thumbnail", "console thumbnail"):  # streamed answers
        assert (200, "image/jpeg") in seen[at[name]], name
    assert (404, "application/problem+json") in seen[at["no route"]]  # routing's own answer
    assert (401, "application/problem+json") in seen["/cases"]
    statics = static_paths()
    assert len(statics) > 30 and all(any(status == 200 for status, _ in seen[p]) for p in statics)


_INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
_INLINE_STYLE = re.compile(r"<style\b|\sstyle\s*=|\son[a-z]+\s*=", re.IGNORECASE)


async def test_no_page_has_an_inline_script_style_or_handler_for_the_policy_to_refuse(world: World) -> None:
    """What the policy would refuse in a browser (the browser tests fail on any refusal too)."""
    client = world.client
    await _sign_in(client, "office")
    pages = [
        "/app/",
        "/console/cases",
        "/console/dashboard",
        "/console/letters",
        "/console/reports",
        "/console/resources",
        f"/console/cases/{world.ids['case_ana']}",
    ]
    for path in pages:
        page = await client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), path
        assert _INLINE_SCRIPT.findall(page.text) == [], path
        assert _INLINE_STYLE.findall(page.text) == [], path
    client.cookies.clear()
    sign_in = await client.get("/console/sign-in")
    assert _INLINE_SCRIPT.findall(sign_in.text) == _INLINE_STYLE.findall(sign_in.text) == []


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


async def test_the_docs_page_allows_its_own_inline_script_and_style_by_hash_and_nothing_else(world: World) -> None:
    page = await world.client.get("/schema")
    assert page.status_code == 200
    scripts = re.findall(r"<script type='text/javascript'>(.*?)</script>", page.text, re.DOTALL)
    styles = re.findall(r"<style>(.*?)</style>", page.text, re.DOTALL)
    assert len(scripts) == 1 and "SwaggerUIBundle(" in scripts[0] and len(styles) == 1
    directives = policy(page)
    assert directives["script-src"] == ["'self'", _hash(scripts[0])]
    assert directives["style-src"] == ["'self'", _hash(styles[0])]


def test_the_policy_of_a_page_hashes_only_its_inline_scripts_and_styles() -> None:
    page = b"<script src='/a.js'></script><SCRIPT>run()</SCRIPT><style>p{}</style><script>run()</script>"
    directives = dict(d.split(" ", 1) for d in security.inline_policy(page).split("; "))
    assert directives["script-src"] == f"'self' {_hash('run()')}"
    assert directives["style-src"] == f"'self' {_hash('p{}')}"
    assert directives["frame-ancestors"] == "'none'"


async def test_the_docs_policy_waits_for_a_page_sent_in_pieces() -> None:
    """A page streamed in several body messages is hashed whole, its start sent once, before it."""
    body = [b"<html><script>one", b"()</script>", b"</html>"]

    async def page(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        for n, chunk in enumerate(body):
            await send({"type": "http.response.body", "body": chunk, "more_body": n < len(body) - 1})

    sent: list[Any] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Any:
        raise AssertionError("nothing to receive")

    scope: Any = {"type": "http"}
    await security.docs_page_policy(page)(scope, receive, send)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[1]["body"] == b"".join(body)
    headers = dict(sent[0]["headers"])
    assert f"script-src 'self' {_hash('one()')};" in headers[b"content-security-policy"].decode()
