"""The interactive API documents (Swagger UI at `/docs`, ReDoc at `/redoc`) served from the
installed package, never from a CDN: clinic and insurer networks are closed, and FastAPI's
own pages load their scripts from the internet, so without it they stay blank.

The scripts and styles are those the `fastapi-offline` wheel ships (its `static/` folder:
Swagger UI's bundle and CSS, ReDoc's standalone bundle, a favicon); only those files are
used, mounted here on an application made with `docs_url=None, redoc_url=None`, so each
server keeps building its own `FastAPI` as it does. ReDoc is asked for no web fonts, and both
pages carry a Content-Security-Policy that lets them load nothing but this server's files:
ReDoc's bundle still puts Redocly's logo from Redocly's CDN in its sidebar (unconditionally),
which the policy keeps from being fetched, on a closed network or an open one.
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

STATIC_URL = "/docs-static"
# Where the wheel keeps the files; a missing package fails here, at start-up, not at /docs.
STATIC_DIR = resources.files("fastapi_offline") / "static"
# Swagger UI asks validator.swagger.io to check the document unless told not to.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}
# Only this server: the pages' own inline start-up script and styles, ReDoc's blob: worker,
# the images Swagger UI draws as data: URLs; no other host for anything.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'self'"
)


def install_docs(
    app: FastAPI,
    *,
    docs_url: str = "/docs",
    redoc_url: str = "/redoc",
    static_url: str = STATIC_URL,
) -> None:
    """Serve Swagger UI at `docs_url` and ReDoc at `redoc_url` from the package's files
    (under `static_url`), both reading the application's `openapi_url`. The application
    must have been made with `docs_url=None, redoc_url=None` (FastAPI's CDN pages)."""
    if app.docs_url is not None or app.redoc_url is not None:
        raise ValueError("make the application with docs_url=None, redoc_url=None")
    openapi_url = app.openapi_url
    if openapi_url is None:
        raise ValueError("the application has no OpenAPI document to show")
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url
    app.mount(static_url, StaticFiles(directory=str(STATIC_DIR)), name="docs-static")

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _local_only(
            get_swagger_ui_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} - Swagger UI",
                oauth2_redirect_url=f"{root}{oauth2_redirect_url}" if oauth2_redirect_url else None,
                swagger_js_url=f"{root}{static_url}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{static_url}/swagger-ui.css",
                swagger_favicon_url=f"{root}{static_url}/favicon.png",
                swagger_ui_parameters={
                    **SWAGGER_UI_PARAMETERS,
                    **(app.swagger_ui_parameters or {}),
                },
            )
        )

    if oauth2_redirect_url:

        @app.get(oauth2_redirect_url, include_in_schema=False)
        async def swagger_ui_redirect() -> HTMLResponse:
            return get_swagger_ui_oauth2_redirect_html()

    @app.get(redoc_url, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _local_only(
            get_redoc_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{static_url}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{static_url}/favicon.png",
                with_google_fonts=False,
            )
        )


def _local_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page
