"""Intake through a real `warta serve`: hostile content comes out inert, bad input is refused whole.

Every publisher byte is untrusted. A release either goes in complete (201) or is refused with a 4xx
JSON error naming the field and the reason, and then no row of it is left behind in any table.
"""

from __future__ import annotations

import io
import json
import math
import re
import sqlite3
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import Desk, Server, free_port, make_env, release_payload, with_editions
from htmlcheck import assert_inert, assert_page_inert, load_vectors

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop

VECTORS = load_vectors()
TABLES = ("releases", "release_versions", "editions", "outbox", "edition_search")
REQUEST_LIMIT = 6 * 1024 * 1024
ATOM = "{http://www.w3.org/2005/Atom}"
# Feeds list at most 50 items; each slice of the XSS releases gets its own dateline country,
# so that `?country=` shows a whole slice in one feed.
FEED_SLICE = 45
SLICE_COUNTRIES = ("MY", "SG", "ID", "TH", "PH", "VN", "BN", "KH")


@pytest.fixture(scope="module")
def wire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    """One server for the whole module (starting one takes seconds), with an issuer and an editor."""
    root = tmp_path_factory.mktemp("intake-api")
    srv = Server(
        url=f"http://127.0.0.1:{free_port()}",
        data_dir=root / "data",
        env=make_env(root / "data"),
        log=root / "server.log",
    )
    srv.start()
    try:
        org = srv.cli_json(
            "admin", "create-org", "--name", "Syarikat Contoh Berhad", "--domain", "contoh.example"
        )
        editor = srv.cli_json("admin", "create-user", "--role", "editor", "--name", "Desk Editor")
        yield Desk(server=srv, org_id=org["id"], issuer_key=org["api_key"], editor_key=editor["api_key"])
    finally:
        srv.stop()


def row_counts(server: Server) -> dict[str, int]:
    with closing(sqlite3.connect(server.data_dir / "warta.db")) as db:
        return {table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES}


def multipart_fields(**overrides: Any) -> dict[str, Any]:
    """The non-body fields of a release, as sent beside an uploaded file."""
    fields = release_payload(**overrides)
    del fields["body"], fields["body_format"]
    return fields


