"""Outside checkers over what Warta serves: the Nu HTML Checker and axe-core over every page type in
Latin, Arabic, CJK and Thai script, jing with the RFC 4287 schema over Atom feeds, the JSON Feed
1.1 schema over JSON feeds, and the Standard Webhooks reference library over a webhook Warta sent.

One `warta serve` with the demo wire and a few releases written for these checks serves them all.
The checkers come from `make validators` (tools/validators) and Debian (Java, jing, Chromium).
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from lxml import etree
from playwright.sync_api import Browser

from conftest import ROOT, WARTA, Server, free_port, make_env
from receivers import WebhookReceiver

pytestmark = pytest.mark.browser

TOOLS = ROOT / "tools" / "validators" / "node_modules"
VNU_JAR = TOOLS / "vnu-jar" / "build" / "dist" / "vnu.jar"
AXE_JS = TOOLS / "axe-core" / "axe.min.js"
VERIFY_WEBHOOK = ROOT / "tools" / "validators" / "verify-webhook.js"
STANDARDS = Path(__file__).parent / "data" / "standards"
ATOM_RNC = STANDARDS / "atom" / "atom.rnc"
JSON_FEED_SCHEMA = STANDARDS / "jsonfeed" / "jsonfeed-1.1.schema.json"
ATOM_NS = {"a": "http://www.w3.org/2005/Atom"}

THAI_HEADLINE = "คุโมะ ลิงกัว เปิดสำนักงานในกรุงเทพฯ เพื่อบริการแปลข่าวประชาสัมพันธ์"
THAI_BODY = (
    "บริษัท คุโมะ ลิงกัว จำกัด ประกาศเปิดสำนักงานแห่งใหม่ในกรุงเทพมหานครวันนี้ "
    "เพื่อให้บริการแปลข่าวประชาสัมพันธ์เป็นภาษาไทย ภาษาอังกฤษ และภาษาญี่ปุ่น สำหรับบริษัทในภูมิภาคเอเชียตะวันออกเฉียงใต้\n\n"
    "## ทีมงานและบริการ\n\n"
    "สำนักงานกรุงเทพฯ จะมีพนักงานสามสิบคนภายในสิ้นปีหน้า และจะทำงานร่วมกับเอเจนซีประชาสัมพันธ์ในประเทศไทย "
    "เวียดนาม และมาเลเซีย บริษัทระบุว่าความต้องการเนื้อหาหลายภาษาเพิ่มขึ้นร้อยละสี่สิบในช่วงสองปีที่ผ่านมา\n\n"
    "#### รายละเอียดเพิ่มเติม\n\n"
    "ลูกค้าสามารถส่งข่าวผ่านระบบออนไลน์และรับฉบับแปลภายในสองชั่วโมง"
)
THAI_ABOUT = "คุโมะ ลิงกัว เป็นบริษัทเทคโนโลยีภาษาจากโตเกียว ก่อตั้งเมื่อปี 2019"

# Headings that start below h2 and skip a level, a picture without alt text in the body and one
# in the media list: what issuers send, and what the page must still render valid and accessible.
RICH_BODY = (
    "<h1>A terminal that runs on sunlight</h1>"
    "<p>Pelabuhan Selatan Berhad today put its second solar-powered terminal into service at Johor, "
    "with 36,000 rooftop panels and a 45 MWh battery store that run every crane and yard vehicle.</p>"
    "<h3>Figures</h3><p>The terminal handles 800,000 containers a year and cuts diesel use by a third.</p>"
    '<p><img src="https://images.pelabuhan-selatan.example/johor-cranes.jpg"></p>'
    "<h4>Next steps</h4><p>A third terminal at Kuantan is planned for the year after next, with a "
    "larger battery store and charging points for the trucks that serve the port.</p>"
)


@dataclass
class Page:
    name: str
    path: str
    status: int = 200


@dataclass
class Wire:
    server: Server
    receiver: WebhookReceiver
    webhook_secret: str
    pages: list[Page] = field(default_factory=list)
    feeds: list[str] = field(default_factory=list)


def _demo_keys(out: str) -> dict[str, str]:
    """The demo's API keys by the name it prints for each user ("issuer: Kumo Lingua KK press office")."""
    return {m[0].strip(): m[1] for m in re.findall(r"^\s+(\w+: .+?)\s+(wk_\S+)$", out, re.MULTILINE)}


