"""IPTC ninjs 3.1 for one edition, with the other language editions and media as associations."""

from __future__ import annotations

import json
from typing import Any

from warta.clock import aware, stamp
from warta.config import Settings
from warta.editions.render import WireText
from warta.editions.rendered import RenderedEdition
from warta.editions.sectors import is_media_topic, topic_uri
from warta.formats.events import Event, withdrawn_by, withdrawn_version
from warta.formats.registry import Format, register
from warta.i18n.dates import iso
from warta.model import Edition, Organisation, Release, ReleaseVersion
from warta.model.states import EditionStatus, ReleaseStatus

NINJS_VERSION = "3.1"
NINJS_SCHEMA = "http://www.iptc.org/std/ninjs/ninjs-schema_3.1.json"


def edition_url(settings: Settings, release_id: str, lang: str) -> str:
    return f"{settings.base_url}/releases/{release_id}/{lang}"


def _pub_status(release: Release) -> str:
    return {"withdrawn": "canceled"}.get(
        release.status, "usable" if release.status == ReleaseStatus.PUBLISHED else "withheld"
    )


def edition_to_ninjs(
    settings: Settings,
    release: Release,
    version: ReleaseVersion,
    edition: Edition,
    org: Organisation,
    text: WireText,
    others: list[Edition],
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "uri": edition_url(settings, release.id, edition.lang),
        "standard": {"name": "ninjs", "version": NINJS_VERSION, "schema": NINJS_SCHEMA},
        "type": "text",
        "representationType": "full",
        "profile": "press-release",
        "version": str(edition.version),
        "firstCreated": stamp(release.created_at),
        "versionCreated": stamp(edition.updated_at),
        "pubStatus": _pub_status(release),
        "language": edition.lang,
        "headlines": [{"role": "main", "contentType": "text/plain", "value": edition.headline}],
        "bodies": [
            {"role": "main", "contentType": "text/html", "value": text.full_html()},
            {"role": "main", "contentType": "text/plain", "value": text.plain_text()},
        ],
        "located": release.dateline_city,
        "places": [{"name": release.dateline_city, "rel": "located", "literal": release.dateline_country}],
        "by": org.name,
        "organisations": [{"name": org.name, "rel": "issuer", "literal": org.slug}],
        "infoSources": [{"name": settings.wire_name, "role": "distributor", "uri": settings.base_url + "/"}],
        "usageTerms": text.disclaimer,
        "altIds": [
            {"role": "warta:release", "value": release.id},
            {"role": "warta:edition", "value": edition.id},
            {"role": "warta:sha256", "value": edition.digest},
            {"role": "warta:hmac-sha256", "value": edition.signature},
        ],
        "subjects": [
            _subject(code, name) for code, name in zip(release.sectors, text.sector_names, strict=True)
        ],
    }
    if edition.summary:
        item["descriptions"] = [{"role": "summary", "contentType": "text/plain", "value": edition.summary}]
    embargo = aware(release.embargo_until)
    if embargo:
        item["embargoedUntil"] = iso(embargo)
    notes = []
    if edition.origin == "machine":
        notes.append(f"Machine translation ({edition.engine}); quality tier: {edition.tier}.")
    if edition.status == EditionStatus.OUTDATED:
        notes.append(
            f"This translation predates correction {edition.version} of the original; an update is due."
        )
    if edition.version > 1:
        notes.insert(0, correction_note(edition.version, text.correction_reason))
    if notes:
        item["edNote"] = " ".join(notes)
    if version.contact:
        item["infoSources"].append(
            {
                "name": version.contact.get("name") or org.name,
                "role": "media-contact",
                "contactInfo": _contact_info(version.contact),
            }
        )
    associations: list[dict[str, Any]] = [
        {
            "name": f"edition-{other.lang}",
            "rel": "translation",
            "uri": edition_url(settings, release.id, other.lang),
            "type": "text",
            "language": other.lang,
            "version": str(other.version),
            "headlines": [{"role": "main", "contentType": "text/plain", "value": other.headline}],
        }
        for other in others
        if other.lang != edition.lang
    ]
    for i, media in enumerate(version.media, start=1):
        picture: dict[str, Any] = {"name": f"picture-{i}", "rel": "illustration", "uri": media["url"]}
        picture["type"] = "picture"
        picture["renditions"] = [{"name": "original", "href": media["url"]}]
        if media.get("caption"):
            picture["descriptions"] = [
                {"role": "caption", "contentType": "text/plain", "value": media["caption"]}
            ]
        if media.get("credit"):
            picture["by"] = media["credit"]
        associations.append(picture)
    if associations:
        item["associations"] = associations
    if release.status == ReleaseStatus.WITHDRAWN:
        return as_withdrawn(item, release, release.withdrawal_note or "")
    return item


def correction_note(version: int, reason: str) -> str:
    """The editorial note of a corrected version, with what the correction changed."""
    return (
        f"Correction (version {version}): {reason.strip()}"
        if reason.strip()
        else f"Correction (version {version})."
    )


def withdrawal_note(release: Release, reason: str) -> str:
    who = "the wire" if withdrawn_by(release) == "wire" else "the issuer"
    return f"Withdrawn by {who}: {reason.strip()}" if reason.strip() else f"Withdrawn by {who}."


def as_withdrawn(item: dict[str, Any], release: Release, reason: str) -> dict[str, Any]:
    """The item as its withdrawal notice: a new version, canceled, saying who withdrew it and why.
    A new dict: the item it is made from is left as it was."""
    return {
        **item,
        "version": str(withdrawn_version(release)),
        "versionCreated": stamp(release.updated_at),
        "pubStatus": "canceled",
        "edNote": withdrawal_note(release, reason),
    }


def _subject(code: str, name: str) -> dict[str, Any]:
    if is_media_topic(code):
        return {"name": name, "uri": topic_uri(code), "rel": "about"}
    return {"name": name, "literal": f"warta-section:{code}", "rel": "section"}


def _contact_info(contact: dict[str, str]) -> list[dict[str, Any]]:
    kinds = (("email", "email"), ("phone", "phone"), ("website", "web"))
    return [{"type": kind, "role": "work", "value": contact[key]} for key, kind in kinds if contact.get(key)]


def edition_item(rendered: RenderedEdition) -> dict[str, Any]:
    """The edition's ninjs item, made once per rendering and kept in its cache."""
    item: dict[str, Any] | None = rendered.cache.get("ninjs")
    if item is None:
        item = edition_to_ninjs(
            rendered.settings,
            rendered.release,
            rendered.version,
            rendered.edition,
            rendered.organisation,
            rendered.text,
            rendered.editions,
        )
        rendered.cache["ninjs"] = item
    return item


def encode(doc: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, as webhooks send it."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@register
class Ninjs(Format):
    """IPTC ninjs 3.1; a withdrawal is the item's next version, canceled, with who and why."""

    name = "ninjs"
    media_type = "application/json"
    for_webhooks = True

    def item(self, rendered: RenderedEdition, event: Event) -> dict[str, Any]:
        item = edition_item(rendered)
        return as_withdrawn(item, rendered.release, event.note) if event.withdrawn else item

    def render(self, rendered: RenderedEdition, event: Event) -> bytes:
        return encode(self.item(rendered, event))
