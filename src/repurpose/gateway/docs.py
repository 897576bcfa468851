"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), with their scripts and styles served by the gateway.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so they are blank where the browser
cannot reach it (offline, a cluster without egress). The assets come from the pinned package
``fastapi-offline`` (Swagger UI 5's bundle and CSS, ReDoc 2's standalone script, a favicon) and
are served at ``/docs/static``; the pages name them, and ``/openapi.json``, below the root path
(Serve's route prefix), so they work under any prefix and never leave the gateway.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
STATIC_PATH = "/docs/static"
ASSETS = Path(fastapi_offline.__file__).parent / "static"
"""swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js, favicon.png."""


def install_docs(app: FastAPI) -> None:
    """Serve the assets and both pages on ``app`` (made with ``docs_url=None, redoc_url=None``)."""
    app.mount(STATIC_PATH, StaticFiles(directory=ASSETS), name="docs-static")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _root(request)
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{STATIC_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC_PATH}/favicon.png",
        )

    @app.get(REDOC_PATH, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = _root(request)
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{STATIC_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{STATIC_PATH}/favicon.png",
            with_google_fonts=False,  # fonts from Google would be another request that leaves the gateway
        )


def _root(request: Request) -> str:
    root: str = request.scope.get("root_path", "") or ""
    return root.rstrip("/")
