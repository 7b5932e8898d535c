"""A served wire's release pages and feeds as readers and their tools see them: the whole wire text
in feed items, feed ids from the configured base URL, OpenGraph and Twitter card meta, the dateline
run into the first word, French elision, and (in Debian's Chromium) phone numbers that stay left to
right on an Arabic page."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

import feedparser
import httpx
from playwright.sync_api import Browser

from conftest import Desk
from test_browser import arabic_payload
from test_browser import publish as publish_held
from test_formats import publish

FRENCH = {
    "headline": "Atelier Lumière lance une lampe de bureau qui consomme deux watts",
    "summary": "La lampe Aube est fabriquée à Lyon avec de l'aluminium recyclé.",
    "body": "Atelier présente aujourd'hui Aube, une lampe de bureau à LED qui consomme deux watts.\n\n"
    "Elle sera vendue dans 120 magasins en France et en Belgique à partir de janvier.",
    "body_format": "markdown",
    "about": "Atelier Lumière conçoit des luminaires à faible consommation à Lyon depuis 2012.",
}
PICTURE = {
    "url": "https://contoh.example/media/pusat-data.jpg",
    "caption": "Lakaran pusat data hijau di Cyberjaya.",
    "alt": "Bangunan pusat data dengan panel solar",
}


class Meta(HTMLParser):
    """The page's <meta property|name=… content=…> pairs, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.pairs: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        key = found.get("property") or found.get("name")
        if tag == "meta" and key and found.get("content") is not None:
            self.pairs.append((key, str(found["content"])))


def meta(html: str) -> dict[str, list[str]]:
    parser = Meta()
    parser.feed(html)
    out: dict[str, list[str]] = {}
    for key, value in parser.pairs:
        out.setdefault(key, []).append(value)
    return out


def test_release_pages_carry_open_graph_and_a_separated_dateline(desk: Desk) -> None:
    release = publish(desk, {"fr": FRENCH}, media=[PICTURE])
    rid = release["id"]
    atelier = desk.server.cli_json(
        "admin", "create-org", "--name", "Atelier Lumière SAS", "--domain", "atelier.example"
    )
    lyon = Desk(desk.server, atelier["id"], atelier["api_key"], desk.editor_key)
    french = publish(
        lyon,
        language="fr",
        headline=FRENCH["headline"],
        summary=FRENCH["summary"],
        body=FRENCH["body"],
        about=FRENCH["about"],
        dateline={"city": "Lyon", "country": "FR"},
        targets={"countries": ["FR"], "languages": ["fr"]},
    )
    with desk.server.client() as public:
        page = public.get(f"/releases/{rid}/ms").text
        fr = public.get(f"/releases/{rid}/fr").text
        lyon_page = public.get(f"/releases/{french['id']}/fr").text
    tags = meta(page)
    assert tags["og:type"] == ["article"]
    assert tags["og:title"] == [release_headline()]
    assert tags["og:description"] == ["Pusat data di Cyberjaya akan mewujudkan 400 pekerjaan."]
    assert tags["og:url"] == [f"{desk.server.url}/releases/{rid}/ms"]
    assert tags["og:locale"] == ["ms_MY"] and "fr_FR" in tags["og:locale:alternate"]
    assert tags["og:image"] == [PICTURE["url"]]
    assert tags["twitter:card"] == ["summary_large_image"]
    assert meta(fr)["og:locale"] == ["fr_FR"]

    # the dateline and the first word are apart in the text a reader (or a search engine) gets,
    # however the page is styled: a space inside the same paragraph
    lead = re.search(r'<strong class="dateline">([^<]+)</strong>(.)', page)
    assert lead is not None and lead.group(1).endswith("–") and lead.group(2) == " "
    assert re.search(r'<strong class="dateline">[^<]+</strong> Syarikat Contoh Berhad hari ini', page)
    # French elides before a vowel, and only there
    assert "À propos de Syarikat Contoh Berhad" in fr
    assert "À propos d&#39;Atelier Lumière SAS" in lyon_page and "À propos de Atelier" not in lyon_page
    assert re.search(r'<strong class="dateline">LYON, [^<]+ \(Warta\) –</strong> Atelier présente', lyon_page)


