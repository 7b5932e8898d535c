"""Stream gateways: processes that hold desktops' live connections in scaled mode.

`warta gateway` serves `GET /api/v1/stream` (the same Server-Sent Events as `warta serve`) and
`GET /healthz`, fed by the live stream of NATS JetStream (warta.bus.live) rather than by a delivery
engine in the same process. Gateways know nothing of each other: each reads the live stream and
writes each event to its own connections of the event's recipients, under the live stream's
sequence number as event id, so a desktop may reconnect to any gateway and resume.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

import warta
from warta.bus.live import LiveFeed
from warta.bus.nats import NatsBus
from warta.config import Settings
from warta.delivery.base import RecipientView
from warta.delivery.stream import StreamHub
from warta.routing import subscriptions
from warta.store import Store
from warta.web import stream
from warta.web.middleware import HeadAsGet, SecurityHeaders, security_headers

log = logging.getLogger(__name__)


def stream_recipient(store: Store, token: str) -> RecipientView | None:
    """The active desktop recipient a stream token belongs to, or None."""
    with store.session() as s:
        return subscriptions.stream_recipient(s, token)


class LiveEdge:
    """A stream hub fed by the live stream: the heart of a gateway (and of `serve` in scaled mode)."""

    def __init__(self, settings: Settings, bus: Any, subjects: Sequence[str] = ()) -> None:
        if not isinstance(bus, NatsBus):
            raise TypeError("a live edge needs the NATS bus (set WARTA_BUS_URL)")
        self.bus = bus
        self.hub = StreamHub(settings)
        self.feed = LiveFeed(
            bus, self.hub, subjects=subjects, replay=settings.stream_replay, max_age=settings.live_max_age
        )

    async def start(self) -> None:
        await self.feed.start()

    async def stop(self) -> None:
        await self.feed.stop()
        self.hub.close()

    def health(self) -> dict[str, Any]:
        return {
            "connections": self.hub.connections,
            "last_event_id": self.feed.last_seq,
            "events": self.feed.received,
            "subjects": self.feed.subjects,
        }


def create_gateway_app(settings: Settings | None = None, subjects: Sequence[str] = ()) -> FastAPI:
    settings = settings or Settings.from_env()
    if not settings.scaled:
        raise ValueError("a gateway reads the live stream of NATS JetStream: set WARTA_BUS_URL=nats://…")
    settings = dataclasses.replace(settings, secret=settings.ensure_secret())
    store = Store(settings.database_url)
    bus = NatsBus(settings.bus_url, settings.bus_namespace, name="warta-gateway")
    edge = LiveEdge(settings, bus, subjects)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await bus.start()
        await edge.start()
        try:
            yield
        finally:
            await edge.stop()
            await bus.stop()
            store.close()

    app = FastAPI(
        title=f"{settings.wire_name} stream gateway",
        version=warta.__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.stream_hub = edge.hub
    app.state.stream_auth = lambda token: stream_recipient(store, token)

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", **edge.health()})

    app.include_router(stream.router)
    headers = security_headers(settings)
    app.add_middleware(HeadAsGet)
    app.add_middleware(SecurityHeaders, headers=headers)
    # as in `warta serve`: a short stack per connection
    app.add_middleware(stream.StreamShortcut, headers=headers)
    return app
