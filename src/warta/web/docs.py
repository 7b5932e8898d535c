"""`/docs`: the API's OpenAPI document in Swagger UI, served by Warta itself.

The Swagger UI files come from the `swagger-ui-bundle-v2` package (Swagger UI 5.31.0, which reads
OpenAPI 3.1; Apache-2.0, its licence in the package) and are served under `/docs/assets/`, so the
page works on a host with no internet. The page starts Swagger UI from `/static/docs.js`, not an inline script, so it keeps
the Content-Security-Policy every page has.
"""

from __future__ import annotations

from html import escape

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"


def swagger_ui_dir() -> str:
    from swagger_ui_bundle import swagger_ui_path

    return str(swagger_ui_path)


def docs_page(title: str, openapi_url: str) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)} — documentation</title>\n"
        f'<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">\n'
        '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">\n'
        "</head>\n<body>\n"
        f'<div id="swagger-ui" data-openapi="{escape(openapi_url)}"></div>\n'
        f'<script src="{ASSETS}/swagger-ui-bundle.js"></script>\n'
        '<script src="/static/docs.js"></script>\n'
        "</body>\n</html>\n"
    )


def install(app: FastAPI) -> None:
    app.mount(ASSETS, StaticFiles(directory=swagger_ui_dir()), name="docs-assets")
    page = docs_page(app.title, app.openapi_url or "/openapi.json")

    @app.get("/docs", include_in_schema=False)
    def docs(_: Request) -> HTMLResponse:
        return HTMLResponse(page)
