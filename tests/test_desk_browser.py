"""The live desk (/desk) in headless Chromium: releases appear on time, in their language, and only
for the desktops they were sent to; a bad or missing token says so on the page."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Request, expect

from test_browser import ARABIC_BODY, ARABIC_HEADLINE, Watched
from test_distribution import HEADLINES, Wire, write_audience

pytestmark = pytest.mark.browser

LEAD = 3.0  # seconds between submitting a release and its release time
WINDOW = 1.0  # a desk must show the release within this many seconds of its release time
# the desk keeps its token in a cookie: the stream's URL carries none
UNAUTHORISED = re.compile(r"^console error: .*status of 401 .*/api/v1/stream(?![?\w/])")
STREAM_ABORTED = re.compile(r"^request failed: GET \S+/api/v1/stream: net::ERR_ABORTED$")

# Records when each desk item is inserted, on the page's own clock (Unix milliseconds).
WATCH_ITEMS = """
() => {
  window.deskArrivals = [];
  const list = document.getElementById("desk-items");
  new MutationObserver((records) => {
    const at = performance.timeOrigin + performance.now();
    for (const record of records) {
      for (const node of record.addedNodes) {
        const heading = node.querySelector && node.querySelector("h2");
        window.deskArrivals.push({at, headline: heading ? heading.textContent : ""});
      }
    }
  }).observe(list, {childList: true});
}
"""


@dataclass
class DeskPage(Watched):
    """One desktop's /desk page, with whatever went wrong on it (a missing favicon aside)."""

    def on_requestfailed(self, req: Request) -> None:
        if not req.url.endswith("/favicon.ico"):
            super().on_requestfailed(req)

    @property
    def items(self) -> Any:
        return self.page.locator("#desk-items > li.desk-item")

    def open(self, url: str) -> DeskPage:
        response = self.page.goto(url, wait_until="load")
        assert response is not None and response.status == 200, f"{url}: {response and response.status}"
        assert self.page.locator("html").get_attribute("lang") == "en"
        return self

    def wait_live(self, name: str) -> None:
        expect(self.page.locator("#desk-status")).to_have_attribute("data-state", "live")
        expect(self.page.locator("#desk-status")).to_have_text("Live")
        expect(self.page.locator("#desk-who")).to_have_text(f"Connected as {name}")
        expect(self.page.locator("#desk-empty")).to_be_visible()
        assert self.items.count() == 0
        self.page.evaluate(WATCH_ITEMS)

    def arrivals(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.page.evaluate("() => window.deskArrivals")
        return found


@pytest.fixture
def desk_page(browser: Browser) -> Iterator[Any]:
    """A factory of desk pages, each in a browser context of its own."""
    contexts = []

    def make() -> DeskPage:
        context = browser.new_context(locale="en-GB")
        context.set_default_timeout(10_000)
        contexts.append(context)
        desk = DeskPage(context.new_page())
        desk.page.on("console", desk.on_console)
        desk.page.on("pageerror", desk.on_pageerror)
        desk.page.on("requestfailed", desk.on_requestfailed)
        return desk

    yield make
    for context in contexts:
        context.close()


def desktop(name: str, country: str, languages: str) -> dict[str, str]:
    return {"kind": "desktop", "name": name, "country": country, "languages": languages, "external_id": name}


def audience(wire: Wire, tmp_path: Path, rows: list[dict[str, str]]) -> dict[str, dict[str, Any]]:
    """Import the rows with `warta recipients import`; the recipients by external id."""
    path = tmp_path / "desks.csv"
    write_audience(path, journalists=0, outlets=[], desktops=0, extra=rows)
    summary = wire.import_csv(path)
    assert summary["created"] == len(rows) and summary["errors"] == [], summary
    return {r["external_id"]: r for r in wire.recipients()}


def circuit(wire: Wire, countries: list[str], languages: list[str]) -> str:
    resp = wire.editor.post(
        "/api/v1/circuits", json={"name": "Desk test", "countries": countries, "languages": languages}
    )
    assert resp.status_code == 201, resp.text
    slug: str = resp.json()["slug"]
    return slug


def stream_url(server_url: str, recipient: dict[str, Any]) -> str:
    token = recipient["stream_token"]
    assert token
    return f"{server_url}/desk?token={token}"


def test_desk_shows_a_release_within_a_second_of_its_release_time(
    server_factory: Any, desk_page: Any, tmp_path: Path
) -> None:
    server = server_factory()
    wire = Wire(server)
    people = audience(
        wire,
        tmp_path,
        [
            desktop("Meja Malaysia", "MY", "ms;en"),
            desktop("KL English Desk", "MY", "en"),
            desktop("Bureau de Paris", "FR", "fr;en"),
        ],
    )
    slug = circuit(wire, ["MY", "SG"], ["ms", "en"])

    malay, english, paris = desk_page(), desk_page(), desk_page()
    for desk, who in ((malay, "Meja Malaysia"), (english, "KL English Desk"), (paris, "Bureau de Paris")):
        desk.open(stream_url(server.url, people[who]))
        desk.wait_live(who)

    release_at = datetime.now(UTC) + timedelta(seconds=LEAD)
    rid = wire.release(slug, release_at)
    submitted = time.time()
    assert submitted < release_at.timestamp() - 0.5, "submitting took too long to test the release time"
    released = release_at.timestamp()

    for desk, lang in ((malay, "ms"), (english, "en")):
        expect(desk.items.filter(has_text=HEADLINES[lang])).to_have_count(1, timeout=(LEAD + 5) * 1000)
    seen_by_test = time.time()

    delays: dict[str, float] = {}
    for desk, lang in ((malay, "ms"), (english, "en")):
        arrivals = desk.arrivals()
        assert [a["headline"] for a in arrivals] == [HEADLINES[lang]]
        delay = arrivals[0]["at"] / 1000 - released
        delays[lang] = delay
        assert 0 <= delay <= WINDOW, f"{lang} desk showed the release {delay:+.3f} s after its release time"
        assert desk.items.count() == 1
        item = desk.items.first
        assert item.get_attribute("lang") == lang
        assert item.get_attribute("dir") == "ltr"
        assert item.get_attribute("data-release") == rid
        link = item.locator("h2 a")
        assert link.inner_text() == HEADLINES[lang]
        assert link.get_attribute("href") == f"{server.url}/releases/{rid}/{lang}"
        assert item.locator(".desk-badge").inner_text().lower() == lang.lower()
        assert "Pelabuhan Selatan Berhad" in item.locator("p.meta").first.inner_text()
        expect(desk.page.locator("#desk-empty")).to_be_hidden()
        expect(desk.page.locator("#desk-status")).to_have_attribute("data-state", "live")
    assert seen_by_test - released <= WINDOW + 1.0, "the item was not visible to the test in time"
    print(f"\ndesk delay after release_at: ms {delays['ms']:.3f} s, en {delays['en']:.3f} s")

    # The desktop outside the circuit gets nothing: no ledger row, nothing on its page.
    recipients = {row["recipient_id"] for row in wire.ledger(rid)}
    assert people["Meja Malaysia"]["id"] in recipients and people["KL English Desk"]["id"] in recipients
    assert people["Bureau de Paris"]["id"] not in recipients
    paris.page.wait_for_timeout(1_500)
    assert paris.items.count() == 0 and paris.arrivals() == []
    expect(paris.page.locator("#desk-empty")).to_be_visible()
    expect(paris.page.locator("#desk-status")).to_have_attribute("data-state", "live")

    for desk in (malay, english, paris):
        assert desk.problems == [], "\n".join(desk.problems)

    # The headline opens the edition page; leaving the desk ends its stream request, nothing else.
    malay.items.first.locator("h2 a").click()
    malay.page.wait_for_url(f"{server.url}/releases/{rid}/ms")
    assert malay.page.locator("html").get_attribute("lang") == "ms"
    assert malay.page.locator("article.release h1").inner_text() == HEADLINES["ms"]
    unexpected = [p for p in malay.problems if not STREAM_ABORTED.search(p)]
    assert unexpected == [], "\n".join(unexpected)


def test_desk_shows_an_arabic_release_right_to_left(
    server_factory: Any, desk_page: Any, tmp_path: Path
) -> None:
    server = server_factory()
    wire = Wire(server)
    people = audience(wire, tmp_path, [desktop("مكتب دبي", "AE", "ar;en")])
    slug = circuit(wire, ["AE"], ["ar"])
    desk = desk_page().open(stream_url(server.url, people["مكتب دبي"]))
    desk.wait_live("مكتب دبي")

    rid = wire.release(
        slug,
        datetime.now(UTC) + timedelta(seconds=1),
        headline=ARABIC_HEADLINE,
        summary="المشروع بقيمة 180 مليون درهم سيزوّد أكثر من 12 ألف منزل بالكهرباء النظيفة.",
        body=ARABIC_BODY,
        language="ar",
        dateline={"city": "دبي", "country": "AE"},
    )
    item = desk.items.filter(has_text=ARABIC_HEADLINE)
    expect(item).to_have_count(1, timeout=10_000)
    assert item.get_attribute("lang") == "ar"
    assert item.get_attribute("dir") == "rtl"
    assert item.evaluate("el => getComputedStyle(el).direction") == "rtl"
    assert item.locator("h2").evaluate("el => getComputedStyle(el).direction") == "rtl"
    assert item.locator("h2 a").get_attribute("href") == f"{server.url}/releases/{rid}/ar"
    assert "دبي" in item.locator("p.meta").first.inner_text()
    assert desk.page.locator("html").get_attribute("dir") == "ltr"
    assert desk.problems == [], "\n".join(desk.problems)


def test_desk_with_a_bad_or_missing_token_says_so(server_factory: Any, desk_page: Any) -> None:
    server = server_factory()

    bad = desk_page().open(f"{server.url}/desk?token=not-a-real-token")
    status = bad.page.locator("#desk-status")
    expect(status).to_have_attribute("data-state", "closed")
    expect(status).to_have_text("Disconnected. Check the stream token and reload the page.")
    expect(status).to_be_visible()
    expect(bad.page.locator("#desk-who")).to_be_hidden()
    expect(bad.page.locator("#desk-empty")).to_be_hidden()
    assert bad.items.count() == 0
    # The only complaints are the browser's own about the refused stream request.
    deadline = time.monotonic() + 5
    while not bad.problems and time.monotonic() < deadline:
        bad.page.wait_for_timeout(50)
    assert any(UNAUTHORISED.search(p) for p in bad.problems), "\n".join(bad.problems)
    unexpected = [p for p in bad.problems if not (UNAUTHORISED.search(p) or STREAM_ABORTED.search(p))]
    assert unexpected == [], "\n".join(unexpected)

    missing = desk_page().open(f"{server.url}/desk")
    status = missing.page.locator("#desk-status")
    expect(status).to_have_attribute("data-state", "closed")
    expect(status).to_have_text("Open this page with your stream token: /desk?token=…")
    expect(missing.page.locator("#desk-empty")).to_be_hidden()
    assert missing.problems == [], "\n".join(missing.problems)
