"""Tests for the intake layer: sanitising and converting untrusted publisher content."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from htmlcheck import assert_inert, load_vectors
from warta.intake import convert
from warta.intake.convert import (
    MAX_FILE_BYTES,
    body_to_html,
    docx_to_html,
    file_to_html,
    markdown_to_html,
)
from warta.intake.sanitize import (
    LINK_REL,
    ContentError,
    html_to_text,
    sanitize_html,
    sanitize_text,
)

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop

VECTORS = load_vectors()


# --- XSS vectors ------------------------------------------------------------------------------


def test_vector_file_is_substantial() -> None:
    assert len(VECTORS) >= 40
    assert len(set(VECTORS)) == len(VECTORS), "vectors must be distinct"


def test_checker_catches_unsafe_markup() -> None:
    for unsafe in (
        '<img src="x" onerror="alert(1)">',
        '<a href=" JaVa\tScRiPt:alert(1)">x</a>',
        '<p style="display:none">x</p>',
        "<script>alert(1)</script>",
        '<svg onload="alert(1)"></svg>',
    ):
        with pytest.raises(AssertionError):
            assert_inert(unsafe)


@pytest.mark.parametrize("vector", VECTORS)
def test_vector_is_inert_through_sanitize_html(vector: str) -> None:
    assert_inert(sanitize_html(vector))


@pytest.mark.parametrize("vector", VECTORS)
def test_vector_is_inert_through_markdown(vector: str) -> None:
    assert_inert(markdown_to_html(vector))


@pytest.mark.parametrize("vector", VECTORS)
def test_vector_is_inert_through_text_and_file_paths(vector: str) -> None:
    assert_inert(body_to_html(vector, "text"))
    assert_inert(file_to_html("release.html", vector.encode("utf-8")))
    assert_inert(file_to_html("release.md", vector.encode("utf-8")))
    html_to_text(sanitize_html(vector))  # must not fail on anything the sanitiser emits


_FRAGMENTS = st.sampled_from(
    [
        "<", ">", "/", "=", '"', "'", "`", " ", "\t", "\n", "\x00", "&", "#", ";", ":", "!--", "-->",
        "script", "img", "svg", "a", "p", "h1", "style", "iframe", "math", "noscript", "table", "td",
        "src", "href", "onerror", "onload", "alert(1)", "javascript", "data", "x", "&#58;", "&#x6a;",
        "<![CDATA[", "]]>", "[x](", ")", "![", "](", "*", "|", "---",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=40).map("".join))
def test_random_markup_is_inert(markup: str) -> None:
    assert_inert(sanitize_html(markup))
    assert_inert(markdown_to_html(markup))


# --- safe content survives ----------------------------------------------------------------------


def test_headings_lists_links_and_tables_survive() -> None:
    source = (
        "<h2>Results</h2><h3>Quarter</h3><h4>Detail</h4>"
        "<p>Revenue <strong>rose</strong> <em>sharply</em>, see "
        '<a href="https://example.com/report" title="Report">the report</a> or '
        '<a href="mailto:press@example.com">press@example.com</a>.</p>'
        "<ul><li>One</li><li>Two</li></ul><ol><li>First</li></ol>"
        '<table><thead><tr><th colspan="2">Year</th></tr></thead>'
        '<tbody><tr><td>2024</td><td rowspan="1">10</td></tr></tbody></table>'
        '<figure><img src="https://cdn.example.com/a.png" alt="Chart" width="640" height="480">'
        "<figcaption>Chart</figcaption></figure>"
        "<blockquote><p>Quote</p></blockquote><pre><code>x = 1</code></pre><hr>"
        "<p>H<sub>2</sub>O and E=mc<sup>2</sup>, <u>u</u>, <s>s</s>, <b>b</b>, <i>i</i>, <span>sp</span></p>"
    )
    out = sanitize_html(source)
    for part in (
        "<h2>Results</h2>",
        "<h3>Quarter</h3>",
        "<h4>Detail</h4>",
        "<strong>rose</strong>",
        "<em>sharply</em>",
        f'<a href="https://example.com/report" title="Report" rel="{LINK_REL}">the report</a>',
        f'<a href="mailto:press@example.com" rel="{LINK_REL}">',
        "<ul><li>One</li><li>Two</li></ul>",
        "<ol><li>First</li></ol>",
        '<th colspan="2">Year</th>',
        '<td rowspan="1">10</td>',
        '<img src="https://cdn.example.com/a.png" alt="Chart" width="640" height="480">',
        "<figcaption>Chart</figcaption>",
        "<blockquote><p>Quote</p></blockquote>",
        "<pre><code>x = 1</code></pre>",
        "<hr>",
        "<sub>2</sub>",
        "<sup>2</sup>",
        "<span>sp</span>",
    ):
        assert part in out
    assert_inert(out)


def test_h1_becomes_h2() -> None:
    assert sanitize_html('<h1 id="top" class="big">Launch</h1><p>x</p>') == "<h2>Launch</h2><p>x</p>"
    assert markdown_to_html("# Launch") == "<h2>Launch</h2>\n"


def test_rel_is_forced_and_target_dropped() -> None:
    out = sanitize_html('<a href="https://e.com" rel="opener" target="_blank">x</a>')
    assert out == f'<a href="https://e.com" rel="{LINK_REL}">x</a>'


def test_images_need_absolute_http_sources() -> None:
    assert sanitize_html('<img src="/local.png" alt="a">') == ""
    assert sanitize_html('<img src="mailto:a@b.c">') == ""
    assert sanitize_html('<img src="http://e.com/a.png" width="50%">') == '<img src="http://e.com/a.png">'


def test_script_and_style_content_dropped_but_other_text_kept() -> None:
    out = sanitize_html("<p>a<script>var secret = 1;</script>b<style>p{}</style>c<font>d</font></p>")
    assert out == "<p>abcd</p>"


@pytest.mark.parametrize(
    "text",
    [
        "بيان صحفي: أطلقت الشركة اليوم منتجاً جديداً في الرياض.",
        "ข่าวประชาสัมพันธ์: บริษัทเปิดตัวผลิตภัณฑ์ใหม่ในกรุงเทพฯ วันนี้",
        "新闻稿：公司今天在上海发布了新产品。",
        "Ιδρύθηκε το 1998 — Kraków, Zürich, São Paulo «citation»",
    ],
)
def test_non_latin_text_unchanged(text: str) -> None:
    assert sanitize_html(f"<p>{text}</p>") == f"<p>{text}</p>"
    assert markdown_to_html(text) == f"<p>{text}</p>\n"
    assert sanitize_text(text, "headline", 500) == text
    assert html_to_text(sanitize_html(f"<p>{text}</p>")) == text


def test_markdown_features() -> None:
    out = markdown_to_html(
        "## Facts\n\n- one\n- **two**\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "[site](https://example.com) <https://example.org>\n\n<em>raw</em>"
    )
    assert "<h2>Facts</h2>" in out
    assert "<li><strong>two</strong></li>" in out
    assert "<th>a</th>" in out and "<td>2</td>" in out
    assert f'<a href="https://example.com" rel="{LINK_REL}">site</a>' in out
    assert f'<a href="https://example.org" rel="{LINK_REL}">https://example.org</a>' in out
    assert "<em>raw</em>" in out


def test_body_to_html_formats() -> None:
    assert body_to_html("a < b & c\nline two\r\n\r\n\n second", "text") == (
        "<p>a &lt; b &amp; c<br>line two</p><p>second</p>"
    )
    assert body_to_html("<p onclick=x>hi</p>", "html") == "<p>hi</p>"
    assert body_to_html("*hi*", "markdown") == "<p><em>hi</em></p>\n"
    with pytest.raises(ContentError) as info:
        body_to_html("x", "rtf")
    assert info.value.field == "body_format"


def test_lone_surrogates_in_html_rejected() -> None:
    with pytest.raises(ContentError) as info:
        sanitize_html("<p>\ud800</p>")
    assert info.value.field == "body"


# --- sanitize_text ---------------------------------------------------------------------------


def test_sanitize_text_strips_markup_and_controls() -> None:
    raw = "  <b>Acme</b>\x00 launches\r\n\t<i>Rocket</i> &amp; more<script>alert(1)</script>\x07  "
    assert sanitize_text(raw, "headline", 200) == "Acme launches Rocket & more"


def test_sanitize_text_normalises_to_nfc() -> None:
    assert sanitize_text("Cafe\u0301 Zu\u0308rich", "city", 50) == "Café Zürich"


def test_sanitize_text_keeps_no_break_space() -> None:
    assert sanitize_text("Prix\u00a0: 10\u00a0€", "summary", 50) == "Prix\u00a0: 10\u00a0€"


def test_sanitize_text_too_long() -> None:
    with pytest.raises(ContentError) as info:
        sanitize_text("x" * 121, "headline", 120)
    assert info.value.field == "headline"
    assert "120" in info.value.reason
    assert str(info.value).startswith("headline: ")
    assert sanitize_text("x" * 120, "headline", 120) == "x" * 120


def test_sanitize_text_length_counts_after_cleaning() -> None:
    assert sanitize_text("<b>" + "y" * 10 + "</b>", "name", 10) == "y" * 10


@pytest.mark.parametrize("bad", ["abc\ud800", "\udfffx", "&#xD800;"])
def test_sanitize_text_rejects_surrogates(bad: str) -> None:
    if bad.startswith("&"):
        # A character reference to a surrogate decodes to U+FFFD, not to a surrogate.
        assert sanitize_text(bad, "summary", 10) == "\ufffd"
        return
    with pytest.raises(ContentError) as info:
        sanitize_text(bad, "summary", 100)
    assert info.value.field == "summary"


def test_content_error_is_value_error() -> None:
    error = ContentError("file", "not valid UTF-8")
    assert isinstance(error, ValueError)
    assert (error.field, error.reason, str(error)) == ("file", "not valid UTF-8", "file: not valid UTF-8")


# --- html_to_text ------------------------------------------------------------------------------


def test_html_to_text_layout() -> None:
    html = sanitize_html(
        "<h2>Title</h2><p>First  paragraph\nwith a <a href='https://e.com/x'>link</a>.</p>"
        "<ul><li>one</li><li>two<ul><li>nested</li></ul></li></ul>"
        "<p>Mail <a href='mailto:p@e.com'>p@e.com</a><br>Line two</p>"
        "<table><tr><th>A</th><th>B</th></tr><tr><td>1</td><td>2</td></tr></table>"
        "<pre>  keep\n    indent</pre><p>a &amp; b</p>"
    )
    assert html_to_text(html) == (
        "Title\n\n"
        "First paragraph with a link <https://e.com/x>.\n\n"
        "- one\n- two\n  - nested\n\n"
        "Mail p@e.com\nLine two\n\n"
        "A | B\n1 | 2\n\n"
        "  keep\n    indent\n\n"
        "a & b"
    )


def test_html_to_text_of_markdown() -> None:
    text = html_to_text(markdown_to_html("Intro <https://e.org>\n\n1. a\n2. b\n\n> quoted"))
    assert text == "Intro https://e.org\n\n- a\n- b\n\nquoted"


# --- files ------------------------------------------------------------------------------------


def _tiny_png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _make_docx() -> bytes:
    docx = pytest.importorskip("docx")
    document = docx.Document()
    document.add_heading("Acme launches Rocket", level=1)
    document.add_heading("Background", level=2)
    paragraph = document.add_paragraph("Acme today announced a ")
    paragraph.add_run("major").bold = True
    paragraph.add_run(" product.")
    document.add_paragraph("Second paragraph <script>alert(1)</script>.")
    document.add_paragraph("First point", style="List Bullet")
    document.add_paragraph("Second point", style="List Bullet")
    document.add_picture(io.BytesIO(_tiny_png()))
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_docx_converts_to_html() -> None:
    data = _make_docx()
    out = docx_to_html(data)
    assert "<h2>Acme launches Rocket</h2>" in out
    assert "<h2>Background</h2>" in out
    assert "<strong>major</strong>" in out
    assert "<p>Acme today announced a <strong>major</strong> product.</p>" in out
    assert "&lt;script&gt;" in out
    assert "<li>First point</li>" in out and "<li>Second point</li>" in out
    assert "<ul>" in out
    assert "<img" not in out and "data:" not in out
    assert_inert(out)
    assert file_to_html("Release.DOCX", data) == out


@pytest.mark.parametrize(
    "data",
    [b"", b"not a zip at all", b"PK\x03\x04" + b"\x00" * 64, b"PK\x05\x06" + b"\x00" * 18],
)
def test_corrupt_docx(data: bytes) -> None:
    with pytest.raises(ContentError) as info:
        docx_to_html(data)
    assert info.value.field == "file"
    with pytest.raises(ContentError):
        file_to_html("release.docx", data)


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, body in entries.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def test_docx_missing_document_part() -> None:
    data = _zip({"[Content_Types].xml": b"<Types/>", "_rels/.rels": b"<Relationships/>"})
    with pytest.raises(ContentError) as info:
        docx_to_html(data)
    assert info.value.field == "file"
    assert "document part" in info.value.reason


def test_docx_truncated() -> None:
    data = _make_docx()
    with pytest.raises(ContentError) as info:
        docx_to_html(data[: len(data) // 2])
    assert info.value.field == "file"


def test_docx_zip_bomb_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        with archive.open("word/media/big.bin", "w", force_zip64=True) as entry:
            block = b"\x00" * (1024 * 1024)
            for _ in range(51):
                entry.write(block)
    data = buffer.getvalue()
    assert len(data) < MAX_FILE_BYTES

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("mammoth must not see an oversized archive")

    monkeypatch.setattr(convert.mammoth, "convert_to_html", must_not_run)
    with pytest.raises(ContentError) as info:
        file_to_html("bomb.docx", data)
    assert info.value.field == "file"
    assert "50 MiB" in info.value.reason


def test_file_too_large() -> None:
    with pytest.raises(ContentError) as info:
        file_to_html("big.md", b"a" * (MAX_FILE_BYTES + 1))
    assert (info.value.field, info.value.reason) == ("file", "larger than 5 MiB")


@pytest.mark.parametrize("name", ["release.md", "release.markdown", "notes.txt", "page.html", "page.htm"])
def test_invalid_utf8_rejected(name: str) -> None:
    with pytest.raises(ContentError) as info:
        file_to_html(name, b"# Title\n\n\xff\xfe caf\xe9")
    assert (info.value.field, info.value.reason) == ("file", "not valid UTF-8")


def test_encoded_surrogate_rejected_as_invalid_utf8() -> None:
    with pytest.raises(ContentError):
        file_to_html("release.md", b"x \xed\xa0\x80 y")


def test_utf8_bom_allowed() -> None:
    assert file_to_html("release.md", b"\xef\xbb\xbf# Title") == "<h2>Title</h2>\n"
    assert file_to_html("release.HTML", "\ufeff<p>Zürich</p>".encode()) == "<p>Zürich</p>"


def test_markdown_and_text_files() -> None:
    assert file_to_html("a.markdown", b"**bold**") == "<p><strong>bold</strong></p>\n"
    assert file_to_html("a.txt", b"plain") == "<p>plain</p>\n"


@pytest.mark.parametrize("name", ["release.pdf", "release.doc", "release", "release.md.exe", ".docx.rtf"])
def test_unsupported_extension(name: str) -> None:
    with pytest.raises(ContentError) as info:
        file_to_html(name, b"data")
    assert info.value.field == "file"
    assert info.value.reason.startswith("unsupported file type")
