"""Sanitising untrusted publisher content.

``sanitize_html`` reduces HTML to a small allowlist fit for press releases, ``sanitize_text``
cleans plain-text fields (headline, summary, names) and ``html_to_text`` renders sanitised
HTML as readable plain text for the text edition and the search index.

Headline policy: the release page already shows the headline as ``<h1>``, so any ``<h1>`` in a
body is demoted to ``<h2>`` (its text is kept, its attributes are dropped).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from html import unescape
from html.parser import HTMLParser

import nh3

ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "p", "br", "h1", "h2", "h3", "h4", "strong", "b", "em", "i", "u", "s", "sub", "sup",
        "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
        "figure", "figcaption", "img", "code", "pre", "hr", "span",
    }
)  # fmt: skip
"""Tags accepted on input; ``h1`` never appears in the output (it becomes ``h2``)."""

OUTPUT_TAGS: frozenset[str] = ALLOWED_TAGS - {"h1"}
"""Tags that can appear in the output of :func:`sanitize_html`."""

ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href", "title"}),
    "img": frozenset({"src", "alt", "width", "height"}),
    "th": frozenset({"colspan", "rowspan"}),
    "td": frozenset({"colspan", "rowspan"}),
}

LINK_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})
IMAGE_SCHEMES: frozenset[str] = frozenset({"http", "https"})
LINK_REL = "nofollow noopener noreferrer"

# Elements removed together with everything inside them. Every other disallowed element is
# unwrapped: its tag goes, its text stays (as escaped text, never as markup).
_DROP_WITH_CONTENT: frozenset[str] = frozenset(
    {
        "script", "style", "template", "noscript", "iframe", "object", "embed", "applet",
        "svg", "math", "textarea", "select", "title", "xmp", "noembed", "noframes", "head",
    }
)  # fmt: skip

_NUMERIC_ATTRIBUTES: frozenset[str] = frozenset({"width", "height", "colspan", "rowspan"})
_MAX_NUMERIC = 10000

_CONTROL_KEEP_HTML = frozenset("\t\n\r")
_CONTROL_KEEP_TEXT = frozenset("\t\n")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Runs of whitespace, except the no-break spaces that typography relies on.
_WHITESPACE = re.compile(r"[^\S\u00a0\u202f]+")
# In serialised output "<", ">" and '"' inside attribute values are escaped, so a tag match
# cannot run into an attribute value, and ' src="' can only be the attribute itself.
_IMG_TAG = re.compile(r"<img(?:\s[^>]*)?>")


class ContentError(ValueError):
    """Publisher content that cannot be accepted; ``field`` names the offending input."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(field, reason)
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


def _strip_controls(text: str, keep: frozenset[str]) -> str:
    return "".join(ch for ch in text if ch in keep or unicodedata.category(ch) != "Cc")


def _url_scheme(url: str) -> str | None:
    """The lowercased scheme-like prefix of ``url``; None for a plainly relative URL.

    Whitespace, control and format characters are ignored. Anything before the first ":" that
    is not cut off by "/", "?" or "#" counts, even when it is not a valid scheme name, so that
    look-alikes such as "java", U+FFFD, "script:" are refused rather than passed on as relative.
    """
    squeezed = "".join(ch for ch in url if not ch.isspace() and unicodedata.category(ch) not in ("Cc", "Cf"))
    head, colon, _ = squeezed.lower().partition(":")
    if not colon or any(ch in head for ch in "/?#"):
        return None
    return head


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    if attribute in _NUMERIC_ATTRIBUTES:
        value = value.strip()
        if not value.isascii() or not value.isdigit() or not 0 < int(value) <= _MAX_NUMERIC:
            return None
        return str(int(value))
    if tag == "img" and attribute == "src":
        # Images must be absolute http(s) URLs; relative and protocol-relative sources are refused.
        absolute = value.strip().lower().startswith(("http://", "https://"))
        if not absolute or _url_scheme(value) not in IMAGE_SCHEMES:
            return None
    elif attribute == "href":
        scheme = _url_scheme(value)
        if scheme is not None and scheme not in LINK_SCHEMES:
            return None
    return value


_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags=set(_DROP_WITH_CONTENT),
    attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
    attribute_filter=_filter_attribute,
    strip_comments=True,
    link_rel=LINK_REL,
    url_schemes=set(LINK_SCHEMES),
)

_TEXT_CLEANER = nh3.Cleaner(tags=set(), clean_content_tags=set(_DROP_WITH_CONTENT), attributes={})


def sanitize_html(html: str) -> str:
    """Return ``html`` reduced to the press-release allowlist.

    Raises :class:`ContentError` (field ``"body"``) for text holding lone surrogates.
    """
    if _SURROGATE.search(html):
        raise ContentError("body", "contains invalid Unicode (lone surrogates)")
    cleaned = _CLEANER.clean(_strip_controls(html, _CONTROL_KEEP_HTML))
    # An image whose source was refused is useless; drop the bare <img>.
    cleaned = _IMG_TAG.sub(lambda m: m.group(0) if ' src="' in m.group(0) else "", cleaned)
    # The serialiser escapes "<" in text and attribute values and h1 keeps no attributes,
    # so these literals can only be the h1 tags themselves.
    return cleaned.replace("<h1>", "<h2>").replace("</h1>", "</h2>")


_HEADING = re.compile(r"<(/?)h([1-6])>")


