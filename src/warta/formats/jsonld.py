"""schema.org NewsArticle JSON-LD and OpenGraph / Twitter card meta for a release page."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from babel.core import get_global

from warta.clock import aware, stamp
from warta.config import Settings
from warta.editions.render import WireText
from warta.editions.rendered import RenderedEdition
from warta.formats.events import Event
from warta.formats.ninjs import correction_note, edition_url, withdrawal_note
from warta.formats.registry import Format, register
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
    published = aware(release.public_at)
    modified = aware(edition.updated_at) or published
    if published is not None and modified is not None:
        modified = max(modified, published)  # an edition written before its release time
    doc: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "@id": url,
        "url": url,
        "mainEntityOfPage": url,
        "headline": edition.headline[:110],
        "inLanguage": edition.lang,
        "datePublished": stamp(published),
        "dateModified": stamp(modified),
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
    }
    if edition.lang == release.language:
        # the original lists its translations; each translation points back at the original
        translations = [o for o in others if o.lang != edition.lang]
        if translations:
            doc["workTranslation"] = [_work(settings, release.id, o.lang) for o in translations]
    else:
        doc["translationOfWork"] = _work(settings, release.id, release.language)
    if edition.summary:
        doc["description"] = edition.summary
    if version.media:
        doc["image"] = [m["url"] for m in version.media]
    return doc


def _work(settings: Settings, release_id: str, lang: str) -> dict[str, Any]:
    return {"@type": "NewsArticle", "url": edition_url(settings, release_id, lang), "inLanguage": lang}


@cache
def og_locale(lang: str) -> str:
    """An edition's language as OpenGraph writes a locale (``language_TERRITORY``): fr -> fr_FR."""
    likely = get_global("likely_subtags").get(lang.replace("-", "_"), "")
    parts = likely.split("_")
    if len(parts) >= 2 and parts[-1].isalpha() and parts[-1].isupper():
        return f"{parts[0]}_{parts[-1]}"
    return {"zh-Hans": "zh_CN"}.get(lang, lang.replace("-", "_"))


def open_graph(
    settings: Settings,
    release: Release,
    version: ReleaseVersion,
    edition: Edition,
    others: list[Edition],
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The page's OpenGraph properties and Twitter card names, as (name, content) pairs in order."""
    url = edition_url(settings, release.id, edition.lang)
    description = edition.summary or ""
    og = [
        ("og:type", "article"),
        ("og:title", edition.headline),
        ("og:url", url),
        ("og:site_name", settings.wire_name),
        ("og:locale", og_locale(edition.lang)),
    ]
    og += [("og:locale:alternate", og_locale(o.lang)) for o in others if o.lang != edition.lang]
    if description:
        og.append(("og:description", description))
    published = aware(release.public_at)
    if published is not None:
        og.append(("article:published_time", stamp(published)))
    image = next((m for m in version.media if m.get("url")), None)
    if image is not None:
        og.append(("og:image", str(image["url"])))
        if image.get("alt") or image.get("caption"):
            og.append(("og:image:alt", str(image.get("alt") or image.get("caption"))))
    twitter = [("twitter:card", "summary_large_image" if image is not None else "summary")]
    twitter.append(("twitter:title", edition.headline))
    if description:
        twitter.append(("twitter:description", description))
    if image is not None:
        twitter.append(("twitter:image", str(image["url"])))
    return og, twitter


def script_tag(doc: dict[str, Any]) -> str:
    """The JSON-LD as a safe <script> body: no "</" sequence can close the element early."""
    return (
        json.dumps(doc, ensure_ascii=False)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


@register
class JsonLd(Format):
    """schema.org ``NewsArticle`` for an edition's page, with its OpenGraph and Twitter card meta."""

    name = "jsonld"
    media_type = "application/ld+json"

    def document(self, rendered: RenderedEdition) -> dict[str, Any]:
        return news_article(
            rendered.settings,
            rendered.release,
            rendered.version,
            rendered.edition,
            rendered.organisation,
            rendered.text,
            rendered.editions,
        )

    def page_meta(
        self, rendered: RenderedEdition
    ) -> tuple[str, list[tuple[str, str]], list[tuple[str, str]]]:
        """What an edition's page carries in its head: the JSON-LD script's body, OpenGraph
        properties and Twitter card names."""
        og, twitter = open_graph(
            rendered.settings, rendered.release, rendered.version, rendered.edition, rendered.editions
        )
        return script_tag(self.document(rendered)), og, twitter

    def render(self, rendered: RenderedEdition, event: Event) -> bytes:
        """The article for one event: a correction carries its note (``correction``), a withdrawal
        says so (``creativeWorkStatus``) and who withdrew it."""
        doc = self.document(rendered)
        if event.withdrawn:
            doc["creativeWorkStatus"] = "Withdrawn"
            doc["correction"] = withdrawal_note(rendered.release, event.note)
        elif event.corrected:
            doc["correction"] = correction_note(rendered.edition.version, event.note)
        return json.dumps(doc, ensure_ascii=False).encode()
