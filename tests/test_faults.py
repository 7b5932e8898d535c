"""The fault suite: a wire in scaled mode (PostgreSQL, NATS JetStream, 3 workers, 2 gateways, each a
real process) is hurt in the middle of a fan-out with real signals and real outages. Afterwards every
ledger row is delivered, the receivers hold nothing twice (by Message-ID, by webhook-id), every live
desktop saw the release once, and the release's report adds up.

Run it alone with `make test-faults` (or `pytest tests/test_faults.py`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cluster import Cluster
from receivers import SmtpSink, SseClient, WebhookReceiver
from test_distribution import Wire, assert_every_email_arrived_or_is_flagged, wait_until, write_audience

pytestmark = pytest.mark.parametrize("mode", ["scaled"], indirect=True)

DESKTOPS_CONNECTED = 4


class Fanout:
    """One release to journalists (email), outlets (webhooks) and desktops (live stream)."""

    def __init__(
        self,
        server: Cluster,
        tmp_path: Path,
        journalists: int,
        outlets: dict[str, WebhookReceiver],
        desktops: int = 20,
    ) -> None:
        self.server = server
        self.wire = Wire(server)
        self.receivers = outlets
        urls = [f"{receiver.url}/hooks/{name}" for name, receiver in outlets.items()]
        audience = tmp_path / "audience.csv"
        write_audience(audience, journalists=journalists, outlets=urls, desktops=desktops, extra=[])
        assert self.wire.import_csv(audience)["created"] == journalists + len(urls) + desktops
        self.circuit = self.wire.circuit()
        people = {r["external_id"]: r for r in self.wire.recipients()}
        self.secrets = {f"/hooks/{name}": people[f"o{i}"]["webhook_secret"] for i, name in enumerate(outlets)}
        self.desks = [
            SseClient(server.stream_url(i), people[f"d{i}"]["stream_token"]).start()
            for i in range(DESKTOPS_CONNECTED)
        ]
        self.rid = ""

    def release(self, in_seconds: float) -> str:
        self.rid = self.wire.release(self.circuit, datetime.now(UTC) + timedelta(seconds=in_seconds))
        return self.rid

    def check(
        self, mailboxes: Callable[[], list[Any]], journalists: int, settle: float = 180
    ) -> dict[str, Any]:
        """Everything delivered, once; returns the report."""
        wait_until(lambda: self.wire.settled(self.rid), settle, "every ledger row to settle", every=0.5)
        mails = mailboxes()
        rows = self.wire.ledger(self.rid)
        states = Counter(d["state"] for d in rows)
        assert states == Counter({"delivered": len(rows)}), states

        ids = Counter(m.message_id for m in mails)
        assert not [k for k, v in ids.items() if v > 1], "an email was sent twice"
        email_rows = [d for d in rows if d["channel"] == "email"]
        assert len(email_rows) == journalists
        assert_every_email_arrived_or_is_flagged(email_rows, mails, connections=16)

        receivers = {id(r): r for r in self.receivers.values()}.values()
        hits = [h for receiver in receivers for h in receiver.snapshot()]
        by_path: dict[str, set[str]] = {}
        for hit in hits:
            by_path.setdefault(hit.path, set()).add(hit.headers["webhook-id"])
        assert len(by_path) == len(self.receivers)
        assert all(len(v) == 1 for v in by_path.values()), "an outlet got two different webhook-ids"
        # a worker killed after an outlet answered but before the ledger heard of it resends with the
        # same webhook-id (Standard Webhooks is at least once): a receiver deduplicating by
        # webhook-id, as the spec asks, holds exactly one copy per outlet
        answered = {h.headers["webhook-id"] for h in hits if h.status == 200}
        assert len(answered) == len(self.receivers)

        for desk in self.desks:
            got = desk.of("release")
            assert [g["release_id"] for g in got] == [self.rid], got
            desk.stop()

        report: dict[str, Any] = self.wire.editor.get(f"/api/v1/releases/{self.rid}/report").json()
        assert report["total"] == len(rows)
        assert report["states"].get("delivered") == len(rows)
        by_channel = Counter(d["channel"] for d in rows)
        assert {c["channel"]: c["total"] for c in report["channels"]} == dict(by_channel)
        assert all(c["states"]["delivered"] == c["total"] for c in report["channels"])
        assert report["latency"]["count"] == len(rows)
        return report


def small_fanout(
    server_factory: Any,
    tmp_path: Path,
    sink: SmtpSink,
    hooks: WebhookReceiver,
    journalists: int,
    outlets: int,
) -> Fanout:
    """A wire with 4 SMTP connections per delivery worker and quick retries, and its audience."""
    server: Cluster = server_factory(
        WARTA_SMTP_URL=sink.url, WARTA_SMTP_POOL="4", WARTA_WEBHOOK_ALLOW="127.0.0.1", WARTA_RETRY_BASE="0.3"
    )
    return Fanout(server, tmp_path, journalists, {f"{i}": hooks for i in range(outlets)})


def test_delivery_workers_killed_at_several_points_and_webhooks_timing_out(
    server_factory: Any, tmp_path: Path
) -> None:
    sink = SmtpSink().start()
    ok = WebhookReceiver().start()
    slow = WebhookReceiver(slow_first=1, slow_seconds=3).start()  # first attempt of each gets no answer
    try:
        server: Cluster = server_factory(
            WARTA_SMTP_URL=sink.url,
            WARTA_SMTP_POOL="8",
            WARTA_WEBHOOK_ALLOW="127.0.0.1",
            WARTA_WEBHOOK_TIMEOUT="1",
            WARTA_RETRY_BASE="0.3",
        )
        journalists = 2400
        outlets = {f"{i}": (slow if i % 2 else ok) for i in range(60)}
        fan = Fanout(server, tmp_path, journalists, outlets)
        fan.release(in_seconds=2)
        delivery = server.delivery_workers()
        kills = []
        for threshold, victim in ((200, delivery[-1]), (900, delivery[0]), (1600, delivery[-1])):
            wait_until(lambda t=threshold: len(sink.snapshot()) >= t, 90, f"{threshold} emails", every=0.01)
            server.kill(victim)
            kills.append(len(sink.snapshot()))
            server.spawn(victim)
        assert kills[-1] < journalists, (
            f"the fan-out finished before the last kill ({kills}): nothing was tested"
        )
        fan.check(sink.snapshot, journalists)
        timed_out = [h for h in slow.snapshot() if h.status == 0]
        assert len(timed_out) == 30, "every slow outlet's first attempt timed out and was retried"
    finally:
        sink.stop()
        ok.stop()
        slow.stop()


def test_nats_and_postgres_restarts_lose_nothing(
    server_factory: Any, tmp_path: Path, nats_session: Any, pg_server: Any
) -> None:
    sink = SmtpSink().start()
    ok = WebhookReceiver().start()
    try:
        journalists = 1500
        fan = small_fanout(server_factory, tmp_path, sink, ok, journalists, outlets=40)
        # NATS is down when the release falls due: the event waits in the outbox
        nats_session.stop()
        fan.release(in_seconds=1)
        time.sleep(4)
        assert len(sink.snapshot()) == 0
        nats_session.start()
        wait_until(lambda: len(sink.snapshot()) >= 200, 60, "the fan-out to be under way", every=0.01)
        pg_server.stop_fast()  # PostgreSQL restarts mid-fan-out
        time.sleep(3)
        pg_server.start_again()
        wait_until(
            lambda: len(sink.snapshot()) >= 700, 90, "the fan-out to go on after PostgreSQL", every=0.02
        )
        nats_session.restart()  # and NATS again
        at_restart = len(sink.snapshot())
        assert at_restart < journalists, "the fan-out finished before NATS restarted: nothing was tested"
        fan.check(sink.snapshot, journalists)
    finally:
        if nats_session.proc is None:
            nats_session.start()
        sink.stop()
        ok.stop()


def test_smtp_server_away_for_30_seconds(server_factory: Any, tmp_path: Path) -> None:
    first = SmtpSink().start()
    second: SmtpSink | None = None
    ok = WebhookReceiver().start()
    try:
        journalists = 800
        fan = small_fanout(server_factory, tmp_path, first, ok, journalists, outlets=10)
        fan.release(in_seconds=1)
        wait_until(lambda: len(first.snapshot()) >= 100, 60, "the fan-out to be under way", every=0.01)
        first.stop()
        away_at = len(first.snapshot())
        assert away_at < journalists
        time.sleep(30)
        rows = fan.wire.ledger(fan.rid, channel="email")
        waiting = Counter(d["state"] for d in rows)
        assert waiting["delivered"] < journalists and not waiting["failed"], waiting
        second = SmtpSink(port=first.port).start()
        fan.check(lambda: first.snapshot() + second.snapshot(), journalists)
        assert len(second.snapshot()) > 0
    finally:
        if second is not None:
            second.stop()
        ok.stop()
