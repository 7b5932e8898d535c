"""Digest alerts: matched editions wait for the recipient's next hourly or daily moment, local time,
then go out as one email listing them."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from receivers import SmtpSink
from test_embargo_property import release, world
from warta.bus import MemoryBus
from warta.delivery.digests import last_slot, make_digests
from warta.delivery.engine import Engine
from warta.model import Delivery, DigestItem, Recipient
from warta.routing import recipients as rcp
from warta.routing.stage import Router
from warta.runtime import load_channels

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop


def test_slots_are_local_hours_and_local_eight_in_the_morning() -> None:
    now = datetime(2026, 11, 27, 5, 30, tzinfo=UTC)  # 13:30 in Kuala Lumpur, 06:30 in Paris
    assert last_slot("hourly", now, "Asia/Kuala_Lumpur") == datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
    assert last_slot("daily", now, "Asia/Kuala_Lumpur") == datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
    assert last_slot("daily", now, "Europe/Paris") == datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


def test_daily_digest_waits_for_the_morning_and_lists_the_matches() -> None:
    load_channels()
    sink = SmtpSink().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store, cfg = world(Path(tmp), [False])
            from dataclasses import replace

            cfg = replace(cfg, smtp_url=sink.url)
            with store.session() as s:
                journalist = s.scalar(select(Recipient).where(Recipient.kind == "journalist"))
                assert journalist is not None
                journalist.timezone = "Asia/Kuala_Lumpur"
                journalist.country = "SG"  # outside the release's targets: only the alert brings it
                rcp.create_alert(s, journalist, rcp.AlertIn(query="solar terminal", mode="daily"))
                rcp.create_alert(s, journalist, rcp.AlertIn(query="container AND cranes", mode="daily"))
            rid_first = release(store, cfg, -10, None)
            engine = Engine(store, cfg)
            router = Router(store, cfg, MemoryBus(), engine.channels, on_rows=lambda: None)
            router.route_release(rid_first)
            with store.session() as s:
                items = s.scalars(select(DigestItem)).all()
                assert len(items) == 2 and {i.recipient_id for i in items} == {journalist.id}
                assert s.scalar(select(Delivery).where(Delivery.channel == "email")) is None

            lane = engine.channels["email"].lane_name  # type: ignore[attr-defined]
            created = min(i.created_at for i in items).replace(tzinfo=UTC)
            slot = last_slot("daily", created + timedelta(days=1), "Asia/Kuala_Lumpur")
            with store.session() as s:
                assert make_digests(s, lane, now=max(created, slot - timedelta(minutes=1))) == 0
                assert make_digests(s, lane, now=slot + timedelta(seconds=30)) == 1
                assert make_digests(s, lane, now=slot + timedelta(minutes=5)) == 0  # one per slot

            async def send() -> None:
                jobs = engine._claim(100, now=slot + timedelta(minutes=1))
                assert [j.kind for j in jobs] == ["digest"]
                assert len(jobs[0].extra["items"]) == 1  # one release, matched by both alerts
                await engine.channels["email"].start()
                try:
                    results = await engine.channels["email"].send(jobs)
                finally:
                    await engine.channels["email"].stop()
                assert [r.outcome for r in results] == ["delivered"]

            asyncio.run(send())
            (mail,) = sink.snapshot()
            assert mail.rcpt == ["r0@x.example"]
            assert mail.message["X-Warta-Kind"] == "digest"
            text = mail.message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
            assert "Pelabuhan Selatan opens a solar terminal" in text
            store.close()
    finally:
        sink.stop()
