"""Output formats, one registered class each: ninjs, NewsML-G2, Atom, JSON Feed, RSS, email, JSON-LD.

Callers ask this package, the registry, for a format by name (`get`, `names`) and hand it a
rendered edition and the event it announces (`event_for`); they import no format module.
"""

from __future__ import annotations

# each format module registers its formats when it is imported
from warta.formats import email, feeds, jsonld, newsml, ninjs  # noqa: F401
from warta.formats.events import Event, EventType, event_for
from warta.formats.ninjs import edition_url
from warta.formats.registry import Format, UnknownFormat, get, names, register

Email = email.Email
FeedFormat = feeds.FeedFormat
Feed = feeds.Feed
Entry = feeds.Entry
feed_url = feeds.feed_url
event_entry = feeds.event_entry
JsonLd = jsonld.JsonLd

__all__ = [
    "Email",
    "Entry",
    "Event",
    "EventType",
    "Feed",
    "FeedFormat",
    "Format",
    "JsonLd",
    "UnknownFormat",
    "edition_url",
    "event_entry",
    "event_for",
    "feed_url",
    "get",
    "names",
    "register",
]
