"""Localised dates for datelines and release pages, from Babel's CLDR data.

Naive datetimes are taken to be in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime, format_skeleton

from warta.i18n.catalog import babel_locale, normalise_lang

# An international wire writes English dates day first ("27 Nov"), as CLDR's world English does.
_ENGLISH_DATES = Locale.parse("en_001")


def _date_locale(lang: str) -> Locale:
    return _ENGLISH_DATES if (normalise_lang(lang) or "en") == "en" else babel_locale(lang)


def _in_zone(dt: datetime, tz: str) -> tuple[datetime, ZoneInfo]:
    zone = ZoneInfo(tz)
    aware = dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
    return aware.astimezone(zone), zone


def dateline_date(dt: datetime, lang: str, tz: str = "UTC") -> str:
    """Short day-and-month date for a dateline, e.g. ``27 Nov``, ``11月27日``, ``27 нояб.``."""
    local, zone = _in_zone(dt, tz)
    return format_skeleton("MMMd", local, tzinfo=zone, locale=_date_locale(lang))


def long_datetime(dt: datetime, lang: str, tz: str = "UTC") -> str:
    """Full date and time with the zone, e.g. ``27 November 2026, 9:30:00 am UTC``."""
    local, zone = _in_zone(dt, tz)
    return format_datetime(local, "long", tzinfo=zone, locale=_date_locale(lang))


def iso(dt: datetime) -> str:
    """RFC 3339 timestamp in UTC, e.g. ``2026-11-27T09:30:00Z``."""
    aware = dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
