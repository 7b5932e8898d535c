"""RSS 2.0, Atom 1.0 and JSON Feed 1.1 from one list of feed entries."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

from warta.i18n.dates import iso

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"


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
    categories: list[str]


@dataclass(frozen=True)
class Feed:
    title: str
    url: str  # the feed itself
    home: str
    lang: str | None
    updated: datetime
    entries: list[Entry]


def rss(feed: Feed) -> bytes:
    root = ET.Element("rss", {"version": "2.0", "xmlns:atom": ATOM_NS, "xmlns:dc": DC_NS})
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
        ET.SubElement(item, "guid", {"isPermaLink": "true"}).text = e.id
        ET.SubElement(item, "description").text = e.content_html
        ET.SubElement(item, "pubDate").text = format_datetime(e.published)
        ET.SubElement(item, "dc:creator").text = e.author
        for c in e.categories:
            ET.SubElement(item, "category").text = c
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8")


def atom(feed: Feed) -> bytes:
    root = ET.Element("feed", {"xmlns": ATOM_NS})
    if feed.lang:
        root.set("xml:lang", feed.lang)
    ET.SubElement(root, "id").text = feed.url
    ET.SubElement(root, "title").text = feed.title
    ET.SubElement(root, "updated").text = iso(feed.updated)
    ET.SubElement(root, "link", {"rel": "self", "href": feed.url, "type": "application/atom+xml"})
    ET.SubElement(root, "link", {"rel": "alternate", "href": feed.home, "type": "text/html"})
    for e in feed.entries:
        entry = ET.SubElement(root, "entry", {"xml:lang": e.lang})
        ET.SubElement(entry, "id").text = e.id
        ET.SubElement(entry, "title").text = e.title
        ET.SubElement(entry, "link", {"rel": "alternate", "href": e.url, "hreflang": e.lang})
        ET.SubElement(entry, "published").text = iso(e.published)
        ET.SubElement(entry, "updated").text = iso(e.updated)
        author = ET.SubElement(entry, "author")
        ET.SubElement(author, "name").text = e.author
        if e.summary:
            ET.SubElement(entry, "summary").text = e.summary
        ET.SubElement(entry, "content", {"type": "html"}).text = e.content_html
        for c in e.categories:
            ET.SubElement(entry, "category", {"term": c})
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8")


def _json_item(e: Entry) -> dict[str, object]:
    item: dict[str, object] = {
        "id": e.id,
        "url": e.url,
        "title": e.title,
        "content_html": e.content_html,
        "date_published": iso(e.published),
        "date_modified": iso(e.updated),
        "authors": [{"name": e.author}],
        "tags": e.categories,
        "language": e.lang,
    }
    if e.summary:
        item["summary"] = e.summary
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
