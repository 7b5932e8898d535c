"""Distribution end to end, against a running `warta serve` and real receivers on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.harness import write_csv
from standardwebhooks.webhooks import Webhook

from cluster import Cluster
from conftest import MODES, Server
from receivers import SmtpSink, SseClient, WebhookReceiver

COUNTRIES = ["MY", "ID", "SG", "TH", "VN", "PH", "JP", "KR", "AU", "IN"]
LANGS = ["en", "ms", "id", "zh-Hans"]
HEADLINES = {
    "en": "Pelabuhan Selatan opens a solar-powered container terminal",
    "ms": "Pelabuhan Selatan buka terminal kontena berkuasa solar",
    "id": "Pelabuhan Selatan membuka terminal peti kemas bertenaga surya",
    "zh-Hans": "南方港口启用太阳能集装箱码头",
}
BODY = {
    "en": "Pelabuhan Selatan Berhad today opened a container terminal whose cranes run on solar power. " * 6,
    "ms": "Pelabuhan Selatan Berhad hari ini membuka terminal kontena yang krennya digerakkan tenaga solar. "
    * 6,
    "id": "Pelabuhan Selatan Berhad hari ini membuka terminal peti kemas yang derek-dereknya bertenaga surya. "
    * 6,
    "zh-Hans": "南方港口公司今天启用一座集装箱码头，其起重机由太阳能驱动。" * 6,
}


pytestmark = pytest.mark.parametrize("mode", MODES, indirect=True)


def wait_until(predicate: Any, timeout: float, what: str, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


AUDIENCE_FIELDS = [
    "kind",
    "name",
    "country",
    "languages",
    "sectors",
    "email",
    "webhook_url",
    "embargo_trusted",
    "status",
    "external_id",
]


def write_audience(
    path: Path, journalists: int, outlets: list[str], desktops: int, extra: list[dict[str, str]]
) -> None:
    """A recipients CSV: `journalists` by email, an outlet per webhook URL, `desktops` live desks (spread
    over ten countries and four languages), then the `extra` rows as they are."""
    rows = [
        {
            "kind": "journalist",
            "name": f"Journalist {i}",
            "country": COUNTRIES[i % 10],
            "languages": LANGS[i % 4] + ";en",
            "email": f"j{i}@news{i % 7}.example",
            "external_id": f"j{i}",
        }
        for i in range(journalists)
    ]
    rows += [
        {
            "kind": "outlet",
            "name": f"Outlet {i}",
            "country": COUNTRIES[i % 10],
            "languages": LANGS[(i + 1) % 4],
            "sectors": "business;medtop:04000000",
            "webhook_url": url,
            "external_id": f"o{i}",
        }
        for i, url in enumerate(outlets)
    ]
    rows += [
        {
            "kind": "desktop",
            "name": f"Desk {i}",
            "country": COUNTRIES[i % 10],
            "languages": LANGS[(i + 2) % 4],
            "external_id": f"d{i}",
        }
        for i in range(desktops)
    ]
    write_csv([*rows, *extra], path, AUDIENCE_FIELDS)


def assert_every_email_arrived_or_is_flagged(
    rows: list[dict[str, Any]], mails: list[Any], connections: int
) -> None:
    """Each delivered email row has its message at the sink, except rows a crash caught between the
    `committing` mark and the final dot, or whose final dot got no answer because the server went
    away: those count as delivered (never sent twice) and say so in the ledger — at most one per
    SMTP connection that was open at the crash."""
    arrived = {m.message_id.strip("<>").split("@")[0] for m in mails}
    assert len(arrived) == len(mails), "an email arrived twice"
    missing = [d for d in rows if d["id"] not in arrived]
    flags = (
        "settled as delivered after a restart",
        "no reply after the end of data",
        "the sending process ended after the commit point",
    )
    unsure = [d for d in missing if any(flag in (d["last_error"] or "") for flag in flags)]
    assert missing == unsure, f"emails missing without a word in the ledger: {missing[:3]}"
    assert len(unsure) <= connections, f"{len(unsure)} rows settled unsure"


class Wire:
    """A running server with an editor, a trusted issuer and helpers to drive a release."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.editor = server.client(
            server.cli_json("admin", "create-user", "--role", "editor", "--name", "Desk")["api_key"]
        )
        org = server.cli_json(
            "admin", "create-org", "--name", "Pelabuhan Selatan Berhad", "--verified", "--auto-approve"
        )
        self.issuer = server.client(org["api_key"])

    def import_csv(self, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.server.cli("recipients", "import", str(path), "--json").stdout)
        return out

    def recipients(self, **params: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            page = self.editor.get(
                "/api/v1/recipients", params={**params, "limit": 1000, "offset": len(items)}
            ).json()
            items += page["items"]
            if len(items) >= page["total"]:
                return items

    def circuit(self) -> str:
        resp = self.editor.post(
            "/api/v1/circuits",
            json={"name": "Asia-Pacific — business", "countries": COUNTRIES, "languages": LANGS},
        )
        assert resp.status_code == 201, resp.text
        slug: str = resp.json()["slug"]
        return slug

    def release(self, circuit: str, release_at: datetime, **extra: Any) -> str:
        payload = {
            "headline": HEADLINES["en"],
            "summary": "Cranes and yard vehicles run on rooftop solar and batteries.",
            "body": BODY["en"],
            "language": "en",
            "dateline": {"city": "Kuala Lumpur", "country": "MY"},
            "sectors": ["business", "medtop:04000000"],
            "contact": {"name": "Aisyah Rahman", "email": "media@pelabuhan.example"},
            "about": "Pelabuhan Selatan Berhad runs container terminals in Malaysia.",
            "targets": {"circuits": [circuit]},
            "release_at": release_at.isoformat(),
            **extra,
        }
        resp = self.issuer.post("/api/v1/releases", json=payload)
        assert resp.status_code == 201, resp.text
        rid: str = resp.json()["id"]
        assert resp.json()["status"] == "approved"
        for lang in ("ms", "id", "zh-Hans"):
            put = self.issuer.put(
                f"/api/v1/releases/{rid}/editions/{lang}",
                json={"headline": HEADLINES[lang], "body": BODY[lang]},
            )
            assert put.status_code == 200, put.text
        return rid

    def ledger(self, rid: str, **params: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            page = self.editor.get(
                f"/api/v1/releases/{rid}/deliveries", params={**params, "limit": 1000, "offset": len(items)}
            ).json()
            items += page["items"]
            if len(items) >= page["total"]:
                return items

    def settled(self, rid: str) -> bool:
        states = Counter(d["state"] for d in self.ledger(rid))
        return bool(states) and set(states) <= {"delivered", "failed", "cancelled"}


@pytest.fixture
def sink() -> Any:
    s = SmtpSink().start()
    yield s
    s.stop()


def test_circuit_release_reaches_each_recipient_once_in_its_language(
    server_factory: Any, sink: SmtpSink, tmp_path: Path
) -> None:
    ok, flaky = WebhookReceiver().start(), WebhookReceiver(fail_first=2).start()
    try:
        server = server_factory(
            WARTA_SMTP_URL=sink.url, WARTA_WEBHOOK_ALLOW="127.0.0.1", WARTA_RETRY_BASE="0.3"
        )
        wire = Wire(server)
        outlets = [f"{(ok if i % 2 else flaky).url}/hooks/{i}" for i in range(60)]
        extra = [
            {
                "kind": "journalist",
                "name": "Paused",
                "country": "MY",
                "languages": "en",
                "email": "paused@x.example",
                "status": "paused",
                "external_id": "p",
            },
            {
                "kind": "journalist",
                "name": "Elsewhere",
                "country": "FR",
                "languages": "fr",
                "email": "fr@x.example",
                "external_id": "fr",
            },
            {
                "kind": "journalist",
                "name": "Broken",
                "country": "ZZ",
                "languages": "en",
                "email": "bad",
                "external_id": "bad",
            },
        ]
        audience = tmp_path / "audience.csv"
        write_audience(audience, journalists=900, outlets=outlets, desktops=40, extra=extra)
        summary = wire.import_csv(audience)
        assert summary["created"] == 1002 and [e["line"] for e in summary["errors"]] == [1004]
        assert summary["errors"][0]["field"] == "country"
        circuit = wire.circuit()
        people = {r["external_id"]: r for r in wire.recipients()}
        desks = [SseClient(server.stream_url(i), people[f"d{i}"]["stream_token"]).start() for i in range(3)]

        release_at = datetime.now(UTC) + timedelta(seconds=5)
        rid = wire.release(circuit, release_at)
        wait_until(lambda: wire.settled(rid), 90, "every ledger row to settle")
        released = release_at.timestamp()

        rows = wire.ledger(rid)
        assert Counter(d["state"] for d in rows) == Counter({"delivered": len(rows)})
        by_recipient: dict[str, Counter[str]] = {}
        for d in rows:
            by_recipient.setdefault(d["recipient_id"], Counter())[d["channel"]] += 1
        assert people["p"]["id"] not in by_recipient and people["fr"]["id"] not in by_recipient
        assert len(by_recipient) == 1000
        expected = {
            "journalist": {"email": 1, "feed": 1},
            "outlet": {"webhook": 1, "feed": 1},
            "desktop": {"stream": 1, "feed": 1},
        }
        for r in people.values():
            if r["id"] in by_recipient:
                assert by_recipient[r["id"]] == Counter(expected[r["kind"]]), r

        # email: once each, in the recipient's first language, never before release time
        mails = sink.snapshot()
        assert len(mails) == 900 and not sink.duplicates()
        by_rcpt = Counter(a for m in mails for a in m.rcpt)
        assert set(by_rcpt.values()) == {1} and len(by_rcpt) == 900
        for m in mails:
            i = int(m.rcpt[0].split("@")[0][1:])
            lang = LANGS[i % 4]
            assert m.message["Content-Language"] == lang
            assert HEADLINES[lang] in str(m.message["Subject"])
            assert m.at >= released
            assert m.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

        # webhooks: one delivery per outlet; the flaky receiver's third attempt carries the same id
        secrets = {f"/hooks/{i}": people[f"o{i}"]["webhook_secret"] for i in range(60)}
        ok_hits, flaky_hits = ok.snapshot(), flaky.snapshot()
        assert len(ok_hits) == 30 and len({h.headers["webhook-id"] for h in ok_hits}) == 30
        attempts = Counter(h.headers["webhook-id"] for h in flaky_hits)
        assert len(attempts) == 30 and set(attempts.values()) == {3}
        for hit in ok_hits + flaky_hits:
            assert hit.at >= released
            Webhook(secrets[hit.path]).verify(hit.body, hit.headers)
            item = json.loads(hit.body)["data"]  # the ninjs, in a Standard Webhooks envelope
            outlet = int(hit.path.rsplit("/", 1)[1])
            assert item["language"] == LANGS[(outlet + 1) % 4]
        for webhook_id in attempts:
            statuses = [h.status for h in flaky_hits if h.headers["webhook-id"] == webhook_id]
            assert statuses == [503, 503, 200]

        # live desktops got the release once, in their language
        for i, desk in enumerate(desks):
            got = desk.of("release")
            assert len(got) == 1 and got[0]["release_id"] == rid and got[0]["lang"] == LANGS[(i + 2) % 4]
            desk.stop()

        # a private feed lists the release for its recipient
        feed = httpx.get(f"{server.url}/feeds/private/{people['j1']['feed_token']}.json").json()
        assert [item["title"] for item in feed["items"]] == [HEADLINES["ms"]]
    finally:
        ok.stop()
        flaky.stop()


def test_sigkill_mid_fanout_loses_nothing_and_sends_nothing_twice(
    server_factory: Any, sink: SmtpSink, tmp_path: Path
) -> None:
    server = server_factory(WARTA_SMTP_URL=sink.url, WARTA_SMTP_POOL="8")
    wire = Wire(server)
    audience = tmp_path / "audience.csv"
    write_audience(audience, journalists=2000, outlets=[], desktops=0, extra=[])
    assert wire.import_csv(audience)["created"] == 2000
    circuit = wire.circuit()
    rid = wire.release(circuit, datetime.now(UTC) + timedelta(seconds=1))
    wait_until(lambda: len(sink.snapshot()) >= 300, 60, "the fan-out to be under way", every=0.01)
    if isinstance(server, Cluster):
        server.kill_all()  # the whole wire at once: API, every worker and gateway
    else:
        assert server.proc is not None
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(10)
    at_kill = len(sink.snapshot())
    assert at_kill < 2000, "the fan-out finished before the kill; nothing was tested"
    server.start()
    wait_until(lambda: wire.settled(rid), 120, "the fan-out to finish after the restart")
    rows = wire.ledger(rid, channel="email")
    assert len(rows) == 2000 and {d["state"] for d in rows} == {"delivered"}
    mails = sink.snapshot()
    assert not sink.duplicates(), f"duplicates by Message-ID: {list(sink.duplicates().items())[:5]}"
    assert_every_email_arrived_or_is_flagged(
        rows, mails, connections=8 * (2 if isinstance(server, Cluster) else 1)
    )