def test_feeds_carry_the_wire_text_and_ids_from_the_base_url(desk: Desk) -> None:
    release = publish(desk)
    rid = release["id"]
    base = desk.server.url
    with httpx.Client(base_url=base, headers={"Host": "attacker.example"}) as spoofed:
        one = spoofed.get("/feeds/atom.xml", params=[("lang", "ms"), ("country", "MY")])
        other = spoofed.get("/feeds/atom.xml", params=[("country", "MY"), ("lang", "ms")])
        json_feed = spoofed.get("/feeds/feed.json", params=[("country", "MY"), ("lang", "ms")]).json()
        rss = spoofed.get("/feeds/rss.xml", params=[("lang", "ms")])
    assert one.status_code == other.status_code == 200
    assert one.headers["etag"] == other.headers["etag"]
    parsed = feedparser.parse(one.content)
    assert not parsed.bozo
    want = f"{base}/feeds/atom.xml?country=MY&lang=ms"
    assert parsed.feed.id == want == feedparser.parse(other.content).feed.id
    assert [link.href for link in parsed.feed.links if link.rel == "self"] == [want]
    assert json_feed["feed_url"] == f"{base}/feeds/feed.json?country=MY&lang=ms"
    assert "attacker.example" not in one.text + rss.text + json.dumps(json_feed)

    (entry,) = [e for e in parsed.entries if rid in e.link]
    content = entry.content[0].value
    for words in (
        "KUALA LUMPUR,",  # the dateline
        "Syarikat Contoh Berhad hari ini",
        "Syarikat Contoh Berhad ialah pengendali pusat data terkemuka",  # About
        "media@contoh.example",
        "+60 3 1234 5678",  # media contact
        "Syarikat Contoh Berhad",
    ):
        assert words in content, words
    page = httpx.get(f"{base}/releases/{rid}/ms.txt").text
    disclaimer = page.strip().splitlines()[-1]
    assert disclaimer in content
    terms = {(t.term, t.scheme) for t in entry.tags}
    assert ("04000000", "http://cv.iptc.org/newscodes/mediatopic/") in terms
    assert ("top-story", f"{base}/?sector=") in terms
    assert all(t.label for t in entry.tags)

    (item,) = [i for i in json_feed["items"] if rid in i["url"]]
    assert item["_warta"]["embargoed"] is False
    assert {c["term"] for c in item["_warta"]["categories"]} == {"top-story", "04000000"}


def test_an_embargoed_copy_in_a_private_feed_carries_its_lift_as_data(desk: Desk) -> None:
    from datetime import UTC, datetime, timedelta

    lift = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    with desk.editor() as editor:
        made = editor.post(
            "/api/v1/recipients",
            json={
                "kind": "outlet",
                "name": "Meja Berita Dipercayai",
                "country": "MY",
                "languages": ["ms"],
                "email": "meja@berita.example",
                "embargo_trusted": True,
            },
        )
        assert made.status_code == 201, made.text
        token = made.json()["feed_token"]
    with desk.issuer() as issuer:
        created = issuer.post(
            "/api/v1/releases",
            json={
                **_payload(),
                "release_at": datetime.now(UTC).isoformat(),
                "embargo_until": lift.isoformat(),
            },
        )
        assert created.status_code == 201, created.text
        rid = created.json()["id"]
    with desk.editor() as editor:
        assert editor.post(f"/api/v1/releases/{rid}/approve", json={"note": "ok"}).status_code == 200
    entries: list[Any] = []
    for _ in range(150):
        doc = httpx.get(f"{desk.server.url}/feeds/private/{token}.xml")
        parsed = feedparser.parse(doc.content)
        entries = [e for e in parsed.entries if rid in e.link]
        if entries:
            break
        import time

        time.sleep(0.1)
    assert entries, "the early copy never reached the trusted private feed"
    assert re.search(r'<warta:embargoed until="([^"]+)"', doc.text)
    until = re.search(r'<warta:embargoed until="([^"]+)"', doc.text)
    assert until is not None
    assert datetime.fromisoformat(until.group(1).replace("Z", "+00:00")) == lift
    assert "EMBARGOED until 20" not in entries[0].title  # words in the reader's language, not a raw stamp
    assert entries[0].title.startswith("[") and release_headline() in entries[0].title
    json_doc = httpx.get(f"{desk.server.url}/feeds/private/{token}.json").json()
    (item,) = [i for i in json_doc["items"] if rid in i["url"]]
    assert item["_warta"]["embargoed"] is True
    assert datetime.fromisoformat(item["_warta"]["embargoed_until"].replace("Z", "+00:00")) == lift


