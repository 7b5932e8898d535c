"""The live stream between delivery workers and gateways, against a real nats-server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from natsserver import NatsServer, nats_server
from warta.bus.live import LiveFeed, LivePublisher
from warta.bus.nats import NatsBus

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    with nats_server(tmp_path / "nats") as s:
        yield s


class Hub:
    """Records what a gateway's hub is handed."""

    def __init__(self) -> None:
        self.events: list[tuple[int, str, dict[str, Any], list[str]]] = []
        self.bases: list[int] = []

    def publish(
        self, event_name: str, data: dict[str, Any], recipient_ids: Iterable[str], event_id: int | None = None
    ) -> tuple[int, int]:
        assert event_id is not None
        self.events.append((event_id, event_name, data, list(recipient_ids)))
        return 0, 0

    def rebase(self, last_id: int) -> None:
        self.bases.append(last_id)


async def wait_for(cond: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_a_gateway_follows_only_its_subjects_under_the_streams_numbers(server: NatsServer) -> None:
    async def main() -> None:
        worker, gateway = NatsBus(server.url, "live"), NatsBus(server.url, "live")
        await worker.start()
        await gateway.start()
        publisher = LivePublisher(worker, max_age=60)
        everything, malaysia = Hub(), Hub()
        feeds = [
            LiveFeed(gateway, everything, replay=10, max_age=60),
            LiveFeed(gateway, malaysia, subjects=["live.edition.*.MY.>"], replay=10, max_age=60),
        ]
        try:
            for feed in feeds:
                await feed.start()
            await asyncio.sleep(0.3)
            await publisher.publish(
                "release",
                {"headline": "Pelabuhan"},
                {("ms", "MY", "business"): ["rcp_a", "rcp_b"], ("id", "ID", "business"): ["rcp_c"]},
            )
            await publisher.publish("release", {"headline": "Kedua"}, {("en", "MY", "Top Story"): ["rcp_a"]})
            await wait_for(lambda: len(everything.events) == 3 and len(malaysia.events) == 2)
            await asyncio.sleep(0.3)
            assert [e[3] for e in everything.events] == [["rcp_a", "rcp_b"], ["rcp_c"], ["rcp_a"]]
            assert [e[3] for e in malaysia.events] == [["rcp_a", "rcp_b"], ["rcp_a"]]
            # the event id is the stream's sequence: the same on every gateway, increasing
            ids = [e[0] for e in everything.events]
            assert ids == sorted(ids) and {e[0] for e in malaysia.events} <= set(ids)
            # a gateway started later replays what the stream still holds, under the same ids
            late = Hub()
            later = LiveFeed(gateway, late, replay=10, max_age=60)
            await later.start()
            feeds.append(later)
            await wait_for(lambda: len(late.events) == 3)
            assert [e[0] for e in late.events] == ids and late.bases == [ids[0] - 1]
        finally:
            for feed in feeds:
                await feed.stop()
            await gateway.stop()
            await worker.stop()

    asyncio.run(main())
