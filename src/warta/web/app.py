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
from warta.delivery.base import RecipientView
from warta.delivery.digests import DigestScheduler
from warta.delivery.engine import Engine
from warta.routing.stage import Router
from warta.schedule import Scheduler
from warta.store import Store
from warta.web import errors
from warta.web.limits import BodyLimit

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


def load_channels() -> None:
    """Import every module of warta.delivery.channels, so that each channel registers itself."""
    import importlib
    import pkgutil

    import warta.delivery.channels as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")


def stream_recipient(store: Store, token: str) -> RecipientView | None:
    from sqlalchemy import select

    from warta.model import Recipient
    from warta.routing.audience import view

    with store.session() as s:
        r = s.scalar(select(Recipient).where(Recipient.stream_token == token))
        if r is None or r.status != "active" or r.kind != "desktop":
            return None
        return view(r)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    settings = dataclasses.replace(settings, secret=settings.ensure_secret())
    store = Store(settings.database_url)
    store.migrate()
    bus = MemoryBus()
    relay = OutboxRelay(store, bus)
    scheduler = Scheduler(store, bus, on_published=relay.notify)
    load_channels()
    engine = Engine(store, settings, retry_base=settings.retry_base)
    email_channel = engine.channels.get("email")
    digests = DigestScheduler(
        store,
        on_rows=engine.notify,
        lane=email_channel.lane_name if email_channel else "email",  # type: ignore[attr-defined]
    )
    Router(
        store,
        settings,
        bus,
        engine.channels,
        on_rows=engine.notify,
        fallback_to_original=settings.routing_fallback_to_original,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await bus.start()
        await engine.start()
        await relay.start()
        await scheduler.start()
        await digests.start()
        relay.notify()
        try:
            yield
        finally:
            await digests.stop()
            await scheduler.stop()
            await relay.stop()
            await engine.stop()
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
    app.state.engine = engine
    stream_channel = engine.channels.get("stream")
    app.state.stream_hub = getattr(stream_channel, "hub", None)
    app.state.stream_auth = lambda token: stream_recipient(store, token)
    errors.install(app)

    from warta.web import api, distribution, pages, reports, stream

    app.include_router(api.router)
    app.include_router(distribution.router)
    app.include_router(distribution.public)
    app.include_router(stream.router)
    app.include_router(reports.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodyLimit, max_bytes=settings.limits.request_bytes)
    return app