def _payload() -> dict[str, Any]:
    from conftest import release_payload

    return release_payload()


def release_headline() -> str:
    return str(_payload()["headline"])


def test_phone_numbers_stay_left_to_right_on_arabic_pages(desk: Desk, browser: Browser) -> None:
    rid = publish_held(desk, arabic_payload())
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{desk.server.url}/releases/{rid}/ar", wait_until="load")
        # where each digit group of "+971 4 123 4567" is drawn, left to right
        xs = page.evaluate(
            """() => {
                const dd = [...document.querySelectorAll('.contact dd')]
                    .find(d => d.textContent.includes('+971'));
                const node = document.createTreeWalker(dd, NodeFilter.SHOW_TEXT).nextNode();
                const text = node.textContent;
                const at = (s) => {
                    const r = document.createRange();
                    const i = text.indexOf(s);
                    r.setStart(node, i); r.setEnd(node, i + s.length);
                    return r.getBoundingClientRect().left;
                };
                return ['+971', ' 4 ', '123', '4567'].map(at);
            }"""
        )
    finally:
        context.close()
    assert xs == sorted(xs), f"the number is not drawn left to right: {xs}"


def test_withdrawal_emails_thread_with_the_first_and_say_who_withdrew(server_factory: Any) -> None:
    """Through the engine and a real SMTP server: the notice answers the first message about the
    release (In-Reply-To and References), and says whether the issuer or the wire withdrew it."""
    import time

    from receivers import SmtpSink

    sink = SmtpSink().start()
    try:
        server = server_factory(WARTA_SMTP_URL=sink.url)
        org = server.cli_json(
            "admin", "create-org", "--name", "Syarikat Contoh Berhad", "--domain", "contoh.example"
        )
        editor = server.cli_json("admin", "create-user", "--role", "editor", "--name", "Desk Editor")
        desk = Desk(server, org["id"], org["api_key"], editor["api_key"])
        with desk.editor() as c:
            made = c.post(
                "/api/v1/recipients",
                json={
                    "kind": "journalist",
                    "name": "Wartawan",
                    "country": "MY",
                    "languages": ["ms"],
                    "email": "w@berita.example",
                },
            )
            assert made.status_code == 201, made.text
        by_issuer, by_wire = publish(desk)["id"], publish(desk)["id"]

        def mails(rid: str, kind: str) -> list[Any]:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                got = [
                    m
                    for m in sink.snapshot()
                    if m.message["X-Warta-Release"] == rid and m.message["X-Warta-Kind"] == kind
                ]
                if got:
                    return got
                time.sleep(0.1)
            raise AssertionError(f"no {kind} email for {rid}")

        first = {rid: mails(rid, "edition")[0].message_id for rid in (by_issuer, by_wire)}
        with desk.issuer() as c:
            assert (
                c.post(f"/api/v1/releases/{by_issuer}/withdraw", json={"reason": "Salah tarikh."}).status_code
                == 200
            )
        with desk.editor() as c:
            assert (
                c.post(f"/api/v1/releases/{by_wire}/withdraw", json={"reason": "Tidak disahkan."}).status_code
                == 200
            )
        texts = {}
        for rid in (by_issuer, by_wire):
            (notice,) = mails(rid, "withdrawal")
            assert notice.message["In-Reply-To"] == first[rid] == notice.message["References"]
            assert notice.message["Date"].endswith("+0000")
            plain = notice.message.get_body(("plain",))
            texts[rid] = plain.get_content()
        assert "ditarik balik oleh pengeluarnya" in texts[by_issuer]
        assert "ditarik balik oleh Warta" in texts[by_wire]
    finally:
        sink.stop()