def for_page(html: str, top: int = 2) -> str:
    """Sanitised ``html`` fitted into a page whose own heading above it is of level ``top - 1``.

    The stored text keeps the issuer's levels; the page shifts them so that the fragment's highest
    heading becomes ``h{top}`` and none skips a level on the way down (an ``h4`` straight after an
    ``h2`` becomes an ``h3``), which screen readers rely on to outline the page. An image that came
    without alt text gets an empty one (the review chain holds such submissions for an editor; one
    let through is treated as decorative rather than read out as its file name).
    """
    levels = [int(m.group(2)) for m in _HEADING.finditer(html) if not m.group(1)]
    if levels:
        offset = top - min(levels)
        previous = top - 1
        opened: list[int] = []

        def shift(m: re.Match[str]) -> str:
            nonlocal previous
            if m.group(1):  # a closing tag: the sanitiser's output never nests headings
                return f"</h{opened.pop() if opened else m.group(2)}>"
            level = min(int(m.group(2)) + offset, previous + 1, 6)
            previous = level
            opened.append(level)
            return f"<h{level}>"

        html = _HEADING.sub(shift, html)
    return _IMG_TAG.sub(_with_alt, html)


def _with_alt(m: re.Match[str]) -> str:
    tag = m.group(0)
    if " alt=" in tag:
        return tag
    return tag[:-2].rstrip() + ' alt="" />' if tag.endswith("/>") else tag[:-1] + ' alt="">'


def sanitize_text(text: str, field: str, max_len: int) -> str:
    """Clean a plain-text field: no markup, no control characters, NFC, single spaces.

    Raises :class:`ContentError` for lone surrogates or a result longer than ``max_len``.
    """
    if _SURROGATE.search(text):
        raise ContentError(field, "contains invalid Unicode (lone surrogates)")
    text = _strip_controls(text.replace("\r", "\n"), _CONTROL_KEEP_TEXT)
    text = unescape(_TEXT_CLEANER.clean(text))
    # Character references may decode to control characters or surrogate code points.
    text = _strip_controls(text.replace("\r", "\n"), _CONTROL_KEEP_TEXT)
    if _SURROGATE.search(text):
        raise ContentError(field, "contains invalid Unicode (lone surrogates)")
    text = unicodedata.normalize("NFC", text)
    text = _WHITESPACE.sub(" ", text).strip(" ")
    if len(text) > max_len:
        raise ContentError(field, f"longer than {max_len} characters")
    return text


_BLOCK_TAGS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "blockquote", "figure", "figcaption", "table", "hr", "pre", "div"}
)
_SKIP_TAGS = frozenset({"script", "style", "template"})


class _TextRenderer(HTMLParser):
    """Collects lines of text; separators between lines are one newline or a blank line."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []
        self._buf: list[str] = []
        self._prefix = ""
        self._sep = 0
        self._lists: list[str] = []
        self._links: list[tuple[int, int, str]] = []
        self._cells = 0
        self._pre = 0
        self._skip = 0
        self._flushes = 0

    def _flush(self) -> None:
        raw = "".join(self._buf)
        text = raw.strip("\n") if self._pre else _WHITESPACE.sub(" ", raw).strip(" ")
        if text.strip():
            self.lines.append((self._sep, self._prefix + text))
            self._sep = 0
        self._buf = []
        self._prefix = ""
        self._flushes += 1

    def _break(self, level: int) -> None:
        self._flush()
        self._sep = max(self._sep, level)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self._break(2)
            if tag == "pre":
                self._pre += 1
        elif tag in ("ul", "ol"):
            self._break(1 if self._lists else 2)
            self._lists.append(tag)
        elif tag == "li":
            self._break(1)
            self._prefix = "  " * max(len(self._lists) - 1, 0) + "- "
        elif tag == "tr":
            self._break(1)
            self._cells = 0
        elif tag in ("td", "th"):
            if self._cells:
                self._buf.append(" | ")
            self._cells += 1
        elif tag == "br":
            self._break(1)
        elif tag == "a":
            self._links.append((self._flushes, len(self._buf), attributes.get("href", "").strip()))
        elif tag == "img" and attributes.get("alt", "").strip():
            self._buf.append(f" [{attributes['alt'].strip()}] ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(self._skip - 1, 0)
        elif tag in _BLOCK_TAGS:
            self._break(2)
            if tag == "pre":
                self._pre = max(self._pre - 1, 0)
        elif tag in ("ul", "ol"):
            if self._lists:
                self._lists.pop()
            self._break(1 if self._lists else 2)
        elif tag in ("li", "tr"):
            self._break(1)
        elif tag == "a" and self._links:
            flushes, start, href = self._links.pop()
            label = ""
            if flushes == self._flushes:  # the link text is still in the current line
                label = _WHITESPACE.sub(" ", "".join(self._buf[start:])).strip()
            if href and href not in (label, f"mailto:{label}"):
                self._buf.append(f" <{href}>" if label else f"<{href}>")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._buf.append(data)

    def render(self) -> str:
        self._break(0)
        out: list[str] = []
        for sep, line in self.lines:
            if out:
                out.append("\n" * max(sep, 1))
            out.append(line)
        return "".join(out)


def html_to_text(html: str) -> str:
    """Render sanitised HTML as plain text.

    Paragraphs are separated by blank lines, list items start with ``"- "`` (indented when
    nested), table cells are joined with ``" | "`` and links read ``"text <url>"``.

    The same body is rendered several times as a release goes out (alert matching, its ninjs,
    its search terms), each time a few milliseconds of parsing: the latest results are kept.
    """
    return _rendered(html)


@functools.lru_cache(maxsize=64)
def _rendered(html: str) -> str:
    renderer = _TextRenderer()
    renderer.feed(html)
    renderer.close()
    return renderer.render()
