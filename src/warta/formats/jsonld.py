"""schema.org NewsArticle JSON-LD for a release page."""

from __future__ import annotations

import json
from typing import Any

from warta.clock import stamp
from warta.config import Settings
from warta.editions.render import WireText
from warta.formats.ninjs import edition_url
from warta.model import Edition, Organisation, Release, ReleaseVersion


def news_article(
    settings: Settings,
    release: Release,
    version: ReleaseVersion,
    edition: Edition,
    org: Organisation,
    text: WireText,
    others: list[Edition],
) -> dict[str, Any]:
    url = edition_url(settings, release.id, edition.lang)
    doc: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "@id": url,
        "url": url,
        "mainEntityOfPage": url,
        "headline": edition.headline[:110],
        "inLanguage": edition.lang,
        "datePublished": stamp(release.public_at),
        "dateModified": stamp(edition.updated_at),
        "dateline": text.dateline,
        "articleSection": text.sector_names,
        "author": {
            "@type": "Organization",
            "name": org.name,
            "url": f"{settings.base_url}/issuers/{org.slug}",
        },
        "publisher": {"@type": "Organization", "name": settings.wire_name, "url": settings.base_url + "/"},
        "locationCreated": {
            "@type": "Place",
            "name": release.dateline_city,
            "address": {"@type": "PostalAddress", "addressCountry": release.dateline_country},
        },
        "version": str(edition.version),
        "workTranslation": [
            {"@type": "NewsArticle", "url": edition_url(settings, release.id, o.lang), "inLanguage": o.lang}
            for o in others
            if o.lang != edition.lang
        ],
    }
    if edition.summary:
        doc["description"] = edition.summary
    if version.media:
        doc["image"] = [m["url"] for m in version.media]
    return doc


def script_tag(doc: dict[str, Any]) -> str:
    """The JSON-LD as a safe <script> body: no "</" sequence can close the element early."""
    return (
        json.dumps(doc, ensure_ascii=False)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )
