"""Routing publishes a release's live stream events itself, before the ledger rows are written: the
desktops see it at once, the rows say so, nothing goes out twice when routing runs again, and the
embargo gate holds here as it does at the engine's claim."""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from test_embargo_property import release, world
from warta.bus import MemoryBus
from warta.bus.base import Message
from warta.clock import aware
from warta.config import Settings
from warta.delivery.engine import Engine
from warta.delivery.stream import Connection
from warta.editions.service import correct
from warta.model import Delivery, OutboxEvent, Recipient, Release
from warta.routing import recipients as rcp
from warta.routing.stage import Router
from warta.runtime import load_channels
from warta.schedule import publish_due
from warta.store import Store

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop

# desktops are every third recipient of the world: 0 journalist, 1 outlet, 2 desktop, ...
TRUST = [False, False, True, False, False, False, False, False, False]


@pytest.fixture
def wire() -> Iterator[tuple[Store, Settings]]:
    load_channels()
    with tempfile.TemporaryDirectory() as tmp:
        store, cfg = world(Path(tmp), TRUST)
        try:
            yield store, cfg
        finally:
            store.close()


def events(conn: Connection) -> list[dict[str, object]]:
    out = []
    for frame in conn.take().decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in frame.splitlines() if ": " in line)
        if fields.get("event") == "release":
            out.append({"id": fields["id"], **json.loads(fields["data"])})
    return out


def desks(store: Store) -> dict[str, bool]:
    with store.session() as s:
        return {
            r.id: r.embargo_trusted for r in s.scalars(select(Recipient).where(Recipient.kind == "desktop"))
        }


def ledger(store: Store, rid: str) -> dict[tuple[str, str], tuple[str, int]]:
    with store.session() as s:
        rows = s.scalars(select(Delivery).where(Delivery.release_id == rid))
        return {(d.recipient_id, d.channel): (d.state, d.attempts) for d in rows}


def routed(store: Store, cfg: Settings, rid: str) -> tuple[Engine, Router, dict[str, Connection]]:
    """An engine and a router sharing channels, and an open stream connection per desktop."""
    engine = Engine(store, cfg)
    router = Router(store, cfg, MemoryBus(), engine.channels, on_rows=lambda: None)
    hub = engine.channels["stream"].hub  # type: ignore[attr-defined]
    return engine, router, {d: hub.connect(d) for d in desks(store)}


def published(rid: str) -> Message:
    return Message("release.published", f"published:{rid}", {"release_id": rid})


def test_live_desktops_get_the_release_from_routing_once(wire: tuple[Store, Settings]) -> None:
    store, cfg = wire
    rid = release(store, cfg, 0, None)
    engine, router, conns = routed(store, cfg, rid)
    message = published(rid)

    asyncio.run(router._published(message))
    got = {d: events(c) for d, c in conns.items()}
    assert all(len(e) == 1 and e[0]["release_id"] == rid for e in got.values()), got
    assert len({e[0]["id"] for e in got.values()}) == 1  # one event, shared
    rows = ledger(store, rid)
    assert {rows[(d, "stream")] for d in conns} == {("delivered", 1)}
    # a feed item is only a fact in the ledger: routing settles it; the sending channels are the
    # engine's, written pending with nothing claimed yet
    assert {v for (_, ch), v in rows.items() if ch == "feed"} == {("delivered", 1)}
    assert {v for (_, ch), v in rows.items() if ch not in ("stream", "feed")} == {("pending", 0)}

    # the message delivered again (a bus redelivery): no second event, no second row
    asyncio.run(router._published(message))
    assert all(events(c) == [] for c in conns.values())
    assert ledger(store, rid) == rows
    claimed = {j.channel for j in engine._claim(1000)}
    assert "email" in claimed and "stream" not in claimed and "feed" not in claimed


def test_published_but_not_recorded_is_not_published_again(wire: tuple[Store, Settings]) -> None:
    """The rows could not be written after the event went out (the database away): routing runs
    again, writes the stream rows as delivered and publishes nothing a second time."""
    store, cfg = wire
    rid = release(store, cfg, 0, None)
    engine, router, conns = routed(store, cfg, rid)
    plan = router.plan_release(rid, live=True)
    assert sorted(r.id for group in plan.live for r in group.recipients) == sorted(conns)
    asyncio.run(router.go_live(plan))  # ... and then the write fails: no record()
    assert all(len(events(c)) == 1 for c in conns.values())
    asyncio.run(router._published(published(rid)))
    assert all(events(c) == [] for c in conns.values())
    assert {ledger(store, rid)[(d, "stream")] for d in conns} == {("delivered", 1)}
    assert not [j for j in engine._claim(1000) if j.channel == "stream"]


def test_embargo_holds_on_routings_live_path(wire: tuple[Store, Settings]) -> None:
    """Under embargo only the trusted desktop gets an early, marked copy from routing; the others'
    rows wait for the lift in the ledger, where the engine's claim gate takes over."""
    store, cfg = wire
    rid = release(store, cfg, 0, 600)
    _, router, conns = routed(store, cfg, rid)
    trust = desks(store)
    asyncio.run(router._published(published(rid)))
    rows = ledger(store, rid)
    for d, conn in conns.items():
        got = events(conn)
        if trust[d]:
            assert len(got) == 1 and got[0]["embargoed"] is True and got[0]["embargoed_until"]
            assert rows[(d, "stream")] == ("delivered", 1)
        else:
            assert got == []
            assert rows[(d, "stream")] == ("pending", 0)
    assert any(trust.values()) and not all(trust.values())
    # feeds likewise: the trusted have the early copy in their feed at once, the others wait
    with store.session() as s:
        trusted = {r.id: r.embargo_trusted for r in s.scalars(select(Recipient))}
    feeds = {who: state for (who, ch), state in rows.items() if ch == "feed"}
    assert feeds and {feeds[w] for w in feeds if trusted[w]} == {("delivered", 1)}
    assert {feeds[w] for w in feeds if not trusted[w]} == {("pending", 0)}