def _wait_visible(client: httpx.Client, release_id: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        got = client.get(f"/api/v1/releases/{release_id}")
        if got.status_code == 200 and got.json()["visible"]:
            return
        time.sleep(0.05)
    raise AssertionError(f"release {release_id} was not published within 20 s")


def _publish(server: Server, issuer: str, editor: str, payload: dict[str, Any]) -> str:
    """Submit as the issuer, approve as the editor where review held it, wait until it is out."""
    with server.client(issuer) as c:
        created = c.post("/api/v1/releases", json=payload)
    assert created.status_code == 201, created.text
    release_id: str = created.json()["id"]
    if created.json()["status"] == "held":
        with server.client(editor) as c:
            assert c.post(f"/api/v1/releases/{release_id}/approve").status_code == 200
    with server.client() as c:
        _wait_visible(c, release_id)
    return release_id


def _release_payload(**fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "body_format": "markdown",
        "sectors": ["technology", "medtop:13000000"],
        "contact": {"name": "Aisyah Rahman", "email": "media@kumo-lingua.example", "phone": "+66 2 555 0100"},
    }
    payload.update(fields)
    return payload


@pytest.fixture(scope="module")
def wire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wire]:
    for tool in (VNU_JAR, AXE_JS):
        assert tool.exists(), f"{tool} is missing: run `make validators`"
    tmp = tmp_path_factory.mktemp("validators")
    receiver = WebhookReceiver().start()
    url = f"http://127.0.0.1:{free_port()}"
    env = make_env(tmp / "data", WARTA_WEBHOOK_ALLOW="127.0.0.1", WARTA_BASE_URL=url)
    demo = subprocess.run([*WARTA, "demo"], env=env, capture_output=True, text=True, timeout=120)
    assert demo.returncode == 0, demo.stderr
    keys = _demo_keys(demo.stdout)
    editor = keys["editor: Desk Editor"]
    kumo = keys["issuer: Kumo Lingua KK press office"]
    port_issuer = keys["issuer: Pelabuhan Selatan Berhad press office"]
    desk = re.search(r"(/desk\S*)", demo.stdout)
    server = Server(url=url, data_dir=tmp / "data", env=env, log=tmp / "server.log")
    server.start()
    try:
        with server.client(editor) as c:
            outlet = c.post(
                "/api/v1/recipients",
                json={
                    "kind": "outlet",
                    "name": "Bangkok business desk",
                    "country": "TH",
                    "languages": ["th"],
                    "webhook_url": f"{receiver.url}/warta",
                },
            )
        assert outlet.status_code == 201, outlet.text
        thai = _publish(
            server,
            kumo,
            editor,
            _release_payload(
                headline=THAI_HEADLINE,
                summary="สำนักงานใหม่ให้บริการแปลข่าวประชาสัมพันธ์สามภาษา",
                body=THAI_BODY,
                language="th",
                dateline={"city": "กรุงเทพฯ", "country": "TH"},
                about=THAI_ABOUT,
                targets={"countries": ["TH"], "languages": ["th"]},
            ),
        )
        rich = _publish(
            server,
            port_issuer,
            editor,
            _release_payload(
                headline="Pelabuhan Selatan opens a second solar-powered terminal in Johor",
                summary="The Johor terminal runs its cranes on rooftop solar and batteries.",
                body=RICH_BODY,
                body_format="html",
                language="en",
                dateline={"city": "Johor Bahru", "country": "MY"},
                sectors=["top-story", "medtop:04000000"],
                media=[{"url": "https://images.pelabuhan-selatan.example/johor-yard.jpg"}],
                targets={"countries": ["MY"], "languages": ["en"]},
            ),
        )
        withdrawn = _publish(
            server,
            port_issuer,
            editor,
            _release_payload(
                headline="Pelabuhan Selatan to hold an open day at Port Klang",
                summary="Visitors can tour the solar terminal on Saturday.",
                body="Pelabuhan Selatan Berhad invites the public to tour its solar-powered container "
                "terminal at Port Klang on Saturday, with guided walks along the quay, a look inside the "
                "battery store and talks by the engineers who built the terminal's charging system.",
                language="en",
                dateline={"city": "Kuala Lumpur", "country": "MY"},
                targets={"countries": ["MY"], "languages": ["en"]},
            ),
        )
        with server.client(port_issuer) as c:
            assert (
                c.post(f"/api/v1/releases/{withdrawn}/withdraw", json={"reason": "date moved"}).status_code
                == 200
            )
        with server.client(kumo) as c:
            report = c.get(f"/api/v1/releases/{thai}/report/link")
        assert report.status_code == 200, report.text
        with server.client() as c:
            listed = c.get("/api/v1/releases", params={"limit": 50}).json()["items"]
        by_lang = {item["lang"]: item["id"] for item in listed if item["id"] not in (thai, rich)}
        demo_en = next(
            i["id"] for i in listed if i["headline"].startswith("Pelabuhan Selatan opens Malaysia")
        )

        pages = [
            Page("newsroom", "/"),
            Page("newsroom-ar", "/?lang=ar"),
            Page("newsroom-ja", "/?lang=ja"),
            Page("newsroom-zh", "/?lang=zh-Hans"),
            Page("newsroom-th", "/?lang=th"),
            Page("newsroom-page2", "/?page=2"),
            Page("search-en", "/search?q=solar"),
            Page("search-ar", "/?lang=ar&q=الخليج"),
            Page("search-ja", "/?lang=ja&q=翻訳"),
            Page("search-th", "/?lang=th&q=สำนักงาน"),
            Page("search-empty", "/search?q=zzzznothing"),
            Page("release-en", f"/releases/{demo_en}/en"),
            Page("release-ms", f"/releases/{demo_en}/ms"),
            Page("release-zh", f"/releases/{demo_en}/zh-Hans"),
            Page("release-id", f"/releases/{by_lang['id']}/id"),
            Page("release-ja", f"/releases/{by_lang['ja']}/ja"),
            Page("release-ar", f"/releases/{by_lang['ar']}/ar"),
            Page("release-th", f"/releases/{thai}/th"),
            Page("release-rich", f"/releases/{rich}/en"),
            Page("issuer-latin", "/issuers/pelabuhan-selatan-berhad"),
            Page("issuer-cjk", "/issuers/kumo-lingua-kk"),
            Page("not-found", "/releases/no-such-release/en", 404),
            Page("withdrawn", f"/releases/{withdrawn}/en", 410),
            Page("desk", desk.group(1) if desk else "/desk"),
            Page("report", report.json()["url"].removeprefix(url)),
            Page("unsubscribe", "/unsubscribe/not-a-token", 404),
            Page("outbox-sign-in", "/outbox"),
            Page("outbox-sign-in-ar", "/outbox?lang=ar"),
            Page("feeds-index", "/feeds"),
            Page("feeds-index-ar", "/feeds?lang=ar"),
        ]
        feed_queries = ["", "?lang=ar", "?lang=ja", "?lang=zh-Hans", "?lang=th", "?org=kumo-lingua-kk"]
        yield Wire(
            server=server,
            receiver=receiver,
            webhook_secret=outlet.json()["webhook_secret"],
            pages=pages,
            feeds=feed_queries,
        )
    finally:
        server.stop()
        receiver.stop()


