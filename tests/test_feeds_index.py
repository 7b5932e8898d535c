"""`/feeds` lists the wire's feeds and their filters; a correction's note shows on the release page."""

from __future__ import annotations

import re
import time

import feedparser

from conftest import Server, release_payload


def published_release(server: Server) -> tuple[str, str]:
    org = server.cli_json(
        "admin",
        "create-org",
        "--name",
        "Syarikat Contoh Berhad",
        "--domain",
        "contoh.example",
        "--verified",
        "--auto-approve",
        "--about",
        "Syarikat Contoh Berhad ialah pengendali pusat data di Malaysia.",
    )
    with server.client(org["api_key"]) as issuer:
        created = issuer.post("/api/v1/releases", json=release_payload())
        assert created.status_code == 201, created.text
        release_id = created.json()["id"]
        deadline = time.monotonic() + 20
        while issuer.get(f"/api/v1/releases/{release_id}").json()["status"] != "published":
            assert time.monotonic() < deadline, "the release was never published"
            time.sleep(0.2)
    return release_id, org["api_key"]


def test_feeds_is_an_index_of_every_feed_and_filter(server: Server) -> None:
    published_release(server)
    with server.client() as client:
        page = client.get("/feeds")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        links = set(re.findall(r'href="(/feeds/[^"]+)"', page.text))
        for name in ("rss.xml", "atom.xml", "feed.json"):
            assert f"/feeds/{name}" in links
            assert f"/feeds/{name}?lang=ms" in links and f"/feeds/{name}?lang=ar" in links
            assert f"/feeds/{name}?country=MY" in links
            assert f"/feeds/{name}?org=syarikat-contoh-berhad" in links
            assert f"/feeds/{name}?sector=business" in links
        assert len([u for u in links if "?lang=" in u]) == 15 * 3
        # the links lead to feeds with the release in them
        atom = feedparser.parse(client.get("/feeds/atom.xml?country=MY").text)
        assert [e.title for e in atom.entries] == [release_payload()["headline"]]
        assert client.get("/feeds/").status_code == 200
        assert 'href="/feeds"' in client.get("/").text  # the masthead leads to the index


def test_the_correction_note_shows_on_the_release_page(server: Server) -> None:
    release_id, key = published_release(server)
    with server.client(key) as issuer:
        corrected = issuer.post(
            f"/api/v1/releases/{release_id}/corrections",
            json={
                "note": "The investment is RM260 million, not RM250 million.",
                "headline": "Melabur RM260 juta",
            },
        )
        assert corrected.status_code == 201, corrected.text
    with server.client() as client:
        deadline = time.monotonic() + 20
        while "Melabur RM260 juta" not in (page := client.get(f"/releases/{release_id}/ms").text):
            assert time.monotonic() < deadline, page
            time.sleep(0.2)
    note = re.search(r'<p class="correction">(.*?)</p>', page, re.DOTALL)
    assert note, page
    assert "The investment is RM260 million, not RM250 million." in note.group(1)
