"""The browsable API docs at ``/schema``, served entirely by Doorstep: no CDN, no font service.

Swagger UI's assets come from the ``swagger-ui-bundle-v2`` package (installed by name, never
copied into the repository) and are served under ``/schema/assets``; the page itself is
Litestar's Swagger UI page pointed at them, with no favicon fetched from elsewhere. A district's
network, or a laptop with no internet, shows the same docs.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from server.auth.guards import PUBLIC

ASSETS = "/schema/assets"
NO_FAVICON = "<link rel='icon' href='data:,'>"


def render_plugin() -> SwaggerRenderPlugin:
    return SwaggerRenderPlugin(
        path="/",
        js_url=f"{ASSETS}/swagger-ui-bundle.js",
        css_url=f"{ASSETS}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
        favicon=NO_FAVICON,
    )


def assets_router() -> Router:
    return create_static_files_router(
        path=ASSETS, directories=[Path(str(swagger_ui_path))], opt=PUBLIC, include_in_schema=False, name="api-docs"
    )
