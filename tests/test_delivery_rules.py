"""Embargo on every channel, unsubscribe and pause, webhook target safety, corrections, withdrawals,
resends and alerts — against a running `warta serve` with real receivers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import Server
from receivers import SmtpSink, SseClient, WebhookReceiver
from test_distribution import HEADLINES, Wire, wait_until, write_audience


def audience(path: Path, rows: list[dict[str, str]]) -> Path:
    write_audience(path, journalists=0, outlets=[], desktops=0, extra=rows)
    return path


@pytest.fixture
def sink() -> Any:
    s = SmtpSink().start()
    yield s
    s.stop()


@pytest.fixture
def hooks() -> Any:
    r = WebhookReceiver().start()
    yield r
    r.stop()


def _wire(server_factory: Any, sink: SmtpSink, **env: str) -> tuple[Server, Wire]:
    server = server_factory(
        WARTA_SMTP_URL=sink.url, WARTA_WEBHOOK_ALLOW="127.0.0.1", WARTA_RETRY_BASE="0.2", **env
    )
    return server, Wire(server)


def test_embargo_reaches_trusted_recipients_early_and_marked_and_nobody_else_before_the_lift(
    server_factory: Any, sink: SmtpSink, hooks: WebhookReceiver, tmp_path: Path
) -> None:
    server, wire = _wire(server_factory, sink)
    rows = []
    for trust in ("true", "false"):
        rows += [
            {
                "kind": "journalist",
                "name": f"J {trust}",
                "country": "MY",
                "languages": "en",
                "email": f"{trust}@x.example",
                "embargo_trusted": trust,
                "external_id": f"j-{trust}",
            },
            {
                "kind": "outlet",
                "name": f"O {trust}",
                "country": "MY",
                "languages": "en",
                "webhook_url": f"{hooks.url}/{trust}",
                "embargo_trusted": trust,
                "external_id": f"o-{trust}",
            },
            {
                "kind": "desktop",
                "name": f"D {trust}",
                "country": "MY",
                "languages": "en",
                "embargo_trusted": trust,
                "external_id": f"d-{trust}",
            },
        ]
    wire.import_csv(audience(tmp_path / "a.csv", rows))
    people = {r["external_id"]: r for r in wire.recipients()}
    circuit = wire.circuit()
    desks = {t: SseClient(server.url, people[f"d-{t}"]["stream_token"]).start() for t in ("true", "false")}
    now = datetime.now(UTC)
    release_at, lift = now + timedelta(seconds=2), now + timedelta(seconds=9)
    rid = wire.release(circuit, release_at, embargo_until=lift.isoformat())

    # before the lift: the trusted have it on every channel, marked; the untrusted have nothing
    wait_until(
        lambda: len(sink.snapshot()) == 1 and len(hooks.snapshot()) == 1 and desks["true"].of("release"),
        8,
        "early copies",
    )
    assert datetime.now(UTC) < lift - timedelta(seconds=1), "too slow to observe the embargo window"
    early_mail = sink.snapshot()[0]
    assert early_mail.rcpt == ["true@x.example"] and "Embargo" in str(early_mail.message["Subject"])
    assert early_mail.at >= release_at.timestamp()
    hit = hooks.snapshot()[0]
    assert hit.path == "/true"
    assert json.loads(hit.body)["data"]["embargoedUntil"].startswith(lift.strftime("%Y-%m-%dT%H:%M:%S"))
    event = desks["true"].of("release")[0]
    assert event["embargoed"] is True and event["embargoed_until"].startswith(
        lift.strftime("%Y-%m-%dT%H:%M:%S")
    )
    assert desks["false"].of("release") == []

    def feed(who: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = httpx.get(
            f"{server.url}/feeds/private/{people[who]['feed_token']}.json"
        ).json()["items"]
        return items

    # the early copy says so in its title and, as data, when the embargo lifts
    early = feed("j-true")
    assert [i["title"].startswith("[Embargoed until ") for i in early] == [True]
    assert [i["_warta"]["embargoed_until"][:19] for i in early] == [lift.strftime("%Y-%m-%dT%H:%M:%S")]
    assert feed("j-false") == []
    assert httpx.get(f"{server.url}/releases/{rid}/en").status_code == 404

    # after the lift: everyone, the late copies unmarked
    wait_until(lambda: wire.settled(rid), 20, "the lift")
    mails = {m.rcpt[0]: m for m in sink.snapshot()}
    assert mails["false@x.example"].at >= lift.timestamp()
    assert "Embargo" not in str(mails["false@x.example"].message["Subject"])
    late_hit = next(h for h in hooks.snapshot() if h.path == "/false")
    assert late_hit.at >= lift.timestamp()
    wait_until(lambda: desks["false"].of("release"), 5, "the untrusted desk")
    assert desks["false"].of("release")[0]["embargoed"] is False
    assert desks["false"].events[0][0] >= lift.timestamp()
    assert [i["title"] for i in feed("j-false")] == [HEADLINES["en"]]
    for desk in desks.values():
        desk.stop()


def test_one_click_unsubscribe_stops_email_and_a_paused_recipient_gets_nothing(
    server_factory: Any, sink: SmtpSink, tmp_path: Path
) -> None:
    server, wire = _wire(server_factory, sink)
    rows = [
        {
            "kind": "journalist",
            "name": name,
            "country": "MY",
            "languages": "en",
            "email": f"{name}@x.example",
            "external_id": name,
        }
        for name in ("stays", "leaves", "pauses")
    ]
    wire.import_csv(audience(tmp_path / "a.csv", rows))
    people = {r["external_id"]: r for r in wire.recipients()}
    circuit = wire.circuit()
    first = wire.release(circuit, datetime.now(UTC))
    wait_until(lambda: wire.settled(first) and len(sink.snapshot()) == 3, 20, "first release")
    leaving = next(m for m in sink.snapshot() if m.rcpt == ["leaves@x.example"])
    url = str(leaving.message["List-Unsubscribe"]).strip("<>")
    assert url.startswith(server.url + "/unsubscribe/")
    # the one-click POST a mail client sends (RFC 8058)
    resp = httpx.post(
        url,
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code == 200 and "unsubscribed" in resp.text
    assert wire.editor.get(f"/api/v1/recipients/{people['leaves']['id']}").json()["status"] == "unsubscribed"
    forged = url[:-4] + "0000"
    assert httpx.post(forged, content=b"List-Unsubscribe=One-Click").status_code == 404
    assert (
        wire.editor.patch(
            f"/api/v1/recipients/{people['pauses']['id']}", json={"status": "paused"}
        ).status_code
        == 200
    )

    second = wire.release(circuit, datetime.now(UTC))
    wait_until(lambda: wire.settled(second), 20, "second release")
    got = [m.rcpt[0] for m in sink.snapshot()[3:]]
    assert got == ["stays@x.example"]
    assert {d["recipient_id"] for d in wire.ledger(second)} == {people["stays"]["id"]}


def test_webhook_targets_on_private_networks_are_refused_unless_allowlisted(
    server_factory: Any, sink: SmtpSink
) -> None:
    strict = server_factory(WARTA_SMTP_URL=sink.url)
    editor = Wire(strict).editor
    for url, word in (
        ("http://127.0.0.1:9/hook", "loopback"),
        ("http://localhost:9/hook", "loopback"),
        ("http://10.1.2.3/hook", "private"),
        ("http://192.168.0.10/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[::1]/hook", "loopback"),
        ("ftp://example.com/hook", "http"),
    ):
        resp = editor.post(
            "/api/v1/recipients",
            json={"kind": "outlet", "name": "O", "country": "MY", "languages": ["en"], "webhook_url": url},
        )
        assert resp.status_code == 422, (url, resp.text)
        err = resp.json()["error"]
        assert err["field"] == "webhook_url" and word in err["message"], (url, err)
    allowed = Wire(server_factory(WARTA_SMTP_URL=sink.url, WARTA_WEBHOOK_ALLOW="127.0.0.1")).editor
    resp = allowed.post(
        "/api/v1/recipients",
        json={
            "kind": "outlet",
            "name": "O",
            "country": "MY",
            "languages": ["en"],
            "webhook_url": "http://127.0.0.1:9/hook",
        },
    )
    assert resp.status_code == 201
    assert resp.json()["webhook_secret"].startswith("whsec_")


def test_a_correction_and_a_withdrawal_reach_everyone_who_got_the_release(
    server_factory: Any, sink: SmtpSink, hooks: WebhookReceiver, tmp_path: Path
) -> None:
    server, wire = _wire(server_factory, sink)
    rows = [
        {
            "kind": "journalist",
            "name": f"J{i}",
            "country": "MY",
            "languages": "en",
            "email": f"j{i}@x.example",
            "external_id": f"j{i}",
        }
        for i in range(10)
    ] + [
        {
            "kind": "outlet",
            "name": "O",
            "country": "MY",
            "languages": "en",
            "webhook_url": f"{hooks.url}/o",
            "external_id": "o",
        }
    ]
    wire.import_csv(audience(tmp_path / "a.csv", rows))
    circuit = wire.circuit()
    rid = wire.release(circuit, datetime.now(UTC))
    wait_until(lambda: wire.settled(rid) and len(sink.snapshot()) == 10, 20, "the release")
    fixed = "Pelabuhan Selatan opens a solar-powered container terminal in Port Klang"
    resp = wire.issuer.post(
        f"/api/v1/releases/{rid}/corrections", json={"note": "Names the port", "headline": fixed}
    )
    assert resp.status_code == 201
    wait_until(
        lambda: len(sink.snapshot()) == 20 and len(hooks.snapshot()) == 2 and wire.settled(rid),
        20,
        "the correction",
    )
    mails = sink.snapshot()
    for i in range(10):
        mine = [m for m in mails if m.rcpt == [f"j{i}@x.example"]]
        # the correction says so, and mail readers thread it with the first message
        assert [str(m.message["Subject"]) for m in mine] == [HEADLINES["en"], f"[Correction] {fixed}"]
        assert mine[0].message_id != mine[1].message_id
        assert mine[1].message["In-Reply-To"] == mine[0].message_id == mine[1].message["References"]
    bodies = [json.loads(h.body) for h in hooks.snapshot()]
    assert [(b["type"], b["data"]["version"]) for b in bodies] == [
        ("release.published", "1"),
        ("release.corrected", "2"),
    ]

    resp = wire.issuer.post(f"/api/v1/releases/{rid}/withdraw", json={"reason": "Issued in error"})
    assert resp.status_code == 200 and resp.json()["status"] == "withdrawn"
    wait_until(
        lambda: len(sink.snapshot()) == 30 and len(hooks.snapshot()) == 3, 20, "the withdrawal notices"
    )
    notices = sink.snapshot()[20:]
    assert sorted(m.rcpt[0] for m in notices) == sorted(f"j{i}@x.example" for i in range(10))
    assert all(m.message["X-Warta-Kind"] == "withdrawal" for m in notices)
    first = {m.rcpt[0]: m.message_id for m in mails if m.message["X-Warta-Version"] == "1"}
    assert all(m.message["In-Reply-To"] == first[m.rcpt[0]] for m in notices)
    withdrawal = json.loads(hooks.snapshot()[2].body)
    # a new version, so that a receiver keying on uri and version does not drop it as a copy
    assert withdrawal["type"] == "release.withdrawn"
    assert (withdrawal["data"]["pubStatus"], withdrawal["data"]["version"]) == ("canceled", "3")
    page = httpx.get(f"{server.url}/releases/{rid}/en")
    assert page.status_code == 410 and "withdrawn" in page.text
    assert rid not in httpx.get(f"{server.url}/feeds/atom.xml").text


def test_failed_deliveries_can_be_resent_and_gone_endpoints_are_disabled(
    server_factory: Any, sink: SmtpSink, tmp_path: Path
) -> None:
    broken = WebhookReceiver(fail_first=1000, fail_status=404).start()
    gone = WebhookReceiver(fail_first=1000, fail_status=410).start()
    try:
        server, wire = _wire(server_factory, sink)
        rows = [
            {
                "kind": "outlet",
                "name": "Broken",
                "country": "MY",
                "languages": "en",
                "webhook_url": f"{broken.url}/x",
                "external_id": "broken",
            },
            {
                "kind": "outlet",
                "name": "Gone",
                "country": "MY",
                "languages": "en",
                "webhook_url": f"{gone.url}/x",
                "external_id": "gone",
            },
        ]
        wire.import_csv(audience(tmp_path / "a.csv", rows))
        people = {r["external_id"]: r for r in wire.recipients()}
        rid = wire.release(wire.circuit(), datetime.now(UTC))
        wait_until(lambda: wire.settled(rid), 20, "the release")
        failed = {d["recipient_id"]: d for d in wire.ledger(rid, channel="webhook")}
        assert (
            failed[people["broken"]["id"]]["state"] == "failed"
            and "404" in failed[people["broken"]["id"]]["last_error"]
        )
        assert wire.editor.get(f"/api/v1/recipients/{people['gone']['id']}").json()["webhook_disabled"]
        assert len(broken.snapshot()) == 1 and len(gone.snapshot()) == 1  # permanent answers are not retried

        broken.fail_first = 0  # the outlet fixed its endpoint
        delivery = failed[people["broken"]["id"]]["id"]
        assert wire.editor.post(f"/api/v1/deliveries/{delivery}/resend").json()["state"] == "pending"
        wait_until(lambda: wire.settled(rid), 20, "the resend")
        assert {d["id"]: d["state"] for d in wire.ledger(rid, channel="webhook")}[delivery] == "delivered"
        ids = {h.headers["webhook-id"] for h in broken.snapshot()}
        assert ids == {delivery}
        assert wire.editor.post(f"/api/v1/deliveries/{delivery}/resend").status_code == 409
    finally:
        broken.stop()
        gone.stop()


def test_a_realtime_alert_brings_a_release_to_someone_outside_its_targets(
    server_factory: Any, sink: SmtpSink, tmp_path: Path
) -> None:
    server, wire = _wire(server_factory, sink)
    rows = [
        {
            "kind": "journalist",
            "name": "Watcher",
            "country": "FR",
            "languages": "fr;en",
            "email": "watch@x.example",
            "external_id": "w",
        },
        {
            "kind": "journalist",
            "name": "Other",
            "country": "FR",
            "languages": "fr",
            "email": "other@x.example",
            "external_id": "x",
        },
    ]
    wire.import_csv(audience(tmp_path / "a.csv", rows))
    people = {r["external_id"]: r for r in wire.recipients()}
    bad = wire.editor.post(f"/api/v1/recipients/{people['w']['id']}/alerts", json={"query": "NOT solar"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "query"
    ok = wire.editor.post(
        f"/api/v1/recipients/{people['w']['id']}/alerts",
        json={"query": '"container terminal" AND (solar OR wind)'},
    )
    assert ok.status_code == 201
    # in English the release says "container"; its Malay edition ("terminal kontena") would match
    miss = wire.editor.post(
        f"/api/v1/recipients/{people['x']['id']}/alerts",
        json={"query": "solar NOT container", "languages": ["en"]},
    )
    assert miss.status_code == 201
    # every edition is in place before the release goes out and is matched
    rid = wire.release(wire.circuit(), datetime.now(UTC) + timedelta(seconds=2))
    wait_until(lambda: wire.settled(rid) and len(sink.snapshot()) == 1, 20, "the alert delivery")
    mail = sink.snapshot()[0]
    assert mail.rcpt == ["watch@x.example"] and mail.message["Content-Language"] == "en"
    (row,) = wire.ledger(rid, channel="email")
    assert row["matched_by"] == f"alert:{ok.json()['id']}"


def test_a_batch_failing_as_one_opens_the_breaker_once() -> None:
    """Sixteen emails of one batch fail together (the relay is away): the breaker opens once, for
    its first cool-down, instead of reopening with the cool-down doubled for every five of them."""
    from warta.delivery.engine import Breaker

    breaker = Breaker()
    for _ in range(16):
        breaker.record(False)
    assert breaker.is_open()
    assert breaker.current == breaker.cooldown
    assert 0 < breaker.reopens_in() <= breaker.cooldown
    breaker.record(True)  # the relay answers again
    assert breaker.current == 0 and breaker.failures == 0
