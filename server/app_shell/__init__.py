"""The field app: an installable, offline-first web app for case managers, served at ``/app``.

Static files only (``static/``: an HTML shell, a web manifest, a service worker and plain ES
modules, no build step). The app logs in and syncs like any phone, with the API's bearer tokens
and the public protocol (docs/protocol.md, tus for photos): no route exists for it alone. The
routes here are public, as the files hold no data.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from pathlib import Path
from typing import Any

from litestar import Request, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.response import File, Redirect
from litestar.static_files import create_static_files_router

from server.auth.guards import PUBLIC

STATIC = Path(__file__).parent / "static"
mimetypes.add_type("application/manifest+json", ".webmanifest")
mimetypes.add_type("text/javascript", ".js")


def shell_files() -> list[Path]:
    """Every file the service worker caches (all but itself)."""
    return sorted(p for p in STATIC.rglob("*") if p.is_file() and p.name != "sw.js")


def shell_hash() -> str:
    """The first 12 hex digits of the sha256 of the shell's files (names and bytes): ``sw.js``
    names its cache with it, so any change to the shell installs a new one."""
    digest = hashlib.sha256()
    for path in shell_files():
        digest.update(path.relative_to(STATIC).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def stamp() -> bool:
    """Write the shell's hash into ``sw.js`` (``scripts/app-shell``); answers whether it changed."""
    sw = STATIC / "sw.js"
    text = sw.read_text()
    new = re.sub(r'const SHELL_HASH = "[0-9a-f]*";', f'const SHELL_HASH = "{shell_hash()}";', text)
    sw.write_text(new)
    return new != text


@get("/app", opt=PUBLIC, include_in_schema=False, cache_control=CacheControlHeader(no_cache=True))
async def app_root(request: Request[Any, Any, Any]) -> Redirect | File:
    """The shell at ``/app/``; ``/app`` redirects there (the service worker's scope is the folder,
    and the page's relative links resolve in it). Routing ignores a trailing slash, so it is read
    from the raw path."""
    if not request.scope.get("raw_path", b"").endswith(b"/"):
        return Redirect("/app/", status_code=308)
    return File(STATIC / "index.html", content_disposition_type="inline", media_type="text/html; charset=utf-8")


def router() -> Router:
    # ``no-cache``: the browser revalidates each file (an ETag); the service worker serves them offline.
    files = create_static_files_router(
        path="/app",
        directories=[STATIC],
        opt=PUBLIC,
        include_in_schema=False,
        name="app_shell",
        cache_control=CacheControlHeader(no_cache=True),
    )
    return Router(path="/", route_handlers=[app_root, files], opt=PUBLIC, include_in_schema=False)
