"""RSS 2.0, Atom 1.0 and JSON Feed 1.1 from one list of feed entries.

An entry carries the whole wire text (dateline, body, sector line, "About", media contact,
disclaimer), as the page, ninjs and email do. Categories have a stable term (the Media Topic code
or the wire section's slug) in a scheme, with the name in the entry's language as the label. An
embargo is data, not only words: an extension element (Atom and RSS, namespace `WARTA_NS`) and the
``_warta`` object of JSON Feed carry the lift time.
"""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from html import escape
from typing import ClassVar
from urllib.parse import urlencode

from warta.clock import aware
from warta.config import Settings
from warta.editions.render import WireText
from warta.editions.rendered import RenderedEdition
from warta.editions.sectors import is_media_topic
from warta.formats.events import Event, withdrawn_version
from warta.formats.ninjs import edition_url, withdrawal_note
from warta.formats.registry import Format, register
from warta.i18n.catalog import translate
from warta.i18n.dates import iso
from warta.model import Edition, Organisation, Release, ReleaseVersion

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
WARTA_NS = "urn:warta:feed:1"
MEDIA_TOPIC_SCHEME = "http://cv.iptc.org/newscodes/mediatopic/"
_XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'


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
    hub: str | None = None  # the WebSub hub that pushes this feed's new entries to its subscribers


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
    if feed.hub:
        ET.SubElement(channel, "atom:link", {"href": feed.hub, "rel": "hub"})
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
    return _XML_DECLARATION + ET.tostring(root, encoding="utf-8")


def atom(feed: Feed) -> bytes:
    root = ET.Element("feed", {"xmlns": ATOM_NS, "xmlns:warta": WARTA_NS})
    if feed.lang:
        root.set("xml:lang", feed.lang)
    ET.SubElement(root, "id").text = feed.url
    ET.SubElement(root, "title").text = feed.title
    ET.SubElement(root, "updated").text = iso(feed.updated)
    ET.SubElement(root, "link", {"rel": "self", "href": feed.url, "type": "application/atom+xml"})
    if feed.hub:
        ET.SubElement(root, "link", {"rel": "hub", "href": feed.hub})
    ET.SubElement(root, "link", {"rel": "alternate", "href": feed.home, "type": "text/html"})
    for e in feed.entries:
        _atom_entry(ET.SubElement(root, "entry", {"xml:lang": e.lang}), e)
    return _XML_DECLARATION + ET.tostring(root, encoding="utf-8")


def atom_entry(e: Entry) -> bytes:
    """One entry as an Atom Entry Document (RFC 4287 section 2)."""
    root = ET.Element("entry", {"xmlns": ATOM_NS, "xmlns:warta": WARTA_NS, "xml:lang": e.lang})
    _atom_entry(root, e)
    return _XML_DECLARATION + ET.tostring(root, encoding="utf-8")


def _atom_entry(entry_el: ET.Element, e: Entry) -> None:
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
    if feed.hub:
        doc["hubs"] = [{"type": "WebSub", "url": feed.hub}]
    return json.dumps(doc, ensure_ascii=False).encode()


# --- the registered feed formats ------------------------------------------------------------------


def event_entry(rendered: RenderedEdition, event: Event) -> Entry:
    """The entry a feed reader gets for one event: an early copy carries its lift; a correction is
    updated when it was written; a withdrawal is the next version, saying who withdrew it."""
    release, text = rendered.release, rendered.text
    published = aware(release.public_at) or aware(release.published_at) or aware(rendered.edition.created_at)
    assert published is not None, "an edition has a creation time"
    updated = max(published, event.at or published)
    early = rendered.embargo_until if event.early else None
    e = entry(
        rendered.settings,
        release,
        rendered.version,
        rendered.edition,
        rendered.organisation,
        text,
        published=published,
        updated=updated,
        embargoed_until=early,
        versioned_id=True,
    )
    if not event.withdrawn:
        return e
    label = translate(text.lang, "Withdrawn")
    url = edition_url(rendered.settings, release.id, rendered.edition.lang)
    version = withdrawn_version(release)
    return dataclasses.replace(
        e,
        id=f"{url}#v{version}",
        title=f"[{label}] {e.title}",
        summary="",
        content_html=f"<p>{escape(withdrawal_note(release, event.note))}</p>",
        version=version,
        images=[],
    )


class FeedFormat(Format):
    """A feed format: one entry alone for an event (`render`), or a feed of many (`document`)."""

    feed_media_type: ClassVar[str]

    def entry(
        self,
        rendered: RenderedEdition,
        *,
        published: datetime,
        updated: datetime,
        embargoed_until: datetime | None = None,
        versioned_id: bool = False,
    ) -> Entry:
        return entry(
            rendered.settings,
            rendered.release,
            rendered.version,
            rendered.edition,
            rendered.organisation,
            rendered.text,
            published=published,
            updated=updated,
            embargoed_until=embargoed_until,
            versioned_id=versioned_id,
        )

    def document(self, feed: Feed) -> bytes:
        raise NotImplementedError


@register
class AtomFormat(FeedFormat):
    name = "atom"
    media_type = "application/atom+xml;type=entry"
    feed_media_type = "application/atom+xml; charset=utf-8"

    def render(self, rendered: RenderedEdition, event: Event) -> bytes:
        return atom_entry(event_entry(rendered, event))

    def document(self, feed: Feed) -> bytes:
        return atom(feed)


@register
class JsonFeedFormat(FeedFormat):
    name = "jsonfeed"
    media_type = "application/json"  # one JSON Feed item; a whole feed is application/feed+json
    feed_media_type = "application/feed+json; charset=utf-8"

    def render(self, rendered: RenderedEdition, event: Event) -> bytes:
        return json.dumps(_json_item(event_entry(rendered, event)), ensure_ascii=False).encode()

    def document(self, feed: Feed) -> bytes:
        return json_feed(feed)


@register
class RssFormat(FeedFormat):
    name = "rss"
    media_type = "application/rss+xml"  # RSS has no item document: one item is a feed of one
    feed_media_type = "application/rss+xml; charset=utf-8"

    def render(self, rendered: RenderedEdition, event: Event) -> bytes:
        e = event_entry(rendered, event)
        settings = rendered.settings
        one = Feed(settings.wire_name, e.url, settings.base_url + "/", e.lang, e.updated, [e])
        return rss(one)

    def document(self, feed: Feed) -> bytes:
        return rss(feed)
