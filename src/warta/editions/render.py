"""The wire text around an edition, in the edition's language.

Every channel (page, plain text, ninjs, feeds) renders from one `WireText`, so the dateline,
sector line, "About", media contact and disclaimer read the same everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from html import escape

from babel.core import get_global

from warta.clock import aware
from warta.config import Settings
from warta.editions.sectors import sector_label
from warta.i18n.catalog import text_direction, translate
from warta.i18n.dates import dateline_date, long_datetime
from warta.intake.sanitize import html_to_text
from warta.languages.detect import detect
from warta.model import Edition, Organisation, Release, ReleaseVersion
from warta.model.states import EditionStatus

_FIRST_PARAGRAPH = re.compile(r"\s*<p(?:\s[^>]*)?>")
# contact fields written left to right whatever the page's direction (numbers, addresses, URLs)
LTR_CONTACT_FIELDS = frozenset({"email", "phone", "website"})


def ltr(value: str) -> str:
    """``value`` (plain text) as an isolated left-to-right run, so that a right-to-left page does not
    reorder it: without it an Arabic page shows "+971 4 123 4567" as "4567 123 4 971+"."""
    return f'<bdi dir="ltr">{escape(value)}</bdi>'


# How a list of names is joined: Arabic script has its own comma, and Chinese and Japanese list
# names with the enumeration comma; a Latin comma reads as a stray mark there.
_LIST_SEPARATORS = {"ar": "، ", "zh-Hans": "、", "zh-Hant": "、", "ja": "、"}


def list_separator(lang: str) -> str:
    return _LIST_SEPARATORS.get(lang, ", ")


@lru_cache(maxsize=256)
def text_language(html: str) -> str | None:
    """Which of the wire's languages a fragment (an "About", say) is written in; None when unsure."""
    text = html_to_text(html)
    if not text.strip():
        return None
    found = detect(text)
    return found.lang if found.confidence >= 0.5 else None


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
    correction_reason: str = ""  # the issuer's or editor's note on what the correction changed

    @property
    def correction_line(self) -> str | None:
        """The correction note with its reason, as one line."""
        if not self.correction_note:
            return None
        if not self.correction_reason:
            return self.correction_note
        return f"{self.correction_note} — {self.correction_reason}"

    def lead_html(self) -> str:
        """The body with the dateline run into its first paragraph, as a wire prints it.

        The dateline and the first word are separated by a space inside the same paragraph, so no
        stylesheet or whitespace handling can join them."""
        lead = f'<strong class="dateline">{escape(self.dateline)}</strong> '
        first = _FIRST_PARAGRAPH.match(self.body_html)
        if first:
            return self.body_html[: first.end()] + lead + self.body_html[first.end() :]
        return f"<p>{lead.rstrip()}</p>\n{self.body_html}"

    def contact_html(self) -> str:
        """The media contact, one line each; addresses and numbers kept left to right in any script."""
        lines = []
        for key, value in self.contact.items():
            if not value:
                continue
            lines.append(ltr(value) if key in LTR_CONTACT_FIELDS else escape(value))
        return "<br>".join(lines)

    def full_html(self, embargoed: bool = False) -> str:
        """The whole wire text as one HTML fragment: what feeds and ninjs carry, like the page.
        ``embargoed``: an early copy, headed by its embargo note."""
        parts = []
        if embargoed and self.embargo_note:
            parts.append(f'<p class="embargo">{escape(self.embargo_note)}</p>')
        if self.correction_line:
            parts.append(f'<p class="correction">{escape(self.correction_line)}</p>')
        parts.append(self.lead_html())
        if self.sector_line:
            parts.append(f'<p class="sectors">{escape(self.sector_line)}</p>')
        if self.about_html:
            parts.append(f"<h2>{escape(self.about_heading)}</h2>{self.about_html}")
        if any(self.contact.values()):
            parts.append(f"<h2>{escape(self.contact_heading)}</h2><p>{self.contact_html()}</p>")
        parts.append(f'<p class="disclaimer">{escape(self.disclaimer)}</p>')
        return "\n".join(parts)

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
        if self.correction_line:
            parts += [self.correction_line, ""]
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
        sector_line=translate(lang, "Sector: %(sectors)s", sectors=list_separator(lang).join(names))
        if names
        else "",
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
        if edition.status == EditionStatus.OUTDATED
        else None,
        published=translate(lang, "Published %(time)s", time=long_datetime(released_at, lang, zone)),
        correction_reason=(version.note or "").strip() if edition.version > 1 else "",
    )
