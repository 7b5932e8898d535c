"""IPTC NewsML-G2 2.35 (Power conformance): one edition as a ``newsItem``.

The item carries the same facts as the edition's ninjs: guid and version, publishing status,
embargo, dateline, language, Media Topic subjects in the edition's language, headline, summary,
issuer and wire, the pictures (as links, and in the XHTML); its content is one XHTML rendition of
the edition in ``inlineXML``. A corrected version carries the ``sig:correction`` signal and the
correction's note; a withdrawal is the next version of the same item, ``stat:canceled``, saying who
withdrew it.

The edition body is sanitised HTML, which need not be XML (``<br>``, ``&nbsp;``); it is parsed
and rewritten as XHTML element by element, so the result is always well-formed.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime
from html.parser import HTMLParser

from warta.clock import aware
from warta.editions.rendered import RenderedEdition
from warta.editions.sectors import is_media_topic
from warta.formats.events import Event, withdrawn_version
from warta.formats.ninjs import correction_note, edition_url, withdrawal_note
from warta.formats.registry import Format, register
from warta.i18n.dates import iso
from warta.model.states import EditionStatus, ReleaseStatus

__all__ = ["CONTENT_TYPE", "IPTC_CATALOG", "NAR_NS", "XHTML_NS", "edition_to_newsml"]

NAR_NS = "http://iptc.org/std/nar/2006-10-01/"
XHTML_NS = "http://www.w3.org/1999/xhtml"
STANDARD_VERSION = "2.35"
IPTC_CATALOG = "http://www.iptc.org/std/catalog/catalog.IPTC-G2-Standards_38.xml"
CONTENT_TYPE = "application/vnd.iptc.g2.newsitem+xml"

# Characters XML 1.0 cannot carry at all.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9._-]*$")
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def _el(parent: ET.Element, tag: str, text: str | None = None, /, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, {k.replace("__", ":"): _clean(v) for k, v in attrs.items()})
    if text is not None:
        el.text = _clean(text)
    return el


def _append_text(parent: ET.Element, text: str) -> None:
    text = _clean(text)
    if len(parent):
        last = parent[-1]
        last.tail = (last.tail or "") + text
    else:
        parent.text = (parent.text or "") + text


class _Xhtml(HTMLParser):
    """Appends an HTML fragment to an element as XHTML (the element's default namespace)."""

    def __init__(self, parent: ET.Element) -> None:
        super().__init__(convert_charrefs=True)
        self.stack = [parent]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open(tag, attrs, close=tag in _VOID)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open(tag, attrs, close=True)

    def _open(self, tag: str, attrs: list[tuple[str, str | None]], close: bool) -> None:
        if not _NAME.match(tag):
            return
        values = {
            name: _clean(value if value is not None else name)
            for name, value in attrs
            if _NAME.match(name) and not name.startswith("xml")
        }
        el = ET.SubElement(self.stack[-1], tag, values)
        if not close:
            self.stack.append(el)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        _append_text(self.stack[-1], data)


def _html_into(parent: ET.Element, html: str) -> None:
    parser = _Xhtml(parent)
    parser.feed(html)
    parser.close()


def _stamp(dt: datetime | None) -> str | None:
    value = aware(dt)
    return iso(value) if value else None


def _ed_notes(bundle: RenderedEdition, withdrawn: bool, note: str | None) -> list[str]:
    edition = bundle.edition
    notes = []
    if withdrawn:
        reason = bundle.release.withdrawal_note if note is None else note
        return [withdrawal_note(bundle.release, reason or "")]
    if edition.version > 1:
        notes.append(correction_note(edition.version, bundle.text.correction_reason))
    if edition.origin == "machine":
        notes.append(f"Machine translation ({edition.engine}); quality tier: {edition.tier}.")
    if edition.status == EditionStatus.OUTDATED:
        notes.append(
            f"This translation predates correction {edition.version} of the original; an update is due."
        )
    return notes


def _content(parent: ET.Element, bundle: RenderedEdition) -> None:
    """The XHTML rendition: dateline paragraph, body, about, media contact, disclaimer."""
    text, lang = bundle.text, bundle.edition.lang
    html = _el(parent, "html", xmlns=XHTML_NS, lang=lang, xml__lang=lang, dir=text.dir)
    head = _el(html, "head")
    _el(head, "title", text.headline)
    body = _el(html, "body")
    if text.embargo_note:
        _el(body, "p", text.embargo_note, **{"class": "embargo"})
    _el(body, "p", text.dateline, **{"class": "dateline"})
    _html_into(body, text.body_html)
    if text.about_html:
        _el(body, "h2", text.about_heading)
        _html_into(body, text.about_html)
    contact = [value for value in text.contact.values() if value]
    if contact:
        _el(body, "h2", text.contact_heading)
        para = _el(body, "p", **{"class": "contact"})
        for i, value in enumerate(contact):
            if i:
                _el(para, "br")
            _append_text(para, value)
    for media in _pictures(bundle):
        figure = _el(body, "p", **{"class": "picture"})
        _el(figure, "img", src=media["url"], alt=str(media.get("alt") or media.get("caption") or ""))
        caption = " ".join(str(media.get(k) or "") for k in ("caption", "credit")).strip()
        if caption:
            _el(figure, "br")
            _append_text(figure, caption)
    if text.correction_line:
        _el(body, "p", text.correction_line, **{"class": "correction"})
    _el(body, "p", text.disclaimer, **{"class": "disclaimer"})


_IMAGE_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
    ".avif": "image/avif",
}


