"""Build the ASGI app and run the stages of this process in its lifespan."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

import warta
from warta.config import Settings
from warta.runtime import STAGES, Runtime
from warta.store import Store
from warta.web import api, distribution, docs, errors, feed_index, outbox, pages, reports, stream, websub
from warta.web.gateway import LiveEdge, stream_recipient
from warta.web.limits import BodyLimit
from warta.web.middleware import HeadAsGet, SecurityHeaders, security_headers

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API and newsroom. Embedded mode runs every stage here; scaled mode (WARTA_BUS_URL) runs
    the outbox relay and a live edge fed by the live stream, and leaves the stages to workers."""
    settings = settings or Settings.from_env()
    settings = dataclasses.replace(settings, secret=settings.ensure_secret())
    store = Store(settings.database_url)
    store.migrate()
    runtime = Runtime(settings, store, stages=() if settings.scaled else STAGES)
    edge = LiveEdge(settings, runtime.bus) if settings.scaled else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        if edge is not None:
            await edge.start()
        try:
            yield
        finally:
            if edge is not None:
                await edge.stop()
            await runtime.stop()
            store.close()

    app = FastAPI(
        title=f"{settings.wire_name} API",
        version=warta.__version__,
        description="Submit, review and read press releases and their language editions.",
        lifespan=lifespan,
        docs_url=None,  # served from the vendored Swagger UI, with no script inline (warta.web.docs)
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.store = store
    app.state.bus = runtime.bus
    app.state.relay = runtime.relay
    app.state.runtime = runtime
    app.state.stream_hub = edge.hub if edge is not None else runtime.live_hub()
    app.state.stream_auth = lambda token: stream_recipient(store, token)
    errors.install(app, pages.not_found_page)
    app.include_router(api.router)
    app.include_router(distribution.router)
    app.include_router(distribution.public)
    app.include_router(stream.router)
    app.include_router(reports.router)
    app.include_router(outbox.router)
    app.include_router(feed_index.router)
    app.include_router(websub.router)
    app.include_router(pages.router)
    docs.install(app)
    _with_components(app, api.SUBMIT_COMPONENTS)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodyLimit, max_bytes=settings.limits.request_bytes)
    app.add_middleware(HeadAsGet)
    headers = security_headers(settings)
    app.add_middleware(SecurityHeaders, headers=headers)
    # outermost: a stream connection is answered before the middleware and routing chain, so each
    # of the thousands held open keeps a short stack of coroutines, not the whole chain's; it adds
    # the security headers itself
    app.add_middleware(stream.StreamShortcut, headers=headers)
    return app


def _with_components(app: FastAPI, schemas: dict[str, Any]) -> None:
    """Add schemas that routes refer to by `$ref` without FastAPI knowing (a body read by hand)."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            found = default().setdefault("components", {}).setdefault("schemas", {})
            for name, schema in schemas.items():
                found.setdefault(name, schema)
        return app.openapi_schema or default()

    app.openapi = openapi  # type: ignore[method-assign]
