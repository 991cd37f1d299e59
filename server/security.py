"""The security headers of every answer, set in one place (``before_send``, registered by
``server/app.py``), so no route has to remember them.

Every answer (pages, the API's JSON and problem details, static files, PDFs, photo files, a
routing 404) carries:

- ``X-Content-Type-Options: nosniff``: a browser never runs an answer as a script or a page
  other than its declared type (a photo file or a JSON body stays data);
- ``Referrer-Policy: same-origin``: no case page's address (it names a case id) leaves for
  another site;
- ``X-Frame-Options: DENY``: no site frames a console page to trick a supervisor into pressing
  Approve, Return or Resolve (old browsers; current ones read ``frame-ancestors``).

An HTML answer also carries ``PAGE_POLICY``, a Content-Security-Policy with no inline script and
no inline style: if a template ever stops escaping, an injected ``<script>`` or ``onclick`` does
not run. The console's pages have no script; the field app's are ES modules from ``/app/js``; the
styles are the CSS files. The API docs page (``/schema``) is Litestar's Swagger UI page, whose
start script (the API's own description and ``SwaggerUIBundle(…)``) and one ``<style>`` are
inline: ``docs_page_policy`` allows exactly those, by their sha256. Its assets are Doorstep's own (server/api_docs.py).

The headers are set, not added: a route that set one itself would still send it once (none does).
An answer that brings its own Content-Security-Policy keeps it (only the docs page does, and
tests/test_security_headers.py reads every page's).
"""

from __future__ import annotations

import base64
import hashlib
import re

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

EVERY_ANSWER = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

_POLICY_REST = "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

PAGE_POLICY = f"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; {_POLICY_REST}"
"""Every HTML page's Content-Security-Policy. ``data:`` images because the console's and the docs'
empty favicon is ``<link rel="icon" href="data:,">`` (it stops a request for /favicon.ico;
Firefox checks a favicon against ``img-src``) and Swagger UI's CSS draws its icons as ``data:``
SVGs; an image runs nothing."""

CSP = "Content-Security-Policy"

_INLINE = re.compile(rb"<(script|style)\b([^>]*)>(.*?)</\1\s*>", re.IGNORECASE | re.DOTALL)
_SRC = re.compile(rb"\bsrc\s*=", re.IGNORECASE)


def _is_html(headers: MutableScopeHeaders) -> bool:
    return (headers.get("content-type") or "").lower().startswith("text/html")


async def before_send(message: Message, scope: Scope) -> None:
    """Set the headers on every answer's start (errors from any layer included: this hook wraps
    the app's ``send``, outside routing and exception handling)."""
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    for name, value in EVERY_ANSWER.items():
        headers[name] = value
    if _is_html(headers) and CSP not in headers:
        headers[CSP] = PAGE_POLICY


def _sha256(text: bytes) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text).digest()).decode() + "'"


def inline_policy(page: bytes) -> str:
    """``PAGE_POLICY`` widened by the hashes of ``page``'s own inline scripts and styles. Only for
    pages Doorstep writes itself from no request's data (the API docs): hashing a page that echoed
    input would allow the very script the policy is there to stop."""
    scripts, styles = [], []
    for found in _INLINE.finditer(page):
        kind, attributes, body = found.groups()
        if kind.lower() == b"script" and not _SRC.search(attributes):
            scripts.append(_sha256(body))
        elif kind.lower() == b"style":
            styles.append(_sha256(body))
    script_src = " ".join(["'self'", *sorted(set(scripts))])
    style_src = " ".join(["'self'", *sorted(set(styles))])
    return PAGE_POLICY.replace("script-src 'self'", f"script-src {script_src}").replace(
        "style-src 'self'", f"style-src {style_src}"
    )


def docs_page_policy(app: ASGIApp) -> ASGIApp:
    """Middleware for the API docs' routes (``/schema``): an HTML answer is held until its body is
    whole, then sent with ``inline_policy`` of that body. Other answers pass as they are."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def held(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and _is_html(MutableScopeHeaders.from_message(message)):
                start = message
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            MutableScopeHeaders.from_message(start)[CSP] = inline_policy(body)
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await app(scope, receive, held)

    return middleware