def test_each_channel_claims_within_its_own_budget(wire: tuple[Store, Settings]) -> None:
    """A long queue on one channel (86,000 emails) must not hold back the others: the engine claims
    channel by channel, each up to its budget, and a channel left out is not claimed at all."""
    store, cfg = wire
    rid = release(store, cfg, 0, None)
    engine, router, _ = routed(store, cfg, rid)
    router.route_release(rid)
    jobs = engine._claim(1000, budgets={"email": 1, "webhook": 2})
    assert sorted(j.channel for j in jobs) == ["email", "webhook", "webhook"]
    rest = engine._claim(1000, budgets={"stream": 100, "email": 100})
    assert sorted({j.channel for j in rest}) == ["email", "stream"]
    assert len([j for j in rest if j.channel == "email"]) == 2  # the third was claimed before
    assert engine._budgets()["email"] == type(engine.channels["email"]).max_queued


# --- a scheduled release: its live plan is decided ahead (rehearsed) ----------------------------


def go_out(store: Store, rid: str) -> Message:
    """The scheduler publishes the release (as at its release time); the event it emitted."""
    with store.session() as s:
        at = aware(s.get(Release, rid).release_at)  # type: ignore[union-attr]
    assert at is not None
    assert publish_due(store, at + timedelta(seconds=1)) == [rid]
    with store.session() as s:
        row = s.scalars(select(OutboxEvent).where(OutboxEvent.topic == "release.published")).one()
        return Message(row.topic, row.key, row.payload)


def test_a_scheduled_release_goes_out_as_rehearsed(
    wire: tuple[Store, Settings], caplog: pytest.LogCaptureFixture
) -> None:
    store, cfg = wire
    rid = release(store, cfg, 20, None)
    engine, router, conns = routed(store, cfg, rid)
    assert router.rehearse_due() == 1
    assert router.rehearse_due() == 0  # nothing changed: nothing decided again
    assert all(events(c) == [] for c in conns.values())  # a rehearsal publishes nothing
    assert ledger(store, rid) == {}  # ... and writes nothing

    with caplog.at_level(logging.INFO, logger="warta.routing.stage"):
        asyncio.run(router._published(go_out(store, rid)))
    assert "(as rehearsed)" in caplog.text
    got = {d: events(c) for d, c in conns.items()}
    assert all(len(e) == 1 and e[0]["release_id"] == rid for e in got.values()), got
    assert {e[0]["headline"] for e in got.values()} == {"Pelabuhan Selatan opens a solar terminal"}
    rows = ledger(store, rid)
    assert {rows[(d, "stream")] for d in conns} == {("delivered", 1)}
    assert {v for (_, ch), v in rows.items() if ch not in ("stream", "feed")} == {("pending", 0)}
    claimed = {j.channel for j in engine._claim(1000)}
    assert "email" in claimed and "stream" not in claimed


@pytest.mark.parametrize("change", ["paused", "new desktop", "corrected"])
def test_a_change_after_the_rehearsal_is_not_missed(
    wire: tuple[Store, Settings], caplog: pytest.LogCaptureFixture, change: str
) -> None:
    """Whatever changed between the rehearsal and the release time (a desktop paused, one added, the
    release corrected), desktops get what routing decides at the publish."""
    store, cfg = wire
    rid = release(store, cfg, 20, None)
    _, router, conns = routed(store, cfg, rid)
    assert router.rehearse_due() == 1
    paused = sorted(conns)[0]
    headline = "Pelabuhan Selatan opens a solar terminal"
    with store.session() as s:
        if change == "paused":
            desk = s.get(Recipient, paused)
            assert desk is not None
            rcp.update_recipient(s, cfg, desk, rcp.RecipientPatch(status="paused"))
        elif change == "new desktop":
            new = rcp.create_recipient(
                s, cfg, rcp.RecipientIn(kind="desktop", name="Late desk", country="MY", languages=["en"])
            )
        else:
            headline = "Pelabuhan Selatan opens a solar and wind terminal"
            rel = s.get(Release, rid)
            assert rel is not None
            correct(s, cfg, rel, note="wind too", user_id=rel.versions[-1].created_by, headline=headline)
    if change == "new desktop":
        conns[new.id] = router.channels["stream"].hub.connect(new.id)  # type: ignore[attr-defined]

    with caplog.at_level(logging.INFO, logger="warta.routing.stage"):
        asyncio.run(router._published(go_out(store, rid)))
    assert "route_release" in caplog.text and "(as rehearsed)" not in caplog.text
    for d, conn in conns.items():
        got = events(conn)
        if change == "paused" and d == paused:
            assert got == []
        else:
            assert len(got) == 1 and got[0]["headline"] == headline, (d, got)
    assert len(conns) == (4 if change == "new desktop" else 3)
