"""The stages one process runs, on one store and one bus.

Embedded mode (no WARTA_BUS_URL): `warta serve` runs every stage on the in-process bus. Scaled mode
(WARTA_BUS_URL=nats://…): `warta serve` runs the API and the outbox relay; `warta worker --stage
NAME` runs any stage, as many copies as wanted; `warta gateway` holds desktops' live connections.
Every process runs an outbox relay: events written by its own transactions (and any left behind by
a process that died) reach the bus, and the bus's message ids make a second publish harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

from warta.bus import MemoryBus, OutboxRelay
from warta.bus.base import Bus
from warta.config import Settings
from warta.delivery.base import CHANNELS, Channel
from warta.delivery.channels import load_channels
from warta.delivery.digests import DigestScheduler
from warta.delivery.engine import Engine
from warta.delivery.stream import StreamHub
from warta.editions.stage import EditionsStage
from warta.routing.followup import EditionFollowup
from warta.routing.stage import Router
from warta.schedule import Scheduler
from warta.store import Store

log = logging.getLogger(__name__)

STAGES = ("editions", "scheduler", "routing", "delivery", "digests")
SCALED_IDLE_POLL = 2.0  # a delivery worker looks for due rows at least this often among many


# the cycle collector's thresholds for a server: the first generation collected after 50,000 new
# container objects instead of 700, the older ones more rarely. A server's heap is large and long
# lived (the audience index, rendered editions, every open connection), and each collection of
# the older generations walks all of it: with CPython's defaults, building a claim's thousands of
# jobs spent a large share of its time in the collector. Objects are still freed by reference counting the moment they
# are unused; only garbage in reference cycles waits a little longer.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Set the collector's thresholds, and leave what the process has loaded so far (modules,
    mappers, settings) out of every later collection."""
    import gc

    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()


def make_bus(settings: Settings) -> Bus:
    if not settings.scaled:
        return MemoryBus()
    if not settings.bus_url.startswith(("nats://", "tls://")):
        raise ValueError(f"WARTA_BUS_URL must be a nats:// or tls:// URL, not {settings.bus_url!r}")
    from warta.bus.nats import NatsBus

    return NatsBus(settings.bus_url, settings.bus_namespace, name="warta")


class Runtime:
    """The chosen stages, wired to each other through the bus (and directly when in one process)."""

    def __init__(self, settings: Settings, store: Store, stages: Collection[str], bus: Bus | None = None):
        unknown = set(stages) - set(STAGES)
        if unknown:
            raise ValueError(f"unknown stage(s) {', '.join(sorted(unknown))}; stages are {', '.join(STAGES)}")
        self.settings = settings
        self.store = store
        self.stages = [s for s in STAGES if s in stages]
        self.bus = bus or make_bus(settings)
        self.relay = OutboxRelay(store, self.bus)
        self._loop: asyncio.AbstractEventLoop | None = None
        load_channels()

        self.engine: Engine | None = None
        if "delivery" in stages:
            self.engine = Engine(
                store,
                settings,
                retry_base=settings.retry_base,
                shared=settings.scaled,
                idle_poll=SCALED_IDLE_POLL if settings.scaled else 60.0,
            )
        channels = self._channels = self.channels()
        self.editions = (
            EditionsStage(store, settings, self.bus, on_events=self.relay.notify)
            if "editions" in stages
            else None
        )
        self.scheduler = (
            Scheduler(
                store, self.bus, on_published=self.relay.notify, translation_wait=settings.translation_wait
            )
            if "scheduler" in stages
            else None
        )
        self.router = (
            Router(
                store,
                settings,
                self.bus,
                channels,
                on_rows=self.wake_delivery,
                fallback_to_original=settings.routing_fallback_to_original,
            )
            if "routing" in stages
            else None
        )
        # editions published after their release went out reach the recipients who want them
        self.followup = (
            EditionFollowup(store, self.bus, self.router, on_rows=self.wake_delivery)
            if self.router is not None
            else None
        )
        digest_channel = next((ch for ch in channels.values() if ch.carries_digests), None)
        self.digests = (
            DigestScheduler(store, on_rows=self.wake_delivery, lane=digest_channel.digest_lane())
            if "digests" in stages and digest_channel is not None
            else None
        )

    def channels(self) -> dict[str, Channel]:
        if self.engine is not None:
            return self.engine.channels
        return {name: cls(self.settings) for name, cls in CHANNELS.items()}  # type: ignore[call-arg]

    def live_hub(self) -> StreamHub | None:
        """The hub this process's delivery writes desktops' live connections through, if any."""
        if self.engine is None:
            return None
        return next((hub for ch in self.engine.channels.values() if (hub := ch.live_hub())), None)

    def wake_delivery(self) -> None:
        """Rows are due: wake this process's delivery engine and, among many, every other one.
        Safe to call from any thread."""
        if self.engine is not None:
            self.engine.notify()
        signal = getattr(self.bus, "signal", None)
        if signal is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(signal("wake")))

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.bus.start()
        if self.settings.scaled and (self.engine is not None or self.router is not None):
            # delivery workers and routing (which publishes live events as it routes) reach their
            # destinations through the bus where a channel says so (the live stream to the gateways)
            for channel in self._channels.values():
                channel.use_bus(self.bus)
        if self.engine is not None:
            on_signal = getattr(self.bus, "on_signal", None)
            if on_signal is not None:
                await on_signal("wake", self.engine.notify)
            await self.engine.start()
        await self.relay.start()
        if self.router is not None:
            await self.router.start()
        if self.scheduler is not None:
            await self.scheduler.start()
        if self.digests is not None:
            await self.digests.start()
        self.relay.notify()

    async def stop(self) -> None:
        if self.digests is not None:
            await self.digests.stop()
        if self.scheduler is not None:
            await self.scheduler.stop()
        if self.router is not None:
            await self.router.stop()
        await self.relay.stop()
        if self.engine is not None:
            await self.engine.stop()
        await self.bus.stop()
