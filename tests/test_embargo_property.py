"""Property: whatever the release time, embargo, lift and trust, no untrusted recipient's delivery is
ever handed to a channel before the lift. The engine's claim is the gate every channel (email,
webhook, stream, private feed) goes through, so the property is checked there, and at routing's
live path, which publishes stream events before the rows are written."""

from __future__ import annotations

import dataclasses
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from warta.bus import MemoryBus
from warta.clock import utcnow
from warta.config import Settings
from warta.delivery.engine import Engine
from warta.intake import keys
from warta.intake.keys import Principal
from warta.intake.service import submit
from warta.intake.submission import Contact, Dateline, ReleaseIn, Targets, clean
from warta.model import Delivery, Recipient
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
                    if lift is not None and start < lift:
                        assert recipient.embargo_trusted and group.job.embargoed, "routing published early"
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
                if lift is not None and start < lift:
                    assert trusted and embargoed, "a feed showed an embargoed edition early"
            claimed: set[str] = set()
            for offset in sorted(probes):
                at = start + timedelta(seconds=offset)
                for job in engine._claim(10_000, now=at):
                    claimed.add(job.delivery_id)
                    if lift is not None and at < lift:
                        assert job.recipient.embargo_trusted, (
                            "an untrusted recipient got an embargoed edition"
                        )
                        assert job.embargoed, "an early copy went out unmarked"
                    else:
                        assert not job.embargoed or job.recipient.embargo_trusted
            # and after the lift everyone has been handed their deliveries, each once
            after = start + timedelta(seconds=800)
            claimed |= {job.delivery_id for job in engine._claim(10_000, now=after)}
            with store.session() as s:
                total = s.scalar(select(func.count(Delivery.id)).where(Delivery.release_id == rid))
            # one push channel + the private feed each
            assert len(claimed) + len(settled) == total == 2 * len(trust)
        finally:
            store.close()
