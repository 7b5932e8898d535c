"""Conditional requests (RFC 9110 §13): validators that match weakly and a date that never goes back."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from starlette.requests import Request


def _opaque(tag: str) -> str:
    """An entity tag without its weakness mark: `W/"x"` and `"x"` compare equal (weak comparison)."""
    tag = tag.strip()
    return tag[2:] if tag[:2] in ("W/", "w/") else tag


def etag_matches(header: str, etag: str) -> bool:
    """Whether an If-None-Match header names `etag` (or is `*`), by weak comparison (§13.1.2)."""
    if header.strip() == "*":
        return True
    wanted = _opaque(etag)
    return any(_opaque(tag) == wanted for tag in header.split(","))


def http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC).replace(microsecond=0), usegmt=True)


def not_modified(request: Request, etag: str, updated: datetime) -> bool:
    """If-None-Match decides when present; otherwise If-Modified-Since, to the second."""
    inm = request.headers.get("if-none-match")
    if inm is not None:
        return etag_matches(inm, etag)
    ims = request.headers.get("if-modified-since")
    if ims:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError, IndexError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return updated.replace(microsecond=0) <= since
    return False
