"""The request edge's checks on input no schema can express, in one place for every route.

- A JSON route (any ``POST``, ``PUT`` or ``PATCH`` whose handler does not declare another body
  with ``opt={BODY: ...}``) takes ``application/json`` (or ``application/*+json``) only: 415.
- Its body must be UTF-8, nested at most ``MAX_JSON_DEPTH`` deep, and no string in it may hold a
  NUL character (PostgreSQL text cannot store one): 400 ``malformed``, naming the field path.
- A query string may not carry a NUL (``%00``): 400 ``malformed``, naming the parameter; nor may a
  console form (``BODY: FORM``) in any field.

Sync routes declare ``BODY: SYNC``: their content type is checked here, and the rest by the sync
engine per mutation, so one bad mutation is that mutation's rejection, never a refusal of the
whole push that would leave the phone's queue stuck behind it.
"""

from __future__ import annotations

import itertools
import re
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar import Request

from schemas.text import NUL, NUL_ESCAPE, nul_path
from server.errors import DoorstepError, InvalidInput

BODY = "body"
JSON, SYNC, RAW, FORM = "json", "sync", "raw", "form"
"""``FORM``: the console's HTML forms (``application/x-www-form-urlencoded``), decoded by Litestar."""
MAX_JSON_DEPTH = 32
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class UnsupportedMediaType(DoorstepError):
    status, code, title = 415, "unsupported_media_type", "Send JSON (Content-Type: application/json)"


def json_depth(body: bytes) -> int:
    """How deep the JSON text nests (0 for a scalar); strings are skipped, so brackets in them
    do not count. Cheap for ordinary bodies: only one with many brackets is scanned."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return 0
    bare = _STRING.sub(b"", body)
    steps = (_STEP.get(c, 0) for c in bare)
    return max(itertools.accumulate(steps, initial=0))


def check_json_body(body: bytes) -> None:
    """Refuse a JSON body that is not UTF-8, nests too deep or holds a NUL in a string."""
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidInput(f"The body is not UTF-8 (byte {e.start} cannot be read)") from e
    if json_depth(body) > MAX_JSON_DEPTH:
        raise InvalidInput(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if NUL_ESCAPE in body:
        try:
            path = nul_path(msgspec.json.decode(body))
        except (msgspec.DecodeError, RecursionError):
            return  # not JSON at all: the route's decoder says where
        if path is not None:
            raise InvalidInput(f"A NUL character (U+0000) is not allowed in text - at `{path}`")


class NulInForm(InvalidInput):
    """A form field holding a NUL: the console says which field, on its own error page."""


def check_form_body(body: bytes) -> None:
    """Refuse a url-encoded form whose field names or values carry a NUL (``%00`` or the raw byte)."""
    if b"%00" not in body and b"\x00" not in body:
        return
    for name, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
        if NUL in name or NUL in value:
            raise NulInForm(f"A NUL character (U+0000) is not allowed in text - in form field {name.strip(NUL)!r}")


def is_json(content_type: str) -> bool:
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class DoorstepRequest(Request[Any, Any, Any]):
    """Every route's request: the body is checked once, when first read."""

    async def body(self) -> bytes:
        body = await super().body()
        if body and self.method in BODY_METHODS and not self.scope.get("doorstep.body_checked"):
            kind = self.route_handler.opt.get(BODY, JSON)
            if kind in (JSON, SYNC) and not is_json(self.headers.get("content-type", "")):
                raise UnsupportedMediaType(
                    f"This route takes JSON; the request's Content-Type is "
                    f"{self.headers.get('content-type') or 'missing'!r}"
                )
            if kind == JSON:
                check_json_body(body)
            elif kind == FORM:
                check_form_body(body)
            self.scope["doorstep.body_checked"] = True  # type: ignore[typeddict-unknown-key]
        return body


def query_guard_middleware(app: Any) -> Any:
    """ASGI middleware refusing a query string that carries a NUL, naming the parameter."""

    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        raw: bytes = scope.get("query_string", b"") if scope.get("type") == "http" else b""
        if b"%00" in raw:
            for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
                if NUL in name or NUL in value:
                    raise InvalidInput(f"A NUL character (U+0000) is not allowed - in query parameter {name!r}")
        await app(scope, receive, send)

    return middleware