def post(
    desk: Desk,
    *,
    key: str | None = "issuer",
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """POST /api/v1/releases on a fresh connection (a refused upload may leave one unusable)."""
    api_key = {"issuer": desk.issuer_key, "editor": desk.editor_key}.get(key or "", key)
    with desk.server.client(api_key) as client:
        return client.post("/api/v1/releases", headers=headers, **kwargs)


def post_raw(
    desk: Desk, content: Any, content_type: str = "application/json", **kwargs: Any
) -> httpx.Response:
    return post(desk, content=content, headers={"Content-Type": content_type}, **kwargs)


def post_json(desk: Desk, payload: Any) -> httpx.Response:
    # json.dumps escapes every non-ASCII character, lone surrogates included, as \uXXXX.
    return post_raw(desk, json.dumps(payload).encode())


def post_file(
    desk: Desk, name: str, data: bytes, release: str | dict[str, Any] | None = None
) -> httpx.Response:
    meta = release if isinstance(release, str) else json.dumps(release or multipart_fields())
    return post(desk, files={"file": (name, data), "release": (None, meta)})


_WIRE_DATELINE = re.compile(r'<strong class="dateline">[^<]*</strong> ?')
_WIRE_NOTES = re.compile(r'\n?<p class="(?:embargo|correction|sectors|disclaimer)">[^<]*</p>')
_WIRE_CONTACT = re.compile(r'\n?<h2>[^<]*</h2><p>(?:[^<]|<br>|<bdi dir="ltr">[^<]*</bdi>)*</p>\s*$')


def strip_dateline(html: str) -> str:
    """The ninjs HTML body is the whole wire text: the wire's dateline (run into the first
    paragraph), sector line, media contact and disclaimer around the publisher's content. What is
    left once those are taken out is the publisher's: the body and the "About"."""
    html, found = _WIRE_DATELINE.subn("", html, count=1)
    assert found, html[:200]
    return _WIRE_CONTACT.sub("", _WIRE_NOTES.sub("", html))


def ninjs_html(item: dict[str, Any]) -> str:
    bodies = [b for b in item["bodies"] if b["contentType"] == "text/html"]
    assert len(bodies) == 1
    return str(bodies[0]["value"])


# --- the checkers themselves ------------------------------------------------------------------


def test_page_checker_catches_unsafe_pages() -> None:
    safe = (
        '<html><head><script type="application/ld+json">{"a": "\\u003c/script\\u003e"}</script></head></html>'
    )
    assert assert_page_inert(safe) == [{"a": "</script>"}]
    for unsafe in (
        "<p>x</p><script>alert(1)</script>",
        '<script type="application/ld+json">{"a": "</script><script>alert(1)</script>"}</script>',
        '<script type="application/ld+json">{"a": "<!--"}</script>',
        '<div><img src="https://e.com/a.png" onerror="alert(1)"></div>',
        '<a href=" java\tscript:alert(1)">x</a>',
        '<img src="data:image/svg+xml,x">',
        '<p style="display:none">hidden</p>',
        "<iframe></iframe>",
    ):
        with pytest.raises((AssertionError, ValueError)):
            assert_page_inert(unsafe)


# --- XSS vectors end to end -------------------------------------------------------------------


def xss_release(index: int, vector: str, body_format: str, country: str) -> dict[str, Any]:
    """A release carrying ``vector`` in its body and in every free-text field a page shows.

    A body holding NUL is refused outright (see the test), so there the vector goes in without it.
    """
    in_body = vector.replace("\x00", "")
    if body_format == "markdown":
        body = f"Perenggan pembuka siaran {index}.\n\n{in_body}\n\nPerenggan penutup."
    else:
        body = f"<p>Perenggan pembuka siaran {index}.</p>\n{in_body}\n<p>Perenggan penutup.</p>"
    return release_payload(
        headline=f"Siaran {index} {body_format}: {vector}",
        summary=f"Ringkasan {vector}",
        body=body,
        body_format=body_format,
        about=f"Tentang syarikat {vector}",
        contact={"name": f"Nur {vector}", "email": "media@contoh.example", "phone": "+60 3 1234 5678"},
        media=[
            {
                "url": f"https://cdn.contoh.example/gambar-{index}.png",
                "caption": f"Kapsyen {vector}",
                "alt": vector,
                "credit": vector,
            }
        ],
        dateline={"city": "Kuala Lumpur", "country": country},
        targets={"countries": [country], "languages": ["ms"]},
    )


def _region(page: str, pattern: str) -> str:
    match = re.search(pattern, page, re.DOTALL)
    assert match, f"no {pattern!r} in the page"
    return match.group(1)


def check_release_page(page: str, headline: str) -> None:
    docs = assert_page_inert(page)
    assert len(docs) == 1 and isinstance(docs[0], dict)
    assert docs[0]["@type"] == "NewsArticle"
    assert docs[0]["headline"] == headline[:110]
    # Publisher HTML: the body (after the wire's dateline) and the "About" section, to the allowlist.
    body = _WIRE_DATELINE.sub("", _region(page, r'<div class="body">(.*?)</div>'), count=1)
    assert body.startswith("<p>Perenggan pembuka siaran ")
    assert_inert(body)
    assert_inert(_region(page, r'<section class="about"><h2>[^<]*</h2>(.*?)</section>'))
    # Publisher plain text: escaped, so no markup at all.
    for pattern in (
        r"<title>(.*?)</title>",
        r"<h1>(.*?)</h1>",
        r'<p class="summary">(.*?)</p>',
        r'<section class="contact">.*?<dd>(.*?)</dd>',
        r'<section class="media">.*?<figcaption>(.*?)</figcaption>',
    ):
        assert "<" not in _region(page, pattern), pattern


def check_feeds(client: httpx.Client, country: str, ids: set[str]) -> None:
    rss_raw = client.get("/feeds/rss.xml", params={"country": country})
    atom_raw = client.get("/feeds/atom.xml", params={"country": country})
    for response in (rss_raw, atom_raw):
        assert response.status_code == 200
        assert b"<script" not in response.content.lower()

    items = ET.fromstring(rss_raw.content).findall("./channel/item")
    assert {item.findtext("guid", "").rsplit("/", 2)[-2] for item in items} == ids
    for item in items:
        for tag in ("title", "description"):
            element = item.find(tag)
            assert element is not None and len(element) == 0, "feed text must be text, not XML markup"
            text = element.text or ""
            assert_inert(strip_dateline(text) if tag == "description" else text)

    entries = ET.fromstring(atom_raw.content).findall(f"{ATOM}entry")
    assert len(entries) == len(ids)
    for entry in entries:
        content = entry.find(f"{ATOM}content")
        assert content is not None and content.get("type") == "html" and len(content) == 0
        assert_inert(strip_dateline(content.text or ""))
        for tag in ("title", "summary"):
            element = entry.find(f"{ATOM}{tag}")
            assert element is not None and element.get("type", "text") == "text" and len(element) == 0
            assert_inert(element.text or "")


def wait_until_public(client: httpx.Client, release_ids: list[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    pending = list(release_ids)
    while pending:
        pending = [rid for rid in pending if not client.get(f"/api/v1/releases/{rid}").json().get("visible")]
        if pending:
            assert time.monotonic() < deadline, f"{len(pending)} approved releases never became visible"
            time.sleep(0.1)


@pytest.mark.slow  # half a minute: left out of `make test-fast`
def test_xss_vectors_are_inert_on_page_ninjs_and_feeds(wire: Desk) -> None:
    jobs = [
        (index, vector, body_format)
        for body_format in ("markdown", "html")
        for index, vector in enumerate(VECTORS)
    ]
    assert math.ceil(len(jobs) / FEED_SLICE) <= len(SLICE_COUNTRIES)
    payloads = [
        xss_release(index, vector, body_format, SLICE_COUNTRIES[n // FEED_SLICE])
        for n, (index, vector, body_format) in enumerate(jobs)
    ]

    before = row_counts(wire.server)
    for vector in (v for v in VECTORS if "\x00" in v):
        for body_format in ("markdown", "html"):
            refused = post_json(wire, release_payload(body=vector, body_format=body_format))
            assert_error_shape(refused, 422, "body", "NUL")
    assert row_counts(wire.server) == before

    with wire.issuer() as issuer, wire.editor() as editor, ThreadPoolExecutor(8) as pool:
        submitted = list(pool.map(lambda p: issuer.post("/api/v1/releases", json=p), payloads))
        for response, (index, vector, body_format) in zip(submitted, jobs, strict=True):
            assert response.status_code == 201, (index, body_format, vector, response.text)
        ids = [r.json()["id"] for r in submitted]

        approved = list(pool.map(lambda rid: editor.post(f"/api/v1/releases/{rid}/approve"), ids))
        assert [r.status_code for r in approved] == [200] * len(ids)

        public = httpx.Client(base_url=wire.server.url, timeout=30)
        with public:
            wait_until_public(public, ids)

            def fetch(rid: str) -> tuple[httpx.Response, httpx.Response]:
                return public.get(f"/releases/{rid}/ms"), public.get(f"/api/v1/releases/{rid}/editions/ms")

            for (index, vector, _), (page, ninjs) in zip(jobs, pool.map(fetch, ids), strict=True):
                context = f"vector {index}: {vector!r}"
                assert page.status_code == 200, context
                assert ninjs.status_code == 200, context
                item = ninjs.json()
                headline = item["headlines"][0]["value"]
                assert headline.startswith(f"Siaran {index} "), context
                check_release_page(page.text, headline)
                assert_inert(strip_dateline(ninjs_html(item)))

            for n, country in enumerate(SLICE_COUNTRIES[: math.ceil(len(ids) / FEED_SLICE)]):
                check_feeds(public, country, set(ids[n * FEED_SLICE : (n + 1) * FEED_SLICE]))


# --- files ------------------------------------------------------------------------------------

LONG_PARAGRAPH = (
    "Syarikat Contoh Berhad hari ini mengumumkan pelaburan sebanyak RM250 juta untuk membina sebuah pusat "
    "data hijau di Cyberjaya yang akan menggunakan tenaga solar sepenuhnya, sistem penyejukan air kitar "
    "semula dan rangkaian gentian optik berkelajuan tinggi, serta mewujudkan kira-kira empat ratus peluang "
    "pekerjaan mahir untuk rakyat tempatan dalam bidang kejuruteraan, operasi dan keselamatan siber, "
    "sambil bekerjasama rapat dengan universiti tempatan bagi melatih graduan baharu setiap tahun."
)


def make_docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Pelaburan pusat data hijau", level=1)
    intro = document.add_paragraph("Pelaburan ini ialah yang ")
    intro.add_run("terbesar").bold = True
    intro.add_run(" dalam sejarah syarikat.")
    document.add_paragraph("Tenaga solar", style="List Bullet")
    document.add_paragraph("Penyejukan air kitar semula", style="List Bullet")
    document.add_paragraph(LONG_PARAGRAPH)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def stored_body(desk: Desk, release_id: str) -> str:
    with desk.issuer() as issuer:
        version = issuer.get(f"/api/v1/releases/{release_id}/versions/1")
    assert version.status_code == 200, version.text
    return str(version.json()["body_html"])


@pytest.mark.parametrize(
    ("name", "make", "parts"),
    [
        (
            "siaran.docx",
            make_docx,
            [
                "<h2>Pelaburan pusat data hijau</h2>",
                "<p>Pelaburan ini ialah yang <strong>terbesar</strong> dalam sejarah syarikat.</p>",
                "<ul><li>Tenaga solar</li><li>Penyejukan air kitar semula</li></ul>",
                f"<p>{LONG_PARAGRAPH}</p>",
            ],
        ),
        (
            "siaran.md",
            lambda: (
                "# Pelaburan pusat data hijau\n\nPelaburan **terbesar** syarikat.\n\n"
                f"- Tenaga solar\n- Penyejukan air\n\n{LONG_PARAGRAPH}\n\n<script>alert(1)</script>\n"
            ).encode(),
            [
                "<h2>Pelaburan pusat data hijau</h2>",
                "<strong>terbesar</strong>",
                "<li>Tenaga solar</li>",
                LONG_PARAGRAPH,
            ],
        ),
        (
            "siaran.html",
            lambda: (
                '<h1 onclick="alert(1)">Pelaburan pusat data hijau</h1><p>Pelaburan <b>terbesar</b>.</p>'
                f"<ul><li>Tenaga solar</li></ul><p>{LONG_PARAGRAPH}</p><script>alert(1)</script>"
            ).encode(),
            [
                "<h2>Pelaburan pusat data hijau</h2>",
                "<b>terbesar</b>",
                "<ul><li>Tenaga solar</li></ul>",
                f"<p>{LONG_PARAGRAPH}</p>",
            ],
        ),
    ],
)
def test_uploaded_file_becomes_the_body(
    wire: Desk, name: str, make: Callable[[], bytes], parts: list[str]
) -> None:
    response = post_file(wire, name, make())
    assert response.status_code == 201, response.text
    release = response.json()
    assert release["status"] == "held"  # the issuer is not verified
    verdicts = {rule["rule"]: rule["verdict"] for rule in release["review"]["rules"]}
    assert verdicts["length-bounds"] == "accept"  # the 60-word paragraph arrived as words
    body = stored_body(wire, release["id"])
    for part in parts:
        assert part in body
    assert "alert" not in body and "onclick" not in body
    assert_inert(body)


def test_cli_submits_a_markdown_file(wire: Desk, tmp_path: Path) -> None:
    source = tmp_path / "siaran.md"
    source.write_text(
        f"# Pusat data hijau di Cyberjaya\n\n{LONG_PARAGRAPH}\n\n- Tenaga solar\n- Air kitar semula\n",
        encoding="utf-8",
    )
    result = wire.server.cli(
        "submit",
        str(source),
        "--key",
        wire.issuer_key,
        "--url",
        wire.server.url,
        "--city",
        "Kuala Lumpur",
        "--country",
        "MY",
        "--sector",
        "top-story",
        "--language",
        "ms",
    )
    release = json.loads(result.stdout)
    assert release["status"] == "held"
    assert release["language"] == "ms"
    assert release["dateline"] == {"city": "Kuala Lumpur", "country": "MY"}
    assert release["sectors"] == ["top-story"]
    assert release["versions"][0]["headline"] == "Pusat data hijau di Cyberjaya"
    body = stored_body(wire, release["id"])
    assert "<li>Tenaga solar</li>" in body and LONG_PARAGRAPH in body


# --- refusals leave nothing behind -----------------------------------------------------------


def _chunks(total: int, size: int = 1024 * 1024) -> Iterator[bytes]:
    while total > 0:
        yield b" " * min(size, total)
        total -= size


def _deep(depth: int) -> str:
    return '{"headline": ' + "[" * depth + "]" * depth + "}"


Case = tuple[str, int, str | None, str, Callable[[Desk], httpx.Response]]
REFUSALS: list[Case] = [
    # (id, status, field, words in the message, request)
    ("body-over-6-MiB", 413, None, "larger", lambda d: post_raw(d, b" " * (REQUEST_LIMIT + 1))),
    ("body-over-6-MiB-chunked", 413, None, "larger", lambda d: post_raw(d, _chunks(REQUEST_LIMIT + 1))),
    (
        "upload-over-6-MiB",
        413,
        None,
        "larger",
        lambda d: post_file(d, "siaran.md", b"a" * (REQUEST_LIMIT + 1)),
    ),
    (
        "upload-over-5-MiB",
        422,
        "file",
        "5 MiB",
        lambda d: post_file(d, "siaran.md", b"a" * (5 * 1024 * 1024 + 1)),
    ),
    (
        "headline-too-long",
        422,
        "headline",
        "300",
        lambda d: post_json(d, release_payload(headline="x" * 301)),
    ),
    ("body-too-long", 422, "body", "200000", lambda d: post_json(d, release_payload(body="x" * 200_001))),
    ("empty-headline", 422, "headline", "required", lambda d: post_json(d, release_payload(headline=" \t "))),
    (
        "markup-only-headline",
        422,
        "headline",
        "required",
        lambda d: post_json(d, release_payload(headline="<script>alert(1)</script>")),
    ),
    ("markup-only-body", 422, "body", "empty", lambda d: post_json(d, release_payload(body="<img src=x>"))),
    ("malformed-json", 422, None, "JSON", lambda d: post_raw(d, b'{"headline": "x",')),
    ("json-array", 422, None, "object", lambda d: post_json(d, [release_payload()])),
    ("unknown-field", 422, "colour", "Extra", lambda d: post_json(d, release_payload(colour="merah"))),
    (
        "sectors-as-string",
        422,
        "sectors",
        "array",
        lambda d: post_json(d, release_payload(sectors="Top Story")),
    ),
    (
        "invalid-country",
        422,
        "dateline.country",
        "ISO 3166",
        lambda d: post_json(d, release_payload(dateline={"city": "Kuala Lumpur", "country": "XX"})),
    ),
    (
        "unknown-sector",
        422,
        "sectors[1]",
        "Media Topic",
        lambda d: post_json(d, release_payload(sectors=["Top Story", "medtop:99999999"])),
    ),
    ("unknown-language", 422, "language", "tlh", lambda d: post_json(d, release_payload(language="tlh"))),
    (
        "naive-release-at",
        422,
        "release_at",
        "time zone",
        lambda d: post_json(d, release_payload(release_at="2030-01-01T09:00:00")),
    ),
    (
        "release-at-out-of-range",
        422,
        "release_at",
        "range",
        lambda d: post_json(d, release_payload(release_at="0001-01-01T00:00:00+14:00")),
    ),
    (
        "embargo-out-of-range",
        422,
        "embargo_until",
        "range",
        lambda d: post_json(d, release_payload(embargo_until="9999-12-31T23:00:00-05:00")),
    ),
    (
        "embargo-before-release",
        422,
        "embargo_until",
        "before",
        lambda d: post_json(
            d,
            release_payload(
                release_at="2030-01-02T09:00:00+08:00", embargo_until="2030-01-01T09:00:00+08:00"
            ),
        ),
    ),
    (
        "javascript-media-url",
        422,
        "media[0].url",
        "http(s)",
        lambda d: post_json(d, release_payload(media=[{"url": "javascript:alert(1)"}])),
    ),
    (
        "media-url-with-space",
        422,
        "media[0].url",
        "http(s)",
        lambda d: post_json(d, release_payload(media=[{"url": "https://cdn.contoh.example/a b.png"}])),
    ),
    (
        "media-url-with-lone-surrogate",
        422,
        "media[1].url",
        "http(s)",
        lambda d: post_file(
            d,
            "siaran.md",
            LONG_PARAGRAPH.encode(),
            multipart_fields(
                media=[{"url": "https://cdn.contoh.example/a.png"}, {"url": "https://e.com/\ud800"}]
            ),
        ),
    ),
    (
        "about-with-lone-surrogate",
        422,
        "about",
        "surrogate",
        lambda d: post_file(
            d, "siaran.md", LONG_PARAGRAPH.encode(), multipart_fields(about="<p>Kami \ud800</p>")
        ),
    ),
    (
        "contact-email-without-at",
        422,
        "contact.email",
        "email",
        lambda d: post_json(
            d, release_payload(contact={"name": "Nur Aina", "email": "media.contoh.example"})
        ),
    ),
    (
        "invalid-utf8-md",
        422,
        "file",
        "UTF-8",
        lambda d: post_file(d, "siaran.md", b"# Tajuk\n\nKafe \xe9 \xff\xfe"),
    ),
    (
        "corrupt-docx",
        422,
        "file",
        ".docx",
        lambda d: post_file(d, "siaran.docx", b"PK\x03\x04" + b"\x00" * 64),
    ),
    ("exe-upload", 422, "file", "unsupported", lambda d: post_file(d, "siaran.exe", b"MZ\x90\x00")),
    (
        "missing-file-part",
        422,
        "file",
        "required",
        lambda d: post(d, files={"release": (None, json.dumps(multipart_fields()))}),
    ),
    (
        "missing-release-part",
        422,
        "release",
        "required",
        lambda d: post(d, files={"file": ("siaran.md", LONG_PARAGRAPH.encode())}),
    ),
    ("release-part-not-json", 422, "release", "JSON", lambda d: post_file(d, "siaran.md", b"x", "{nope")),
    ("release-part-array", 422, "release", "object", lambda d: post_file(d, "siaran.md", b"x", "[1, 2]")),
    (
        "release-part-nested-too-deeply",
        422,
        "release",
        "deeply",
        lambda d: post_file(d, "siaran.md", b"x", _deep(100_000)),
    ),
    (
        "release-part-missing-dateline",
        422,
        "dateline",
        "required",
        lambda d: post_file(d, "siaran.md", b"x", {"headline": "Tajuk"}),
    ),
    ("no-authorization", 401, None, "API key", lambda d: post(d, key=None, json=release_payload())),
    ("bad-key", 401, None, "unknown", lambda d: post(d, key="wk_not-a-real-key", json=release_payload())),
    (
        "not-a-bearer-token",
        401,
        None,
        "Bearer",
        lambda d: post(d, key=None, headers={"Authorization": "Basic dXNlcjpwYXNz"}, json=release_payload()),
    ),
    (
        "editor-cannot-submit",
        403,
        None,
        "organisation",
        lambda d: post(d, key="editor", json=release_payload()),
    ),
    (
        "wrong-content-type",
        415,
        None,
        "application/json",
        lambda d: post_raw(d, json.dumps(release_payload()).encode(), "text/plain"),
    ),
]


def assert_error_shape(response: httpx.Response, status: int, field: str | None, words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) <= {"status", "code", "message", "field", "details"}
    assert error["status"] == status
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and words in error["message"]
    if field is None:
        assert "field" not in error, error
    else:
        assert error["field"] == field
        assert error["message"].startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("status", "field", "words", "send"),
    [pytest.param(*case[1:], id=case[0]) for case in REFUSALS],
)
def test_refusal_is_clear_and_stores_nothing(
    wire: Desk, status: int, field: str | None, words: str, send: Callable[[Desk], httpx.Response]
) -> None:
    before = row_counts(wire.server)
    response = send(wire)
    assert_error_shape(response, status, field, words)
    assert row_counts(wire.server) == before
    with wire.issuer() as issuer:  # and the server is still well
        assert issuer.get("/api/v1/me").status_code == 200


# --- random payloads ----------------------------------------------------------------------------

_TEXT = st.text(st.characters(exclude_categories=()), max_size=30) | st.sampled_from(VECTORS)
_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT
_ANY_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)
_FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "headline": _TEXT,
    "summary": _TEXT,
    "body": _TEXT,
    "body_format": st.sampled_from(["markdown", "html", "text", "rtf"]) | _TEXT,
    "language": st.sampled_from(["ms", "en", "zh-TW", "tlh", ""]) | _TEXT,
    "dateline": st.fixed_dictionaries(
        {"city": _TEXT, "country": st.sampled_from(["MY", "XX", "my"]) | _TEXT}
    ),
    "sectors": st.lists(
        st.sampled_from(["Top Story", "medtop:04000000", "business", "nope"]) | _TEXT, max_size=3
    ),
    "contact": st.dictionaries(
        st.sampled_from(["name", "email", "phone", "website", "fax"]), _TEXT, max_size=3
    ),
    "about": _TEXT,
    "media": st.lists(
        st.fixed_dictionaries({"url": _TEXT}, optional={"caption": _TEXT, "alt": _TEXT}), max_size=2
    ),
    "targets": st.dictionaries(
        st.sampled_from(["countries", "languages", "circuits"]), st.lists(_TEXT, max_size=2)
    ),
    "release_at": st.sampled_from(
        ["2030-01-01T09:00:00Z", "2030-01-01T09:00:00", "0001-01-01T00:00:00+01:00"]
    )
    | _TEXT,
    "embargo_until": st.sampled_from(["2030-01-02T09:00:00+08:00", "yesterday"]) | _TEXT,
    "extra": _ANY_JSON,
}


@st.composite
def random_submissions(draw: st.DrawFn) -> tuple[str, Any]:
    """A valid release with a few fields replaced, dropped or given the wrong type; or any JSON at all."""
    if draw(st.sampled_from(["release"] * 9 + ["anything"])) == "anything":
        return "json", draw(_ANY_JSON)
    payload = release_payload()
    for name in draw(st.lists(st.sampled_from(sorted(_FIELD_VALUES)), min_size=1, max_size=4, unique=True)):
        how = draw(st.sampled_from(["shaped", "shaped", "any", "drop"]))
        if how == "drop":
            payload.pop(name, None)
        else:
            payload[name] = draw(_FIELD_VALUES[name] if how == "shaped" else _ANY_JSON)
    return draw(st.sampled_from(["json", "multipart"])), payload


def send_random(desk: Desk, transport: str, payload: Any) -> httpx.Response:
    if transport == "json" or not isinstance(payload, dict):
        return post_json(desk, payload)
    body = payload.pop("body", "")
    payload.pop("body_format", None)
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else json.dumps(body).encode()
    return post_file(desk, "siaran.md", data, json.dumps(payload))


@settings(max_examples=40, deadline=None)
@given(random_submissions())
def test_random_payloads_get_201_or_a_clean_4xx(wire: Desk, submission: tuple[str, Any]) -> None:
    transport, payload = submission
    before = row_counts(wire.server)
    response = send_random(wire, transport, payload)
    assert response.status_code == 201 or 400 <= response.status_code < 500, response.text
    after = row_counts(wire.server)
    if response.status_code != 201:
        error = response.json()["error"]
        assert error["status"] == response.status_code and error["message"]
        assert after == before
        return
    with wire.issuer() as issuer:  # the editions stage makes the machine editions after the answer
        release = with_editions(issuer, response.json())
    after = row_counts(wire.server)
    assert after["releases"] == before["releases"] + 1
    assert after["release_versions"] == before["release_versions"] + 1
    # the original, plus one edition (translated, draft, or awaiting translation) per other target language
    assert after["editions"] == before["editions"] + len(release["editions"])
    assert {e["lang"] for e in release["editions"]} == {release["language"], *release["targets"]["languages"]}
    assert sum(e["origin"] == "original" for e in release["editions"]) == 1
    with wire.issuer() as issuer:  # what went in can be read back and is inert
        edition = issuer.get(f"/api/v1/releases/{release['id']}/editions/{release['language']}")
        assert edition.status_code == 200, edition.text
        assert_inert(strip_dateline(ninjs_html(edition.json())))
        text = issuer.get(f"/api/v1/releases/{release['id']}/editions/{release['language']}?format=text")
        assert text.status_code == 200
