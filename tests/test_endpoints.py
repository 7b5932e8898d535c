"""Endpoints: a recipient with two webhook URLs and two email addresses gets a release on all four,
each once, against a running `warta serve` with real receivers; a 410 from one webhook disables
that endpoint only; the endpoint routes check what they are given as the recipient's fields are."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from receivers import SmtpSink, WebhookReceiver
from test_distribution import Wire, wait_until


@pytest.fixture
def sink() -> Any:
    s = SmtpSink().start()
    yield s
    s.stop()


def _outlet(wire: Wire, hook: str) -> dict[str, Any]:
    made = wire.editor.post(
        "/api/v1/recipients",
        json={
            "kind": "outlet",
            "name": "Harian Dua Alamat",
            "country": "MY",
            "languages": ["en"],
            "email": "desk@harian.example",
            "webhook_url": hook,
        },
    )
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    return body


def test_every_endpoint_gets_the_release_once_and_a_gone_one_is_disabled_alone(
    server_factory: Any, sink: SmtpSink
) -> None:
    good = WebhookReceiver().start()
    gone = WebhookReceiver(fail_first=1000, fail_status=410).start()
    try:
        server = server_factory(
            WARTA_SMTP_URL=sink.url, WARTA_WEBHOOK_ALLOW="127.0.0.1", WARTA_RETRY_BASE="0.2"
        )
        wire = Wire(server)
        outlet = _outlet(wire, f"{good.url}/first")
        rid = outlet["id"]
        # the shorthand made an email, a webhook and the private feed
        assert sorted(e["channel"] for e in outlet["endpoints"]) == ["email", "feed", "webhook"]
        assert all(e.get("secret") is None for e in outlet["endpoints"])  # listed without their secrets
        second = wire.editor.post(
            f"/api/v1/recipients/{rid}/endpoints",
            json={"channel": "webhook", "address": f"{gone.url}/second", "format": "newsml"},
        )
        assert second.status_code == 201, second.text
        assert second.json()["secret"].startswith("whsec_")  # shown once, in this answer
        assert "no-store" in second.headers["cache-control"]
        mail = wire.editor.post(
            f"/api/v1/recipients/{rid}/endpoints",
            json={"channel": "email", "address": "redaksi@harian.example"},
        )
        assert mail.status_code == 201, mail.text
        listed = wire.editor.get(f"/api/v1/recipients/{rid}/endpoints").json()["items"]
        assert Counter(e["channel"] for e in listed) == {"email": 2, "webhook": 2, "feed": 1}
        assert all(e.get("secret") is None for e in listed)

        circuit = wire.circuit()
        release = wire.release(circuit, datetime.now(UTC))
        wait_until(lambda: wire.settled(release), 30, "the release")
        rows = [d for d in wire.ledger(release) if d["recipient_id"] == rid]
        assert Counter(d["channel"] for d in rows) == {"email": 2, "webhook": 2, "feed": 1}
        assert len({d["endpoint_id"] for d in rows}) == 5  # a row per endpoint
        # each address got its message once
        wait_until(lambda: len(sink.snapshot()) >= 2, 10, "two emails")
        assert sorted(r for m in sink.snapshot() for r in m.rcpt) == [
            "desk@harian.example",
            "redaksi@harian.example",
        ]
        assert sink.duplicates() == {}
        assert [h.path for h in good.snapshot()] == ["/first"]
        assert [h.path for h in gone.snapshot()] == ["/second"]
        assert "application/vnd.iptc.g2.newsitem+xml" in gone.snapshot()[0].headers["content-type"]
        by_endpoint = {d["endpoint_id"]: d for d in rows}
        assert by_endpoint[second.json()["id"]]["state"] == "failed"
        assert {d["state"] for k, d in by_endpoint.items() if k != second.json()["id"]} == {"delivered"}

        # the 410 disabled that endpoint, not the recipient nor its other webhook
        after = {e["id"]: e for e in wire.editor.get(f"/api/v1/recipients/{rid}/endpoints").json()["items"]}
        assert after[second.json()["id"]]["state"] == "disabled"
        assert "410" in after[second.json()["id"]]["disabled_reason"]
        assert {e["state"] for k, e in after.items() if k != second.json()["id"]} == {"active"}
        assert wire.editor.get(f"/api/v1/recipients/{rid}").json()["status"] == "active"

        # the next release goes to the three that still take it
        again = wire.release(circuit, datetime.now(UTC))
        wait_until(lambda: wire.settled(again), 30, "the second release")
        wait_until(lambda: len(good.snapshot()) == 2 and len(sink.snapshot()) == 4, 10, "the second copies")
        assert len(gone.snapshot()) == 1
        assert sink.duplicates() == {}
    finally:
        good.stop()
        gone.stop()


def test_endpoint_routes_check_what_they_are_given(server_factory: Any, sink: SmtpSink) -> None:
    server = server_factory(WARTA_SMTP_URL=sink.url, WARTA_WEBHOOK_ALLOW="127.0.0.1")
    wire = Wire(server)
    outlet = _outlet(wire, "http://127.0.0.1:9/hook")
    rid = outlet["id"]
    base = f"/api/v1/recipients/{rid}/endpoints"
    for body, fld in (
        ({"channel": "email", "address": "not an address"}, "address"),
        ({"channel": "webhook", "address": "http://169.254.169.254/latest"}, "address"),
        ({"channel": "webhook", "address": "ftp://hooks.example/x"}, "address"),
        ({"channel": "email", "address": "a@b.example", "format": "ninjs"}, "format"),
        ({"channel": "feed", "address": "x"}, "channel"),
    ):
        resp = wire.editor.post(base, json=body)
        assert resp.status_code == 422, (body, resp.text)
        assert fld in str(resp.json()), (body, resp.text)
    assert len(wire.editor.get(base).json()["items"]) == 3  # nothing was added by the refusals

    hook = next(e for e in outlet["endpoints"] if e["channel"] == "webhook")
    moved = wire.editor.patch(f"{base}/{hook['id']}", json={"address": "http://127.0.0.1:9/moved"})
    assert moved.status_code == 200 and moved.json()["address"] == "http://127.0.0.1:9/moved"
    refused = wire.editor.patch(f"{base}/{hook['id']}", json={"address": "http://10.1.2.3/x"})
    assert refused.status_code == 422 and "address" in refused.text
    assert wire.editor.delete(f"{base}/{hook['id']}").status_code == 204
    assert wire.editor.patch(f"{base}/{hook['id']}", json={"format": "ninjs"}).status_code == 404
    left = wire.editor.get(base).json()["items"]
    assert sorted(e["channel"] for e in left) == ["email", "feed"]
    other = _outlet(wire, "http://127.0.0.1:9/other")
    foreign = next(e for e in other["endpoints"] if e["channel"] == "webhook")
    assert wire.editor.delete(f"{base}/{foreign['id']}").status_code == 404  # not this recipient's
    # issuers do not manage recipients
    assert wire.issuer.get(base).status_code == 403
