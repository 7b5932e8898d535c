"""RSS 2.0, Atom 1.0 and JSON Feed 1.1 from one list of feed entries.

An entry carries the whole wire text (dateline, body, sector line, "About", media contact,
disclaimer), as the page, ninjs and email do. Categories have a stable term (the Media Topic code
or the wire section's slug) in a scheme, with the name in the entry's language as the label. An
embargo is data, not only words: an extension element (Atom and RSS, namespace `WARTA_NS`) and the
``_warta`` object of JSON Feed carry the lift time.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from urllib.parse import urlencode

from warta.config import Settings
from warta.editions.render import WireText
from warta.editions.sectors import is_media_topic
from warta.formats.ninjs import edition_url
from warta.i18n.dates import iso
from warta.model import Edition, Organisation, Release, ReleaseVersion

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
WARTA_NS = "urn:warta:feed:1"
MEDIA_TOPIC_SCHEME = "http://cv.iptc.org/newscodes/mediatopic/"


@dataclass(frozen=True)
class Category:
    term: str  # stable: "04000000" (a Media Topic) or "business" (a wire section)
    scheme: str  # scheme + term names the category
    label: str  # in the entry's language


@dataclass(frozen=True)
class Entry:
    id: str  # stable: the edition's URL
    url: str
    title: str
    summary: str
    content_html: str
    lang: str
    published: datetime
    updated: datetime
    author: str
    categories: list[Category]
    embargoed_until: datetime | None = None  # set while the item is an early, embargoed copy
    version: int = 1
    images: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Feed:
    title: str
    url: str  # the feed itself
    home: str
    lang: str | None
    updated: datetime
    entries: list[Entry]


def section_scheme(settings: Settings) -> str:
    """The scheme of wire sections: with a slug appended, the newsroom filtered by that section."""
    return f"{settings.base_url}/?sector="


def categories(settings: Settings, release: Release, text: WireText) -> list[Category]:
    out = []
    for code, label in zip(release.sectors, text.sector_names, strict=False):
        if is_media_topic(code):
            out.append(Category(code.rpartition(":")[2], MEDIA_TOPIC_SCHEME, label))
        else:
            out.append(Category(code, section_scheme(settings), label))
    return out


def feed_url(settings: Settings, path: str, params: dict[str, str | None]) -> str:
    """A feed's own URL from the configured base URL, its filters in a fixed order: the same
    feed has the same id and ``self`` link whatever the request's Host header or order of filters."""
    query = urlencode(sorted((k, v) for k, v in params.items() if v))
    return f"{settings.base_url}{path}" + (f"?{query}" if query else "")


def entry(
    settings: Settings,
    release: Release,
    version: ReleaseVersion,
    edition: Edition,
    org: Organisation,
    text: WireText,
    *,
    published: datetime,
    updated: datetime,
    embargoed_until: datetime | None = None,
    versioned_id: bool = False,
) -> Entry:
    """One edition as a feed entry with its full wire text. ``embargoed_until`` marks an early copy
    (its title says so in the entry's language, and the lift time travels as data)."""
    url = edition_url(settings, release.id, edition.lang)
    title = edition.headline
    if embargoed_until is not None and text.embargo_note:
        title = f"[{text.embargo_note}] {title}"
    return Entry(
        id=f"{url}#v{edition.version}" if versioned_id else url,
        url=url,
        title=title,
        summary=edition.summary,
        content_html=text.full_html(embargoed=embargoed_until is not None),
        lang=edition.lang,
        published=published,
        updated=updated,
        author=org.name,
        categories=categories(settings, release, text),
        embargoed_until=embargoed_until,
        version=edition.version,
        images=[str(m["url"]) for m in version.media if m.get("url")],
    )


