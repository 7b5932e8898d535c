"""The wire text around an edition, in the edition's language.

Every channel (page, plain text, ninjs, feeds) renders from one `WireText`, so the dateline,
sector line, "About", media contact and disclaimer read the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from babel.core import get_global

from warta.clock import aware
from warta.config import Settings
from warta.editions.sectors import sector_label
from warta.i18n.catalog import text_direction, translate
from warta.i18n.dates import dateline_date, long_datetime
from warta.intake.sanitize import html_to_text
from warta.model import Edition, Organisation, Release, ReleaseVersion


@cache
def country_zone(country: str) -> str:
    """The main time zone of a country (CLDR), for the dateline's date."""
    zones = get_global("territory_zones").get(country.upper(), ())
    return zones[0] if zones else "UTC"


@dataclass(frozen=True)
class WireText:
    lang: str
    dir: str
    headline: str
    summary: str
    body_html: str
    dateline: str
    sector_names: list[str]
    sector_line: str
    about_heading: str
    about_html: str
    contact_heading: str
    contact: dict[str, str]
    disclaimer: str
    embargo_note: str | None
    correction_note: str | None
    outdated_note: str | None
    published: str

    def plain_text(self) -> str:
        """The edition as a wire prints it in plain text."""
        parts = [self.headline, ""]
        if self.embargo_note:
            parts += [self.embargo_note.upper(), ""]
        if self.summary:
            parts += [self.summary, ""]
        body = html_to_text(self.body_html)
        parts += [f"{self.dateline} {body}", ""]
        if self.sector_line:
            parts += [self.sector_line, ""]
        if self.about_html:
            parts += [self.about_heading, html_to_text(self.about_html), ""]
        if self.contact:
            parts += [self.contact_heading, *self.contact.values(), ""]
        if self.correction_note:
            parts += [self.correction_note, ""]
        parts.append(self.disclaimer)
        return "\n".join(parts).strip() + "\n"


def wire_text(
    settings: Settings,
    release: Release,
    version: ReleaseVersion,
    edition: Edition,
    org: Organisation,
) -> WireText:
    lang = edition.lang
    wire = settings.wire_name
    released_at = aware(release.release_at) or datetime.now().astimezone()
    zone = country_zone(release.dateline_country)
    dateline = translate(
        lang,
        "%(city)s, %(date)s (%(wire)s) –",
        city=release.dateline_city.upper()
        if lang not in ("zh-Hans", "zh-Hant", "ja", "ko")
        else release.dateline_city,
        date=dateline_date(released_at, lang, zone),
        wire=wire,
    )
    names = [sector_label(code, lang) for code in release.sectors]
    embargo = aware(release.embargo_until)
    return WireText(
        lang=lang,
        dir=text_direction(lang),
        headline=edition.headline,
        summary=edition.summary,
        body_html=edition.body_html,
        dateline=dateline,
        sector_names=names,
        sector_line=translate(lang, "Sector: %(sectors)s", sectors=", ".join(names)) if names else "",
        about_heading=translate(lang, "About %(org)s", org=org.name),
        about_html=edition.about,
        contact_heading=translate(lang, "Media contact"),
        contact=dict(version.contact),
        disclaimer=translate(
            lang,
            "Disclaimer: This press release is issued by %(org)s and distributed by %(wire)s as third-party "
            "content. %(wire)s does not endorse it and is not responsible for its accuracy.",
            org=org.name,
            wire=wire,
        ),
        embargo_note=translate(lang, "Embargoed until %(time)s", time=long_datetime(embargo, lang, zone))
        if embargo
        else None,
        correction_note=translate(lang, "Corrected: version %(version)s", version=edition.version)
        if edition.version > 1
        else None,
        outdated_note=translate(lang, "This translation has not yet been updated for the latest correction.")
        if edition.status == "outdated"
        else None,
        published=translate(lang, "Published %(time)s", time=long_datetime(released_at, lang, zone)),
    )
