"""One place for 'now', always timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(dt: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; every datetime we store is UTC."""
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@overload
def stamp(dt: datetime) -> str: ...
@overload
def stamp(dt: None) -> None: ...
def stamp(dt: datetime | None) -> str | None:
    """RFC 3339 in UTC with a Z, for JSON; None stays None."""
    if dt is None:
        return None
    return aware(dt).astimezone(UTC).isoformat().replace("+00:00", "Z")  # type: ignore[union-attr]
