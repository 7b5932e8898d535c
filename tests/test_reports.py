"""Delivery reports against a running `warta serve` with real SMTP and webhook receivers."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import Server, release_payload
from htmlcheck import assert_page_inert
from receivers import SmtpSink, WebhookReceiver
from test_distribution import Wire, wait_until, write_audience
from warta.reports.aggregate import bucket_timeline, percentile
from warta.reports.charts import bar_chart, stacked_bars, timeline
from warta.web.reports import check_report_token, report_token

SVG = "{http://www.w3.org/2000/svg}"
COUNTRIES = ["MY", "ID", "SG"]
LANGS = ["en", "ms"]
CHARTS = ("channels", "countries", "languages", "kinds", "timeline")


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    s = SmtpSink().start()
    yield s
    s.stop()


def audience(ok_url: str, broken_url: str) -> tuple[list[dict[str, str]], set[str]]:
    """100 recipients over 3 countries, 2 languages and 3 kinds; four outlets behind a 404."""
    rows: list[dict[str, str]] = []
    broken: set[str] = set()
    for i in range(100):
        country, lang = COUNTRIES[i % 3], LANGS[i % 2]
        row = {"name": f"Recipient {i}", "country": country, "languages": lang, "external_id": f"r{i}"}
        if i < 60:
            row.update(kind="journalist", email=f"r{i}@news{i % 5}.example")
        elif i < 90:
            url = f"{broken_url if i < 64 else ok_url}/hooks/{i}"
            if i < 64:
                broken.add(f"r{i}")
            row.update(kind="outlet", webhook_url=url, sectors="business")
        else:
            row.update(kind="desktop")
        rows.append(row)
    return rows, broken


def svg_root(resp: httpx.Response) -> ET.Element:
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(resp.content)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img" and root.get("aria-label")
    assert root.find(f"{SVG}title") is not None
    return root


def test_report_adds_up_and_is_only_for_the_issuer(
    server_factory: Any, smtp: SmtpSink, tmp_path: Path
) -> None:
    ok, gone = WebhookReceiver().start(), WebhookReceiver(fail_first=10**9, fail_status=404).start()
    try:
        server: Server = server_factory(
            WARTA_SMTP_URL=smtp.url, WARTA_WEBHOOK_ALLOW="127.0.0.1", WARTA_RETRY_BASE="0.3"
        )
        wire = Wire(server)
        rows, broken = audience(ok.url, gone.url)
        path = tmp_path / "audience.csv"
        write_audience(path, journalists=0, outlets=[], desktops=0, extra=rows)
        assert wire.import_csv(path)["created"] == 100
        circuit = wire.circuit()
        people = {r["external_id"]: r for r in wire.recipients()}

        release_at = datetime.now(UTC) + timedelta(seconds=2)
        rid = wire.release(circuit, release_at)
        wait_until(lambda: wire.settled(rid), 90, "every ledger row to settle")
        ledger = wire.ledger(rid)

        # how long a report takes is measured by the distribution benchmark (`delivery_report`)
        resp = wire.issuer.get(f"/api/v1/releases/{rid}/report")
        assert resp.status_code == 200, resp.text
        report = resp.json()

        # the totals add up, every way they are cut
        assert report["total"] == len(ledger) == 200
        assert sum(report["states"].values()) == report["total"]
        assert sum(c["total"] for c in report["channels"]) == report["total"]
        assert sum(sum(c["states"].values()) for c in report["channels"]) == report["total"]
        assert {k: v for k, v in report["states"].items() if v} == dict(Counter(d["state"] for d in ledger))
        by_channel = Counter((d["channel"], d["state"]) for d in ledger)
        for c in report["channels"]:
            for state, n in c["states"].items():
                assert by_channel[(c["channel"], state)] == n
        assert {c["channel"] for c in report["channels"]} == {"email", "webhook", "stream", "feed"}
        for key in ("countries", "languages", "recipient_kinds", "matched_by", "delivery_kinds"):
            assert sum(g["rows"] for g in report[key]) == report["total"], key
        assert sum(report["attempts"].values()) == report["total"]
        assert report["recipients"] == 100

        # countries, languages and kinds match the audience
        expected_country = Counter(r["country"] for r in rows)
        expected_lang = Counter(r["languages"] for r in rows)
        expected_kind = Counter(r["kind"] for r in rows)
        assert {g["key"]: g["recipients"] for g in report["countries"]} == expected_country
        assert {g["key"]: g["recipients"] for g in report["languages"]} == expected_lang
        assert {g["key"]: g["recipients"] for g in report["recipient_kinds"]} == expected_kind
        assert [(g["key"], g["rows"]) for g in report["matched_by"]] == [(f"circuit:{circuit}", 200)]
        assert {g["key"]: g["failed"] for g in report["recipient_kinds"]} == {
            "journalist": 0,
            "outlet": 4,
            "desktop": 0,
        }

        # the failed rows, with their error
        assert report["states"]["failed"] == len(broken) == 4
        failed = [d for d in ledger if d["state"] == "failed"]
        assert {d["recipient_id"] for d in failed} == {people[x]["id"] for x in broken}
        assert len(report["failures"]) == 1
        failure = report["failures"][0]
        assert failure["channel"] == "webhook" and failure["count"] == 4
        assert failure["error"].startswith("HTTP 404") and failure["error"] == failed[0]["last_error"]
        multi = [(d["channel"], d["attempts"], d["last_error"]) for d in ledger if d["attempts"] != 1]
        assert report["attempts"]["1"] == 200, multi

        # latency and timing
        delivered = [d for d in ledger if d["state"] == "delivered"]
        latency = report["latency"]
        assert latency["count"] == len(delivered) == 196
        assert 0 <= latency["p50"] <= latency["p95"] <= latency["max"] < 90
        assert set(latency["by_channel"]) == {"email", "webhook", "stream", "feed"}
        for name, per in latency["by_channel"].items():
            assert 0 <= per["p50"] <= per["p95"] <= per["max"] <= latency["max"], name
        assert sum(per["count"] for per in latency["by_channel"].values()) == latency["count"]
        first = datetime.fromisoformat(report["first_delivered_at"])
        last = datetime.fromisoformat(report["last_delivered_at"])
        assert release_at <= first <= last
        assert first == min(datetime.fromisoformat(d["delivered_at"]) for d in delivered)
        assert last == max(datetime.fromisoformat(d["delivered_at"]) for d in delivered)
        points = report["timeline"]["points"]
        assert 2 <= len(points) <= 61
        assert [n for _, n in points] == sorted(n for _, n in points)
        assert points[-1][1] == len(delivered)

        # the charts: well-formed SVG with the labels they are about
        texts, labels = {}, {}
        for chart in CHARTS:
            root = svg_root(wire.issuer.get(f"/api/v1/releases/{rid}/report/{chart}.svg"))
            texts[chart], labels[chart] = " ".join(root.itertext()), root.get("aria-label", "")
        assert all(c in texts["countries"] for c in COUNTRIES)
        assert all(re.search(rf"\b{lang}\b", texts["languages"]) for lang in LANGS)
        assert all(k in texts["kinds"] for k in ("journalist", "outlet", "desktop"))
        assert all(
            k in texts["channels"] for k in ("email", "webhook", "stream", "feed", "delivered", "failed")
        )
        assert "delivered" in texts["timeline"] and "196 delivered" in labels["timeline"]
        assert "MY 34" in labels["countries"] and "failed 4" in labels["channels"]
        assert wire.issuer.get(f"/api/v1/releases/{rid}/report/nope.svg").status_code == 404
        assert wire.editor.get(f"/api/v1/releases/{rid}/report").status_code == 200

        # nobody else: another organisation's issuer sees nothing, and a key is needed
        other = server.client(
            server.cli_json("admin", "create-org", "--name", "Lain Lain Sdn Bhd")["api_key"]
        )
        for path_ in ("report", "report/link", "report/countries.svg"):
            assert other.get(f"/api/v1/releases/{rid}/{path_}").status_code == 404, path_
            assert httpx.get(f"{server.url}/api/v1/releases/{rid}/{path_}").status_code == 401, path_
        assert other.get("/api/v1/releases/rel_nonexistent/report").status_code == 404

        # a release with nothing sent yet still has a report, of zeros
        held = other.post("/api/v1/releases", json=release_payload())
        assert held.status_code == 201, held.text
        empty = other.get(f"/api/v1/releases/{held.json()['id']}/report").json()
        assert empty["total"] == 0 and empty["latency"]["p50"] is None and empty["failures"] == []
        for chart in CHARTS:
            svg_root(other.get(f"/api/v1/releases/{held.json()['id']}/report/{chart}.svg"))

        # the signed link renders the page, with no key, no script and nothing from elsewhere
        link = wire.issuer.get(f"/api/v1/releases/{rid}/report/link").json()
        assert link["url"].startswith(f"{server.url}/reports/{rid}.")
        expires = datetime.fromisoformat(link["expires_at"])
        assert timedelta(days=6, hours=23) < expires - datetime.now(UTC) <= timedelta(days=7)
        page = httpx.get(link["url"])
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "no-store" in page.headers["cache-control"]
        html = page.text
        assert '<strong id="total">200</strong>' in html
        assert '<strong id="delivered">196</strong>' in html
        assert '<strong id="failed">4</strong>' in html
        assert "HTTP 404" in html and HEADLINE_EN in html
        assert html.count("<svg ") == len(CHARTS)
        assert not re.search(r"""(?:src|href|action)\s*=\s*["']?(?:https?:)?//""", html, re.I)
        # the page's own <style> and charts aside, nothing in it can run script; the charts are plain shapes
        inline = re.findall(r"<svg .*?</svg>", html, re.S)
        assert len(inline) == len(CHARTS)
        assert_page_inert(
            re.sub(r"<style>.*?</style>", "", re.sub(r"<svg .*?</svg>", "", html, flags=re.S), flags=re.S)
        )
        for svg in inline:
            for el in ET.fromstring(svg).iter():
                assert el.tag.removeprefix(SVG) in {"svg", "title", "rect", "text", "line", "path"}, el.tag
                assert not any(a.lower().startswith("on") or "href" in a for a in el.attrib), el.attrib
        for code in COUNTRIES:
            assert f"<td>{code}</td>" in html

        # a tampered, forged or expired link is no link
        token = link["url"].rsplit("/", 1)[1]
        secret = (server.data_dir / "secret.key").read_text().strip()
        assert check_report_token(secret, token) == rid
        rel, exp, sig = token.split(".")
        flipped = sig[:-1] + ("0" if sig[-1] != "0" else "1")
        bad = [
            f"{rel}.{exp}.{flipped}",
            f"{rel}.{int(exp) + 86400}.{sig}",
            f"{held.json()['id']}.{exp}.{sig}",
            report_token("not-the-secret", rid, int(exp)),
            report_token(secret, rid, int(time.time()) - 1),
            f"{rel}.{exp}",
            "nonsense",
        ]
        for forged in bad:
            resp = httpx.get(f"{server.url}/reports/{forged}")
            assert resp.status_code == 404, forged
            assert "200</strong>" not in resp.text
    finally:
        ok.stop()
        gone.stop()


