"""Build the ASGI app and run the embedded stages (outbox relay, scheduler) in its lifespan."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

import warta
from warta.bus import MemoryBus, OutboxRelay
from warta.config import Settings
from warta.schedule import Scheduler
from warta.store import Store
from warta.web import errors
from warta.web.limits import BodyLimit

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    settings = dataclasses.replace(settings, secret=settings.ensure_secret())
    store = Store(settings.database_url)
    store.migrate()
    bus = MemoryBus()
    relay = OutboxRelay(store, bus)
    scheduler = Scheduler(store, bus, on_published=relay.notify)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await bus.start()
        await relay.start()
        await scheduler.start()
        relay.notify()
        try:
            yield
        finally:
            await scheduler.stop()
            await relay.stop()
            await bus.stop()
            store.close()

    app = FastAPI(
        title=f"{settings.wire_name} API",
        version=warta.__version__,
        description="Submit, review and read press releases and their language editions.",
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.store = store
    app.state.bus = bus
    app.state.relay = relay
    errors.install(app)

    from warta.web import api, pages

    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodyLimit, max_bytes=settings.limits.request_bytes)
    return app