def rss(feed: Feed) -> bytes:
    root = ET.Element(
        "rss", {"version": "2.0", "xmlns:atom": ATOM_NS, "xmlns:dc": DC_NS, "xmlns:warta": WARTA_NS}
    )
    channel = ET.SubElement(root, "channel")
    ET.SubElement(channel, "title").text = feed.title
    ET.SubElement(channel, "link").text = feed.home
    ET.SubElement(channel, "description").text = feed.title
    ET.SubElement(channel, "atom:link", {"href": feed.url, "rel": "self", "type": "application/rss+xml"})
    if feed.lang:
        ET.SubElement(channel, "language").text = feed.lang
    ET.SubElement(channel, "lastBuildDate").text = format_datetime(feed.updated)
    for e in feed.entries:
        item = ET.SubElement(channel, "item")
        ET.SubElement(item, "title").text = e.title
        ET.SubElement(item, "link").text = e.url
        ET.SubElement(item, "guid", {"isPermaLink": "false" if "#" in e.id else "true"}).text = e.id
        ET.SubElement(item, "description").text = e.content_html
        ET.SubElement(item, "pubDate").text = format_datetime(e.published)
        ET.SubElement(item, "dc:creator").text = e.author
        ET.SubElement(item, "dc:language").text = e.lang
        for c in e.categories:
            ET.SubElement(item, "category", {"domain": c.scheme}).text = c.term
        if e.embargoed_until is not None:
            ET.SubElement(item, "warta:embargoed", {"until": iso(e.embargoed_until)})
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8")


def atom(feed: Feed) -> bytes:
    root = ET.Element("feed", {"xmlns": ATOM_NS, "xmlns:warta": WARTA_NS})
    if feed.lang:
        root.set("xml:lang", feed.lang)
    ET.SubElement(root, "id").text = feed.url
    ET.SubElement(root, "title").text = feed.title
    ET.SubElement(root, "updated").text = iso(feed.updated)
    ET.SubElement(root, "link", {"rel": "self", "href": feed.url, "type": "application/atom+xml"})
    ET.SubElement(root, "link", {"rel": "alternate", "href": feed.home, "type": "text/html"})
    for e in feed.entries:
        entry_el = ET.SubElement(root, "entry", {"xml:lang": e.lang})
        ET.SubElement(entry_el, "id").text = e.id
        ET.SubElement(entry_el, "title").text = e.title
        ET.SubElement(entry_el, "link", {"rel": "alternate", "href": e.url, "hreflang": e.lang})
        ET.SubElement(entry_el, "published").text = iso(e.published)
        ET.SubElement(entry_el, "updated").text = iso(e.updated)
        author = ET.SubElement(entry_el, "author")
        ET.SubElement(author, "name").text = e.author
        if e.summary:
            ET.SubElement(entry_el, "summary").text = e.summary
        ET.SubElement(entry_el, "content", {"type": "html"}).text = e.content_html
        for c in e.categories:
            ET.SubElement(entry_el, "category", {"term": c.term, "scheme": c.scheme, "label": c.label})
        if e.embargoed_until is not None:
            ET.SubElement(entry_el, "warta:embargoed", {"until": iso(e.embargoed_until)})
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8")


def _json_item(e: Entry) -> dict[str, object]:
    extension: dict[str, object] = {
        "version": e.version,
        "categories": [{"term": c.term, "scheme": c.scheme, "label": c.label} for c in e.categories],
        "embargoed": e.embargoed_until is not None,
    }
    if e.embargoed_until is not None:
        extension["embargoed_until"] = iso(e.embargoed_until)
    item: dict[str, object] = {
        "id": e.id,
        "url": e.url,
        "title": e.title,
        "content_html": e.content_html,
        "date_published": iso(e.published),
        "date_modified": iso(e.updated),
        "authors": [{"name": e.author}],
        "tags": [c.label for c in e.categories],
        "language": e.lang,
        "_warta": extension,
    }
    if e.summary:
        item["summary"] = e.summary
    if e.images:
        item["image"] = e.images[0]
    return item


def json_feed(feed: Feed) -> bytes:
    doc: dict[str, object] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": feed.title,
        "home_page_url": feed.home,
        "feed_url": feed.url,
        "items": [_json_item(e) for e in feed.entries],
    }
    if feed.lang:
        doc["language"] = feed.lang
    return json.dumps(doc, ensure_ascii=False).encode()