def _save_pages(wire: Wire, folder: Path) -> list[Path]:
    """Every page as the server sends it, one file each, after checking its status."""
    saved = []
    with wire.server.client() as c:
        for page in wire.pages:
            got = c.get(page.path)
            assert got.status_code == page.status, f"{page.name} {page.path}: {got.status_code}"
            assert got.headers["content-type"].startswith("text/html"), page.name
            path = folder / f"{page.name}.html"
            path.write_bytes(got.content)
            saved.append(path)
    return saved


def test_every_page_passes_the_nu_html_checker(wire: Wire, tmp_path: Path) -> None:
    files = _save_pages(wire, tmp_path)
    # one JVM for every page: starting Java costs more than checking a page
    run = subprocess.run(
        [
            "java",
            "-jar",
            str(VNU_JAR),
            "--format",
            "json",
            "--stdout",
            "--exit-zero-always",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.stdout, run.stderr
    messages = json.loads(run.stdout)["messages"]
    problems = [
        f"{Path(m.get('url', '?')).stem}:{m.get('lastLine', '?')}: {m['type']}: {m['message']} "
        f"[{m.get('extract', '').strip()}]"
        for m in messages
        if m["type"] in ("error", "non-document-error") or m.get("subType") == "warning"
    ]
    assert problems == [], f"{len(problems)} messages:\n" + "\n".join(problems)


def test_every_page_has_no_axe_core_violations(wire: Wire, browser: Browser) -> None:
    found: list[str] = []
    # axe is injected as a script of the test's own: the page's policy is not the test's subject
    context = browser.new_context(bypass_csp=True)
    try:
        page = context.new_page()
        for entry in wire.pages:
            response = page.goto(wire.server.url + entry.path, wait_until="load")
            assert response is not None and response.status == entry.status, entry.name
            page.add_script_tag(path=str(AXE_JS))
            violations = page.evaluate(
                """async () => (await axe.run(document)).violations.map(v => ({
                    id: v.id, impact: v.impact, help: v.help,
                    targets: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"""
            )
            found += [
                f"{entry.name}: {v['id']} ({v['impact']}): {v['help']} at {v['targets']}" for v in violations
            ]
    finally:
        context.close()
    assert found == [], f"{len(found)} violations:\n" + "\n".join(found)


def test_atom_feeds_match_the_rfc_4287_schema(wire: Wire, tmp_path: Path) -> None:
    files = []
    with wire.server.client() as c:
        for n, query in enumerate(wire.feeds):
            got = c.get(f"/feeds/atom.xml{query}")
            assert got.status_code == 200, query
            path = tmp_path / f"atom-{n}.xml"
            path.write_bytes(got.content)
            files.append(path)
            feed = etree.fromstring(got.content)
            entries = feed.findall("a:entry", ATOM_NS)
            assert entries, f"{query}: an empty feed checks nothing"
            # the two Schematron rules of RFC 4287's schema, which RELAX NG validators do not run
            for entry in entries:
                assert (
                    feed.find("a:author", ATOM_NS) is not None or entry.find("a:author", ATOM_NS) is not None
                )
                assert entry.xpath("a:link[@rel='alternate' or not(@rel)] | a:content", namespaces=ATOM_NS)
    run = subprocess.run(
        ["jing", "-c", str(ATOM_RNC), *map(str, files)], capture_output=True, text=True, timeout=120
    )
    errors = [line for line in run.stdout.splitlines() if line.strip()]
    assert run.returncode == 0 and errors == [], f"{len(errors)} errors:\n" + "\n".join(errors)


def test_json_feeds_match_the_json_feed_1_1_schema(wire: Wire) -> None:
    schema = json.loads(JSON_FEED_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = []
    with wire.server.client() as c:
        for query in wire.feeds:
            got = c.get(f"/feeds/feed.json{query}")
            assert got.status_code == 200, query
            feed = got.json()
            assert feed["items"], f"{query}: an empty feed checks nothing"
            errors += [
                f"{query or '/'}: {'/'.join(map(str, e.path))}: {e.message}"
                for e in validator.iter_errors(feed)
            ]
    assert errors == [], f"{len(errors)} errors:\n" + "\n".join(errors)


def test_a_webhook_warta_sent_verifies_with_the_standard_webhooks_library(wire: Wire, tmp_path: Path) -> None:
    deadline = time.monotonic() + 20
    while not (hits := wire.receiver.snapshot()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hits, "the Thai release's webhook never arrived"
    hit = hits[0]
    sent = tmp_path / "sent.json"
    sent.write_text(json.dumps({"headers": hit.headers, "body_b64": base64.b64encode(hit.body).decode()}))
    # the same request with one byte of its body changed: the library must refuse it
    tampered = tmp_path / "tampered.json"
    changed = hit.body.replace(b'"', b"'", 1)
    tampered.write_text(json.dumps({"headers": hit.headers, "body_b64": base64.b64encode(changed).decode()}))

    def verify(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["node", str(VERIFY_WEBHOOK), wire.webhook_secret, str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            env={"NODE_PATH": str(TOOLS), "PATH": "/usr/bin:/bin"},
        )

    good = verify(sent)
    assert good.returncode == 0 and good.stdout.startswith(f"ok {hit.headers['webhook-id']}"), (
        good.stdout + good.stderr
    )
    bad = verify(tampered)
    assert bad.returncode == 1 and bad.stdout.startswith("invalid"), bad.stdout + bad.stderr


def _page(wire: Wire, name: str) -> Any:
    from lxml import html as lxml_html

    path = next(p.path for p in wire.pages if p.name == name)
    with wire.server.client() as c:
        return lxml_html.fromstring(c.get(path).text)


def test_an_about_in_another_language_than_its_page_says_which(wire: Wire) -> None:
    # the Arabic demo release carries its issuer's English "About"
    arabic = _page(wire, "release-ar")
    [about] = arabic.xpath("//section[@class='about']")
    assert arabic.get("lang") == "ar"
    assert (about.get("lang"), about.get("dir")) == ("en", "ltr")
    # an "About" written in the page's own language needs no mark
    [heading] = about.xpath("h2")
    assert (heading.get("lang"), heading.get("dir")) == ("ar", "rtl"), "the heading is the page's own"
    [thai_about] = _page(wire, "release-th").xpath("//section[@class='about']")
    assert thai_about.get("lang") is None


def test_sector_lines_are_joined_with_the_comma_of_their_script(wire: Wire) -> None:
    lines = {
        name: _page(wire, name).xpath("string(//p[@class='sectors'])")
        for name in ("release-ar", "release-ja", "release-zh", "release-en")
    }
    assert "، " in lines["release-ar"] and "," not in lines["release-ar"], lines["release-ar"]
    assert "、" in lines["release-ja"] and "," not in lines["release-ja"], lines["release-ja"]
    assert "、" in lines["release-zh"] and "," not in lines["release-zh"], lines["release-zh"]
    assert ", " in lines["release-en"], lines["release-en"]


def test_release_headings_sit_below_the_page_headline_without_skipping(wire: Wire) -> None:
    levels = [
        int(h.tag[1])
        for h in _page(wire, "release-th").xpath(
            "//article//*[self::h1 or self::h2 or self::h3 or self::h4 or self::h5 or self::h6]"
        )
    ]
    assert levels[0] == 1 and levels.count(1) == 1, levels
    assert all(b <= a + 1 for a, b in pairwise(levels)), levels
    # the stored text keeps the issuer's own levels: only the page shifts them
    with wire.server.client() as c:
        listed = c.get("/api/v1/releases", params={"lang": "th"}).json()["items"]
        [thai] = [i for i in listed if i["headline"] == THAI_HEADLINE]
        stored = c.get(f"/api/v1/releases/{thai['id']}/versions/1").json()
    assert "<h4>" in stored["body_html"], stored["body_html"]
