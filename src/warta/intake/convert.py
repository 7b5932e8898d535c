"""Converting uploaded release bodies (Markdown, HTML, plain text, .docx) into sanitised HTML.

Every converter ends in :func:`warta.intake.sanitize.sanitize_html`; nothing a publisher sends
reaches a page without passing through it.
"""

from __future__ import annotations

import html
import io
import os
import re
import zipfile
from typing import Any

import mammoth
from markdown_it import MarkdownIt

from warta.intake.sanitize import ContentError, sanitize_html

MAX_FILE_BYTES = 5 * 1024 * 1024
"""Largest accepted upload, in bytes."""

MAX_DOCX_UNCOMPRESSED_BYTES = 50 * 1024 * 1024
"""Largest total uncompressed size of the entries of an accepted .docx archive."""

MARKDOWN_EXTENSIONS = frozenset({".md", ".markdown", ".txt"})
HTML_EXTENSIONS = frozenset({".html", ".htm"})
DOCX_EXTENSIONS = frozenset({".docx"})
BODY_FORMATS = frozenset({"markdown", "html", "text"})

# CommonMark plus GFM tables. Raw HTML is let through here on purpose: the sanitiser decides
# what survives, so raw HTML and Markdown-made HTML obey exactly the same rules.
_MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable("table")

_BLANK_LINES = re.compile(r"\n[^\S\n]*\n\s*")
_HEADING = re.compile(r"<h([1-6])\b[^>]*>(.*?)</h\1>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def markdown_to_html(text: str) -> str:
    """Render CommonMark (with tables) to sanitised HTML."""
    return sanitize_html(_MARKDOWN.render(text))


def _drop_image(image: Any) -> list[Any]:
    # Embedded images would otherwise become data: URLs; they are left out of the body.
    return []


def _check_docx_archive(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ContentError("file", "not a valid .docx file (not a zip archive)") from exc
    if sum(entry.file_size for entry in entries) > MAX_DOCX_UNCOMPRESSED_BYTES:
        raise ContentError("file", "not accepted: the .docx expands to more than 50 MiB")
    if not any(entry.filename == "[Content_Types].xml" for entry in entries):
        raise ContentError("file", "not a valid .docx file (missing [Content_Types].xml)")


def docx_to_html(data: bytes) -> str:
    """Convert a Word .docx document to sanitised HTML; embedded images are dropped.

    Raises :class:`ContentError` (field ``"file"``) for anything that is not a readable .docx.
    """
    _check_docx_archive(data)
    try:
        result = mammoth.convert_to_html(io.BytesIO(data), convert_image=_drop_image)
    except Exception as exc:  # any failure to parse untrusted bytes is a content problem
        reason = "not a valid .docx file"
        if isinstance(exc, OSError) and "main document part" in str(exc):
            reason += " (missing document part)"
        raise ContentError("file", reason) from exc
    return sanitize_html(str(result.value))


def _decode_utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ContentError("file", "not valid UTF-8") from exc


def file_to_html(filename: str, data: bytes) -> str:
    """Convert an uploaded file to sanitised HTML, choosing the converter by extension."""
    if len(data) > MAX_FILE_BYTES:
        raise ContentError("file", "larger than 5 MiB")
    extension = os.path.splitext(filename.replace("\\", "/"))[1].lower()
    if extension in MARKDOWN_EXTENSIONS:
        return markdown_to_html(_decode_utf8(data))
    if extension in HTML_EXTENSIONS:
        return sanitize_html(_decode_utf8(data))
    if extension in DOCX_EXTENSIONS:
        return docx_to_html(data)
    shown = extension or "(no extension)"
    raise ContentError(
        "file", f"unsupported file type {shown}; use .md, .markdown, .txt, .html, .htm or .docx"
    )


def first_heading(body_html: str) -> str | None:
    """The text of the first heading of a converted body, or None when it has none.

    A release file's title is its first heading (``# Title``, Word's Heading 1, ``<h1>``), so an
    upload that leaves the headline out takes it from there, whichever client sent the file."""
    match = _HEADING.search(body_html)
    if match is None:
        return None
    text = " ".join(html.unescape(_TAG.sub("", match.group(2))).split())
    return text or None


def _text_paragraph(paragraph: str) -> str:
    lines = [html.escape(line.strip()) for line in paragraph.strip().split("\n")]
    return "<p>" + "<br>".join(lines) + "</p>"


def text_to_html(text: str) -> str:
    """Escape plain text; blank lines separate paragraphs, single newlines become ``<br>``."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = [part for part in _BLANK_LINES.split(text) if part.strip()]
    return sanitize_html("".join(_text_paragraph(part) for part in paragraphs))


def body_to_html(body: str, body_format: str) -> str:
    """Convert a release body given as ``"markdown"``, ``"html"`` or ``"text"`` to sanitised HTML."""
    if body_format == "markdown":
        return markdown_to_html(body)
    if body_format == "html":
        return sanitize_html(body)
    if body_format == "text":
        return text_to_html(body)
    raise ContentError("body_format", f"unsupported body format {body_format!r}; use markdown, html or text")