HEADLINE_EN = "Pelabuhan Selatan opens a solar-powered container terminal"


# --- the pieces, without a server ---------------------------------------------------------------


def test_percentiles_and_buckets() -> None:
    assert percentile([], 50) is None
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 95) == 95 and percentile(values, 100) == 100
    assert percentile([3.0], 95) == 3.0
    line = bucket_timeline([0.2, 0.4, 1.5, 7.9, 7.9])
    assert line["step"] == 0.2 and line["points"][0] == (0, 0) and line["points"][-1] == (8.0, 5)
    assert [n for t, n in line["points"] if t in (0.2, 0.4, 1.6, 7.8)] == [1, 2, 3, 3]
    single = bucket_timeline([3.0])["points"]
    assert len(single) == 61 and single[-1] == (3.0, 1) and single[-2][1] == 0
    long = bucket_timeline([float(s) for s in range(0, 5000, 7)])
    assert len(long["points"]) <= 61 and long["points"][-1][1] == len(range(0, 5000, 7))
    assert bucket_timeline([]) == {"step": 1, "points": []}


def test_charts_are_valid_escaped_svg() -> None:
    hostile = "<script>alert(1)</script> & \"quotes\" 'x' \x00\x07"
    charts = [
        bar_chart(hostile, [(hostile, 3), ("中文标签", 1), ("zero", 0)]),
        bar_chart("Nothing", []),
        stacked_bars(hostile, [(hostile, {"delivered": 5, "failed": 1}), ("b", {"weird<state>": 2})]),
        stacked_bars("Nothing", []),
        timeline(hostile, [(0, 0), (1, 4), (2, 9), (30, 10)]),
        timeline("Nothing", []),
        timeline("One moment", [(0, 7)]),
    ]
    for svg in charts:
        assert "<script" not in svg and "\x00" not in svg
        root = ET.fromstring(svg)
        assert root.tag == f"{SVG}svg" and root.get("role") == "img"
        title = root.find(f"{SVG}title")
        assert title is not None and title.text
        assert float(root.get("width") or 0) > 0 and float(root.get("height") or 0) > 0
    assert "<script>alert(1)</script>" in ET.fromstring(charts[0]).findtext(f"{SVG}title", "")
    assert "中文标签" in " ".join(ET.fromstring(charts[0]).itertext())
