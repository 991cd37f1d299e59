"""The field app's shell at /app (server/app_shell/): public static files, a service worker that
caches every one of them under a name that changes with their contents, within its size budget,
and speaking only the public protocol."""

from __future__ import annotations

import gzip
import re

import httpx

from server.app_shell import STATIC, shell_files, shell_hash

BUDGET = 150 * 1024  # the whole shell, gzip-compressed (issue 13)
API_PATHS = {"/auth/login", "/auth/refresh", "/users/me", "/sync/push", "/sync/pull", "/uploads"}
"""Every server path the app's code names: the public protocol and tus, nothing made for it."""


def test_the_service_worker_caches_every_shell_file_under_a_name_that_follows_their_contents() -> None:
    sw = (STATIC / "sw.js").read_text()
    listed = set(re.findall(r'^  "([^"]+)",$', sw, re.MULTILINE))
    files = {p.relative_to(STATIC).as_posix() for p in shell_files()} - {"index.html"}
    assert listed == files | {"./"}
    (found,) = re.findall(r'const SHELL_HASH = "([0-9a-f]+)";', sw)
    assert found == shell_hash(), "a shell file changed: run scripts/app-shell"


def test_the_shell_is_under_its_compressed_budget() -> None:
    total = sum(len(gzip.compress(p.read_bytes(), 9)) for p in [*shell_files(), STATIC / "sw.js"])
    assert total < BUDGET, total


def test_the_app_names_only_public_api_paths() -> None:
    named: set[str] = set()
    for path in (STATIC / "js").glob("*.js"):
        named |= set(
            re.findall(r'"(/(?:auth|users|sync|uploads|cases|visits|students|form-photos)[^"]*)"', path.read_text())
        )
    assert named == API_PATHS


async def test_the_shell_is_served_without_a_token(client: httpx.AsyncClient) -> None:
    root = await client.get("/app")
    assert (root.status_code, root.headers["location"]) == (308, "/app/")
    index = await client.get("/app/")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="js/app.js">' in index.text
    assert "no-cache" in index.headers["cache-control"]
    module = await client.get("/app/js/app.js")
    assert module.status_code == 200
    assert "javascript" in module.headers["content-type"]
    manifest = await client.get("/app/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    assert manifest.json()["start_url"] == "/app/"
    assert (await client.get("/app/sw.js")).status_code == 200
    assert (await client.get("/app/nothing-here.js")).status_code == 404
