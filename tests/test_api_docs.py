"""``/schema`` works offline (issue 10): the page and everything it loads come from Doorstep."""

from __future__ import annotations

import re

from tests.helpers import Client

_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


async def test_the_docs_page_loads_nothing_from_outside(client: Client) -> None:
    page = await client.get("/schema")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    urls = _URL.findall(page.text)
    assert urls, "the page loads its assets"
    outside = [u for u in urls if "//" in u and not u.startswith("data:")]
    assert outside == [], f"the docs page reaches outside Doorstep: {outside}"
    for url in (u for u in urls if not u.startswith("data:")):
        asset = await client.get(url)  # served by Doorstep itself, without a token
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
    assert "SwaggerUIBundle(" in page.text and '"openapi":"3.1' in page.text.replace(" ", "")
