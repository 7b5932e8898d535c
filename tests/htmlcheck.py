"""Shared checks that HTML built from publisher content is inert, and the XSS vector corpus.

`assert_inert` holds a sanitised fragment (a release body, an "About" section) to the intake
allowlist. `assert_page_inert` holds a whole rendered page to the weaker rule that fits a page with
its own chrome: nothing in it can run script, and its JSON-LD cannot break out of its element.
"""

from __future__ import annotations

import json
import re
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

from warta.intake.sanitize import ALLOWED_ATTRIBUTES, LINK_REL, OUTPUT_TAGS

VECTORS_FILE = Path(__file__).parent / "data" / "xss_vectors.txt"
_PLACEHOLDERS = {"{NUL}": "\x00", "{TAB}": "\t", "{LF}": "\n", "{CR}": "\r"}
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})


def load_vectors(path: Path = VECTORS_FILE) -> list[str]:
    """The vectors of the corpus, one a line; comments and blank lines skipped, placeholders replaced."""
    vectors = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        for placeholder, char in _PLACEHOLDERS.items():
            line = line.replace(placeholder, char)
        vectors.append(line)
    return vectors


def url_scheme(url: str) -> str | None:
    """The lowercased scheme a browser would see in ``url``; None for a relative URL."""
    squeezed = "".join(ch for ch in url if not ch.isspace() and unicodedata.category(ch) not in ("Cc", "Cf"))
    squeezed = squeezed.lower()
    head, sep, _ = squeezed.partition(":")
    if not sep or "/" in head or "?" in head or "#" in head:
        return None  # relative URL
    return head


class _InertChecker(HTMLParser):
    """Records every way an HTML fragment could still run script or escape the allowlist."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in OUTPUT_TAGS:
            self.problems.append(f"element <{tag}> outside the allowlist")
        allowed = ALLOWED_ATTRIBUTES.get(tag, frozenset()) | ({"rel"} if tag == "a" else set())
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"event handler {name} on <{tag}>")
            if name == "style":
                self.problems.append(f"style attribute on <{tag}>")
            if name not in allowed:
                self.problems.append(f"attribute {name} not allowed on <{tag}>")
            if name in ("href", "src"):
                scheme = url_scheme(value or "")
                if scheme is not None and scheme not in SAFE_SCHEMES:
                    self.problems.append(f"{name} with scheme {scheme!r} on <{tag}>")
                if tag == "img" and scheme not in ("http", "https"):
                    self.problems.append(f"image source {value!r} is not absolute http(s)")
            if name == "rel" and value != LINK_REL:
                self.problems.append(f"rel {value!r} was not forced")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag not in OUTPUT_TAGS:
            self.problems.append(f"end tag </{tag}> outside the allowlist")

    def handle_comment(self, data: str) -> None:
        self.problems.append("comment left in output")

    def handle_decl(self, decl: str) -> None:
        self.problems.append(f"declaration {decl!r} left in output")

    def handle_pi(self, data: str) -> None:
        self.problems.append("processing instruction left in output")

    def unknown_decl(self, data: str) -> None:
        self.problems.append(f"unknown declaration {data!r} left in output")


def assert_inert(output: str) -> None:
    """Fail unless ``output`` is an HTML fragment within the intake allowlist."""
    checker = _InertChecker()
    checker.feed(output)
    checker.close()
    assert checker.problems == [], f"{checker.problems} in {output!r}"
    assert "<script" not in output.lower()
    assert "\x00" not in output


# Elements a page's own chrome never uses and publisher content must never bring in.
_FORBIDDEN_IN_PAGE = frozenset(
    {
        "applet", "base", "button", "embed", "frame", "frameset", "iframe", "input", "math", "noscript",
        "object", "select", "style", "svg", "template", "textarea", "xmp",
    }
)  # fmt: skip
_URL_ATTRIBUTES = frozenset(
    {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "background", "cite", "srcset"}
)
_JSON_LD = "application/ld+json"


class _PageChecker(HTMLParser):
    """Records anything in a whole page that could run script; collects its JSON-LD blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.json_ld: list[str] = []
        self._in_json_ld = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            if (values.get("type") or "").strip().lower() != _JSON_LD or "src" in values:
                self.problems.append(f"executable <script {attrs}>")
            else:
                self._in_json_ld = True
                self.json_ld.append("")
        if tag in _FORBIDDEN_IN_PAGE:
            self.problems.append(f"element <{tag}> in the page")
        if tag == "meta" and (values.get("http-equiv") or "").strip().lower() == "refresh":
            self.problems.append("meta refresh in the page")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"event handler {name} on <{tag}>")
            if name == "style":
                self.problems.append(f"style attribute on <{tag}>")
            if name in _URL_ATTRIBUTES:
                scheme = url_scheme(value or "")
                if scheme is not None and scheme not in SAFE_SCHEMES:
                    self.problems.append(f"{name} with scheme {scheme!r} on <{tag}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "script":
            self._in_json_ld = False

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_json_ld = False

    def handle_data(self, data: str) -> None:
        if self._in_json_ld:
            self.json_ld[-1] += data


_JSON_LD_BLOCK = re.compile(r"<script\b[^>]*>(.*?)</script", re.IGNORECASE | re.DOTALL)


def assert_page_inert(page: str) -> list[object]:
    """Fail if anything in a whole HTML page can run script; return its parsed JSON-LD documents.

    The page may have its own markup; only scripts of type application/ld+json are allowed, and
    their content must be JSON that holds no "<" (so neither "</script" nor "<!--" can appear).
    """
    checker = _PageChecker()
    checker.feed(page)
    checker.close()
    assert checker.problems == [], checker.problems
    assert "\x00" not in page
    docs: list[object] = []
    raw_blocks = _JSON_LD_BLOCK.findall(page)
    assert len(raw_blocks) == len(checker.json_ld), "every <script> must be a closed JSON-LD block"
    for raw in raw_blocks:
        assert "<" not in raw, f"JSON-LD could close its element early: {raw!r}"
        docs.append(json.loads(raw))
    return docs
