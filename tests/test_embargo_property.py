"""Property: whatever the release time, embargo, lift and trust, no untrusted recipient's delivery is
ever handed to a channel before the lift. `editions.embargo.gate` is the one rule; it is checked on
its own, and then each place that hands out an edition is checked against it: the engine's claim,
which every channel (email, webhook, stream, private feed) goes through, routing's live path,
which publishes stream events before the rows are written, the feed items routing settles itself,
and the public's visibility."""

from __future__ import annotations

import dataclasses
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from warta.bus import MemoryBus
from warta.clock import aware, utcnow
from warta.config import Settings
from warta.delivery.engine import Engine
from warta.editions.embargo import Access, gate, lift_ahead, public_at
from warta.editions.queries import release_is_public
from warta.intake import keys
from warta.intake.keys import Principal
from warta.intake.service import submit
from warta.intake.submission import Contact, Dateline, ReleaseIn, Targets, clean
from warta.model import Delivery, Recipient, Release
from warta.routing import recipients as rcp
from warta.routing.stage import Router
from warta.runtime import load_channels
from warta.schedule import publish_due
from warta.store import Store

BODY = "Pelabuhan Selatan Berhad today opened a container terminal whose cranes run on solar power. " * 5


def world(tmp: Path, trust: list[bool]) -> tuple[Store, Settings]:
    base = Settings(data_dir=tmp, database_url=f"sqlite:///{tmp / 'w.db'}", secret="s" * 32)
    cfg = dataclasses.replace(base, smtp_url="smtp://127.0.0.1:9", webhook_allow=("127.0.0.1",))
    store = Store(cfg.database_url)
    store.migrate()
    with store.session() as s:
        kinds = ("journalist", "outlet", "desktop")
        for i, trusted in enumerate(trust):
            kind = kinds[i % 3]
            rcp.create_recipient(
                s,
                cfg,
                rcp.RecipientIn(
                    kind=kind,  # type: ignore[arg-type]
                    name=f"R{i}",
                    country="MY",
                    languages=["en"],
                    email=f"r{i}@x.example" if kind == "journalist" else None,
                    webhook_url=f"http://127.0.0.1:9/{i}" if kind == "outlet" else None,
                    embargo_trusted=trusted,
                ),
            )
    return store, cfg


def release(store: Store, cfg: Settings, release_offset: int, embargo_offset: int | None) -> str:
    now = utcnow()
    with store.session() as s:
        org = keys.create_org(s, "Issuer", verified=True, auto_approve=True)
        user, _ = keys.create_user(s, "Press", "issuer", org.id)
        data = ReleaseIn(
            headline="Pelabuhan Selatan opens a solar terminal",
            body=BODY,
            language="en",
            dateline=Dateline(city="Kuala Lumpur", country="MY"),
            sectors=["business"],
            contact=Contact(name="A", email="a@x.example"),
            about="About us.",
            targets=Targets(countries=["MY"]),
            release_at=now + timedelta(seconds=release_offset),
            embargo_until=None if embargo_offset is None else now + timedelta(seconds=embargo_offset),
        )
        who = Principal(user.id, user.name, "issuer", org.id)
        rid = submit(s, cfg, who, org, clean(data, cfg.limits)).id
    publish_due(store, now)
    return rid


@given(
    embargo_offset=st.one_of(st.none(), st.integers(-600, 600)),
    probe=st.integers(-700, 700),
    trusted=st.booleans(),
)
def test_the_gate_holds_back_only_the_untrusted_and_only_until_the_lift(
    embargo_offset: int | None, probe: int, trusted: bool
) -> None:
    start = utcnow()
    lift = None if embargo_offset is None else start + timedelta(seconds=embargo_offset)
    at = start + timedelta(seconds=probe)
    access = gate(lift_ahead(lift, at), trusted)
    if lift is None or at >= lift:
        assert access is Access.NOW
    else:
        assert access is (Access.EARLY if trusted else Access.WAIT)
    # the public, whom nobody trusts, sees it when the gate lets the untrusted have it
    release_at = start - timedelta(seconds=1)
    shown_from = public_at(release_at, lift)
    assert (at >= shown_from) == (gate(lift_ahead(lift, at), False) is Access.NOW and at >= release_at)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    trust=st.lists(st.booleans(), min_size=1, max_size=6),
    release_offset=st.integers(-120, 0),
    embargo_offset=st.one_of(st.none(), st.integers(-60, 600)),
    probes=st.lists(st.integers(-30, 700), min_size=1, max_size=6),
)
def test_no_untrusted_delivery_is_claimed_before_the_lift(
    trust: list[bool], release_offset: int, embargo_offset: int | None, probes: list[int]
) -> None:
    load_channels()
    with tempfile.TemporaryDirectory() as tmp:
        store, cfg = world(Path(tmp), trust)
        try:
            if embargo_offset is not None and embargo_offset < release_offset:
                embargo_offset = release_offset  # an embargo never ends before the release time
            rid = release(store, cfg, release_offset, embargo_offset)
            engine = Engine(store, cfg)
            router = Router(store, cfg, MemoryBus(), engine.channels, on_rows=lambda: None)
            # routing's own gate: the live events it would publish before writing the rows
            plan = router.plan_release(rid, live=True)
            start = utcnow()
            lift = None if embargo_offset is None else start + timedelta(seconds=embargo_offset)
            for group in plan.live:
                for recipient in group.recipients:
                    access = gate(lift_ahead(lift, start), recipient.embargo_trusted)
                    assert access is not Access.WAIT, "routing published early"
                    assert group.job.embargoed == (access is Access.EARLY), "an early copy went out unmarked"
            router.record(plan)  # written as not published: every sending row goes through the claim too
            # the feed rows routing settled itself pass the same gate
            with store.session() as s:
                settled = s.execute(
                    select(Delivery.channel, Delivery.embargoed, Recipient.embargo_trusted)
                    .join(Recipient, Recipient.id == Delivery.recipient_id)
                    .where(Delivery.release_id == rid, Delivery.state == "delivered")
                ).all()
            for channel, embargoed, trusted in settled:
                assert channel == "feed"
                access = gate(lift_ahead(lift, start), trusted)
                assert access is not Access.WAIT, "a feed showed an embargoed edition early"
                assert embargoed == (access is Access.EARLY)
            claimed: set[str] = set()
            for offset in sorted(probes):
                at = start + timedelta(seconds=offset)
                for job in engine._claim(10_000, now=at):
                    claimed.add(job.delivery_id)
                    access = gate(lift_ahead(lift, at), job.recipient.embargo_trusted)
                    assert access is not Access.WAIT, "an untrusted recipient got an embargoed edition"
                    if access is Access.EARLY:
                        assert job.embargoed, "an early copy went out unmarked"
                    else:
                        assert not job.embargoed or job.recipient.embargo_trusted
                with store.session() as s:
                    stored = s.get(Release, rid)
                    assert stored is not None
                    stored_lift = aware(stored.embargo_until)
                    public = gate(lift_ahead(stored_lift, at), False) is Access.NOW
                    due = (aware(stored.release_at) or at) <= at
                    assert release_is_public(stored, at) == (public and due), "the public saw it early"
            # and after the lift everyone has been handed their deliveries, each once
            after = start + timedelta(seconds=800)
            claimed |= {job.delivery_id for job in engine._claim(10_000, now=after)}
            with store.session() as s:
                total = s.scalar(select(func.count(Delivery.id)).where(Delivery.release_id == rid))
            # one push channel + the private feed each
            assert len(claimed) + len(settled) == total == 2 * len(trust)
        finally:
            store.close()