def _pictures(bundle: RenderedEdition) -> list[dict[str, str]]:
    return [m for m in bundle.version.media if m.get("url")]


def _image_type(url: str) -> str | None:
    path = url.split("?", 1)[0].split("#", 1)[0].lower()
    return next((kind for ext, kind in _IMAGE_TYPES.items() if path.endswith(ext)), None)


def edition_to_newsml(bundle: RenderedEdition, withdrawn: bool = False, note: str | None = None) -> bytes:
    """The edition as a NewsML-G2 ``newsItem``, UTF-8 with an XML declaration; a withdrawal's
    editorial note says who withdrew it and ``note`` (else the release's own reason)."""
    settings, release, edition, org, text = (
        bundle.settings,
        bundle.release,
        bundle.edition,
        bundle.organisation,
        bundle.text,
    )
    lang = edition.lang
    withdrawn = withdrawn or release.status == ReleaseStatus.WITHDRAWN
    item = ET.Element(
        "newsItem",
        {
            "xmlns": NAR_NS,
            "guid": _clean(edition_url(settings, release.id, lang)),
            "version": str(withdrawn_version(release) if withdrawn else max(1, int(edition.version))),
            "standard": "NewsML-G2",
            "standardversion": STANDARD_VERSION,
            "conformance": "power",
            "xml:lang": lang,
        },
    )
    _el(item, "catalogRef", href=IPTC_CATALOG)
    if text.disclaimer:
        rights = _el(item, "rightsInfo")
        _el(rights, "usageTerms", text.disclaimer)

    meta = _el(item, "itemMeta")
    _el(meta, "itemClass", qcode="ninat:text")
    provider = _el(meta, "provider", uri=settings.base_url + "/")
    _el(provider, "name", settings.wire_name)
    updated = _stamp(edition.updated_at) or _stamp(edition.created_at) or _stamp(release.created_at)
    assert updated is not None, "an edition has a creation time"
    _el(meta, "versionCreated", (_stamp(release.updated_at) if withdrawn else None) or updated)
    first = _stamp(release.created_at)
    if first:
        _el(meta, "firstCreated", first)
    embargo = bundle.embargo_until
    if embargo:
        _el(meta, "embargoed", iso(embargo))
    _el(meta, "pubStatus", qcode="stat:canceled" if withdrawn else "stat:usable")
    for ed_note in _ed_notes(bundle, withdrawn, note):
        _el(meta, "edNote", ed_note, xml__lang="en")
    if edition.version > 1 and not withdrawn:
        _el(meta, "signal", qcode="sig:correction")
    _el(
        meta,
        "link",
        rel="irel:seeAlso",
        href=edition_url(settings, release.id, lang),
        contenttype="text/html",
    )
    for media in _pictures(bundle):
        kind = _image_type(media["url"])
        attrs = {"contenttype": kind} if kind else {}
        if media.get("caption"):
            attrs["title"] = str(media["caption"])
        link = _el(meta, "link", rel="irel:associatedWith", href=media["url"], **attrs)
        _el(link, "itemClass", qcode="ninat:picture")

    content = _el(item, "contentMeta")
    created = _stamp(edition.created_at) or updated
    _el(content, "contentCreated", created)
    if updated != created:
        _el(content, "contentModified", updated)
    located = _el(content, "located", type="cpnat:geoArea")
    _el(located, "name", release.dateline_city)
    if release.dateline_country:
        _el(
            located,
            "broader",
            type="cpnat:geoArea",
            qcode=f"iso3166-1a2:{release.dateline_country.upper()}",
        )
    creator = _el(content, "creator", **({"uri": org.website} if org.website else {}))
    _el(creator, "name", org.name)
    source = _el(content, "infoSource", uri=settings.base_url + "/")
    _el(source, "name", settings.wire_name)
    _el(content, "language", tag=lang)
    for code, name in zip(release.sectors, text.sector_names, strict=False):
        if is_media_topic(code):
            subject = _el(content, "subject", type="cpnat:abstract", qcode=code)
        else:
            subject = _el(content, "subject", literal=f"warta-section:{code}")
        _el(subject, "name", name)
    _el(content, "headline", text.headline)
    _el(content, "dateline", text.dateline)
    _el(content, "by", org.name)
    if text.summary:
        _el(content, "description", text.summary, role="drol:summary")

    content_set = _el(item, "contentSet")
    inline = _el(content_set, "inlineXML", contenttype="application/xhtml+xml", xml__lang=lang)
    _content(inline, bundle)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(item, encoding="utf-8")


@register
class NewsMLG2(Format):
    """A NewsML-G2 2.35 ``newsItem`` (Power conformance); a withdrawal is its next version, canceled."""

    name = "newsml"
    media_type = CONTENT_TYPE
    for_webhooks = True

    def render(self, rendered: RenderedEdition, event: Event) -> bytes:
        return edition_to_newsml(
            rendered, withdrawn=event.withdrawn, note=event.note if event.withdrawn else None
        )
