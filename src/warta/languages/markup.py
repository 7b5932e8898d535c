"""Translating an edition's HTML and plain fields through an engine.

Engines translate segments; this module decides what the segments are and puts the translations back:

- For an engine that translates plain text, the document's text nodes are the segments (whitespace-only
  nodes and the contents of ``<code>`` and ``<pre>`` are left alone) and the markup around them is kept
  exactly as it was.
- For an engine that handles HTML (``handles_html``), the segments are the runs of inline content inside
  the document's blocks: a paragraph's contents with its links and emphasis, one list item, one table
  cell. Block markup (``<p>``, ``<ul>``, ``<table>``…) never goes to the engine, so batches stay small
  and a confused engine cannot break the document's structure.

Either way an edition's body is translated in one engine call. Attributes (``href``, ``title``, ``alt``)
are never translated.

The input is expected to be sanitised HTML (`warta.intake.sanitize.sanitize_html`), and the output must
be sanitised again by the caller before it is stored: an engine's output is not trusted.

Glossary: do-not-translate terms (names, tickers, brands) are matched case-sensitively as whole words in
text, never in attributes, and replaced by placeholders before translation: seven-digit numbers, which
Apertium and OpenCC copy unchanged. The terms are put back afterwards (see `GlossaryGuard`).
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser

from warta.languages.engines.base import EngineError, Translator

VOID_TAGS: frozenset[str] = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)
INLINE_TAGS: frozenset[str] = frozenset(
    {
        "a", "abbr", "b", "bdi", "bdo", "br", "cite", "code", "data", "dfn", "em", "i", "img", "kbd",
        "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var", "wbr",
    }
)  # fmt: skip
"""Elements that live inside a line of text; every other element is a block."""

MAX_DEPTH = 200
"""How deeply elements nest in the tree; deeper markup is kept, flattened."""

NO_TRANSLATE_TAGS: frozenset[str] = frozenset({"code", "pre", "kbd", "samp", "script", "style"})
"""Elements whose text is never translated."""

_PLACEHOLDER = re.compile(r"(?<![\d.,])(\d{3})\d{4}(?![\d]|[.,]\d)")
_PLACEHOLDER_SLOTS = 10000
# A letter or digit of a script written with spaces between words: what may not touch a glossary term.
# Chinese, Japanese, Thai, Lao, Khmer, Burmese and Hangul are left out, so that a term is found in text
# without spaces (网络港口公司) and before a particle (PSB는, PSBは).
_UNSPACED = (
    "\u0e00-\u0eff\u1000-\u109f\u1100-\u11ff\u1780-\u17ff\u3040-\u30ff\u3130-\u318f"
    "\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003ffff"
)
_WORD = f"[^\\W{_UNSPACED}]"


# --- a small, lossless-enough tree of sanitised HTML -------------------------------------------------


@dataclass
class Raw:
    """Markup kept verbatim (a comment, a declaration, a stray end tag)."""

    text: str


@dataclass
class Element:
    tag: str
    start: str
    """The start tag exactly as written, attributes included."""
    end: str = ""
    """The end tag; empty for void elements and elements the source never closed."""
    children: list[MarkupNode] = field(default_factory=list)


MarkupNode = str | Element | Raw
"""A text node (decoded text), an element or verbatim markup."""


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("", "")
        self._stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in INLINE_TAGS:
            self._close_paragraph()
        element = Element(tag, self.get_starttag_text() or f"<{tag}>")
        self._stack[-1].children.append(element)
        # Past MAX_DEPTH an element's contents become its siblings; the markup still comes out as it went in.
        if tag not in VOID_TAGS and len(self._stack) <= MAX_DEPTH:
            self._stack.append(element)

    def _close_paragraph(self) -> None:
        """A block start tag ends an open ``<p>`` (one the source left unclosed, as HTML allows)."""
        for depth in range(len(self._stack) - 1, 0, -1):
            if self._stack[depth].tag == "p":
                del self._stack[depth:]
                return
            if self._stack[depth].tag not in INLINE_TAGS:
                return

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._stack[-1].children.append(Element(tag, self.get_starttag_text() or f"<{tag}/>"))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self._stack) - 1, 0, -1):
            if self._stack[depth].tag == tag:
                self._stack[depth].end = f"</{tag}>"
                del self._stack[depth:]
                return
        if tag not in VOID_TAGS:
            self._stack[-1].children.append(Raw(f"</{tag}>"))

    def handle_data(self, data: str) -> None:
        self._stack[-1].children.append(data)

    def handle_comment(self, data: str) -> None:
        self._stack[-1].children.append(Raw(f"<!--{data}-->"))

    def handle_decl(self, decl: str) -> None:
        self._stack[-1].children.append(Raw(f"<!{decl}>"))

    def handle_pi(self, data: str) -> None:
        self._stack[-1].children.append(Raw(f"<?{data}>"))

    def unknown_decl(self, data: str) -> None:
        self._stack[-1].children.append(Raw(f"<![{data}]>"))


def parse_fragment(html: str) -> list[MarkupNode]:
    """The top-level nodes of an HTML fragment; character references in text are decoded."""
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root.children


def escape_text(text: str) -> str:
    return htmllib.escape(text, quote=False)


def serialize(nodes: Iterable[MarkupNode], text: Callable[[str], str] = escape_text) -> str:
    """HTML for ``nodes``; ``text`` turns each text node into markup (escaping it by default)."""
    out: list[str] = []

    def emit(node: MarkupNode) -> None:
        if isinstance(node, str):
            out.append(text(node))
        elif isinstance(node, Raw):
            out.append(node.text)
        else:
            out.append(node.start)
            for child in node.children:
                emit(child)
            out.append(node.end)

    for node in nodes:
        emit(node)
    return "".join(out)


def has_words(node: MarkupNode) -> bool:
    """Whether translatable text (not whitespace, not code) is in ``node``."""
    if isinstance(node, str):
        return bool(node.strip())
    if isinstance(node, Raw) or node.tag in NO_TRANSLATE_TAGS:
        return False
    return any(has_words(child) for child in node.children)


def _is_inline(node: MarkupNode) -> bool:
    if isinstance(node, str | Raw):
        return True
    return node.tag in INLINE_TAGS and all(_is_inline(child) for child in node.children)


def split_space(text: str) -> tuple[str, str, str]:
    """``text`` as (leading whitespace, core, trailing whitespace)."""
    core = text.strip()
    if not core:
        return text, "", ""
    start = text.index(core[0])
    return text[:start], core, text[start + len(core) :]


# --- glossary ---------------------------------------------------------------------------------------


class GlossaryGuard:
    """Swaps do-not-translate terms for placeholders and back.

    Terms match case-sensitively as whole words (in scripts written without spaces, anywhere); a longer
    term wins over a shorter one it contains. A
    placeholder is a seven-digit number, a three-digit prefix and the term's index (``9990000``,
    ``9990001``…): every engine copies numbers, and unlike an unknown word a number does not make
    Apertium capitalise the next word. ``sample`` is the text to be protected, so that the prefix can be
    one that does not already occur in it.
    """

    def __init__(self, terms: Iterable[str] = (), sample: str = "") -> None:
        unique = sorted({term.strip() for term in terms if term and term.strip()}, key=len, reverse=True)
        if len(unique) > _PLACEHOLDER_SLOTS:
            raise ValueError(f"a glossary has at most {_PLACEHOLDER_SLOTS} terms")
        self.terms: tuple[str, ...] = tuple(unique)
        self._index = {term: i for i, term in enumerate(self.terms)}
        self._pattern = (
            re.compile("|".join(rf"(?<!{_WORD}){re.escape(term)}(?!{_WORD})" for term in self.terms))
            if self.terms
            else None
        )
        self.prefix = 999
        if self.terms:
            taken = {int(match.group(1)) for match in _PLACEHOLDER.finditer(sample)}
            self.prefix = next((p for p in range(999, 99, -1) if p not in taken), 999)
        self._restore_pattern = re.compile(rf"(?<![\d.,]){self.prefix}(\d{{4}})(?![\d]|[.,]\d)")

    def placeholder(self, index: int) -> str:
        return f"{self.prefix}{index:04d}"

    def protect(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self.placeholder(self._index[m.group(0)]), text)

    def restore(self, text: str, escape: Callable[[str], str] | None = None) -> str:
        """``text`` with the terms back; ``escape`` renders a term first (for HTML output)."""
        if not self.terms:
            return text

        def back(match: re.Match[str]) -> str:
            index = int(match.group(1))
            if index >= len(self.terms):
                return match.group(0)
            term = self.terms[index]
            return escape(term) if escape else term

        return self._restore_pattern.sub(back, text)


# --- translation ------------------------------------------------------------------------------------


def _call(engine: Translator, segments: list[str], source: str, target: str) -> list[str]:
    if not segments:
        return []
    results = engine.translate(segments, source, target)
    if len(results) != len(segments):
        raise EngineError(f"{engine.name} returned {len(results)} segments for {len(segments)}")
    return results


def translate_html(
    html: str, engine: Translator, source: str, target: str, glossary: Sequence[str] = ()
) -> str:
    """Translate the text of an HTML document or fragment, keeping its markup; one engine call."""
    guard = GlossaryGuard(glossary, sample=html)
    nodes = parse_fragment(html)
    parts: list[str | int] = []
    segments: list[str] = []

    if engine.handles_html:
        _collect_runs(nodes, parts, segments, guard)
        results = [guard.restore(result, escape_text) for result in _call(engine, segments, source, target)]
    else:
        _collect_text(nodes, parts, segments, guard, skip=False)
        results = [escape_text(guard.restore(result)) for result in _call(engine, segments, source, target)]
    return "".join(results[part] if isinstance(part, int) else part for part in parts)


def _add_segment(parts: list[str | int], segments: list[str], lead: str, core: str, trail: str) -> None:
    parts.append(lead)
    parts.append(len(segments))
    segments.append(core)
    parts.append(trail)


def _collect_text(
    nodes: list[MarkupNode], parts: list[str | int], segments: list[str], guard: GlossaryGuard, skip: bool
) -> None:
    for node in nodes:
        if isinstance(node, str):
            lead, core, trail = split_space(node)
            if skip or not core:
                parts.append(escape_text(node))
            else:
                _add_segment(parts, segments, escape_text(lead), guard.protect(core), escape_text(trail))
        elif isinstance(node, Raw):
            parts.append(node.text)
        else:
            parts.append(node.start)
            _collect_text(node.children, parts, segments, guard, skip or node.tag in NO_TRANSLATE_TAGS)
            parts.append(node.end)


def _collect_runs(
    nodes: list[MarkupNode], parts: list[str | int], segments: list[str], guard: GlossaryGuard
) -> None:
    run: list[MarkupNode] = []

    def protect_text(text: str) -> str:
        return escape_text(guard.protect(text))

    def flush() -> None:
        if not run:
            return
        if any(has_words(node) for node in run):
            lead, core, trail = split_space(serialize(run, protect_text))
            _add_segment(parts, segments, lead, core, trail)
        else:
            parts.append(serialize(run))
        run.clear()

    for node in nodes:
        if _is_inline(node):
            run.append(node)
            continue
        flush()
        assert isinstance(node, Element)
        if node.tag in NO_TRANSLATE_TAGS:
            parts.append(serialize([node]))
            continue
        parts.append(node.start)
        _collect_runs(node.children, parts, segments, guard)
        parts.append(node.end)
    flush()


def translate_texts(
    texts: Sequence[str], engine: Translator, source: str, target: str, glossary: Sequence[str] = ()
) -> list[str]:
    """Translate plain-text fields (headline, summary…) in one engine call; blank fields stay as they are."""
    guard = GlossaryGuard(glossary, sample="\n".join(texts))
    slots: list[tuple[int, str, str]] = []
    segments: list[str] = []
    for i, text in enumerate(texts):
        lead, core, trail = split_space(text)
        if core:
            slots.append((i, lead, trail))
            protected = guard.protect(core)
            segments.append(escape_text(protected) if engine.handles_html else protected)
    results = _call(engine, segments, source, target)
    out = list(texts)
    for (i, lead, trail), result in zip(slots, results, strict=True):
        if engine.handles_html:
            result = _plain(parse_fragment(result))
        out[i] = lead + guard.restore(result.strip()) + trail
    return out


def _plain(nodes: list[MarkupNode]) -> str:
    return "".join(
        node if isinstance(node, str) else _plain(node.children)
        for node in nodes
        if not isinstance(node, Raw)
    )


def translate_text(
    text: str, engine: Translator, source: str, target: str, glossary: Sequence[str] = ()
) -> str:
    """Translate one plain-text field."""
    return translate_texts([text], engine, source, target, glossary)[0]
