"""What an issuer may submit, and the checks that turn it into clean, bounded values.

Pydantic describes the shape (and the OpenAPI schema); `clean()` applies the rules that need
more than a type: sanitising, ISO codes, sector vocabularies, size limits. Every failure is a
ContentError naming the field, which the API answers with a 422.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal
from urllib.parse import urlsplit

from babel import Locale
from pydantic import BaseModel, ConfigDict, Field

from warta.config import Limits
from warta.editions.sectors import normalise_sector
from warta.i18n.catalog import normalise_lang
from warta.intake.convert import body_to_html
from warta.intake.sanitize import ContentError, html_to_text, sanitize_html, sanitize_text
from warta.languages.detect import detect


class Dateline(BaseModel):
    model_config = ConfigDict(extra="forbid")
    city: str = Field(description="Dateline city, e.g. KUALA LUMPUR")
    country: str = Field(description="ISO 3166-1 alpha-2 country code, e.g. MY")


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = ""
    organisation: str = ""
    email: str = ""
    phone: str = ""
    website: str = ""


class MediaItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    caption: str = ""
    alt: str = ""
    credit: str = ""


class Targets(BaseModel):
    model_config = ConfigDict(extra="forbid")
    countries: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)
    circuits: list[str] = Field(default_factory=list)


class ReleaseIn(BaseModel):
    """A press release as submitted."""

    model_config = ConfigDict(extra="forbid")
    headline: str
    summary: str = ""
    body: str
    body_format: Literal["markdown", "html", "text"] = "markdown"
    language: str | None = Field(
        None, description="BCP 47 tag of the original; defaults to the wire's default"
    )
    dateline: Dateline
    sectors: list[str] = Field(default_factory=list, description="IPTC Media Topic codes and wire sections")
    contact: Contact = Field(default_factory=Contact)
    about: str | None = Field(None, description='"About" boilerplate; defaults to the organisation\'s')
    media: list[MediaItem] = Field(default_factory=list)
    targets: Targets = Field(default_factory=Targets)
    release_at: datetime | None = Field(None, description="When it goes out; default now")
    embargo_until: datetime | None = Field(None, description="Before this, only embargo-trusted recipients")


class EditionIn(BaseModel):
    """A language edition supplied by the issuer or an editor."""

    model_config = ConfigDict(extra="forbid")
    headline: str
    summary: str = ""
    body: str
    body_format: Literal["markdown", "html", "text"] = "markdown"
    about: str | None = None


class CorrectionIn(BaseModel):
    """A correction: the fields that change, and a note saying what was corrected."""

    model_config = ConfigDict(extra="forbid")
    note: str
    headline: str | None = None
    summary: str | None = None
    body: str | None = None
    body_format: Literal["markdown", "html", "text"] = "markdown"
    about: str | None = None
    contact: Contact | None = None


@dataclass
class CleanRelease:
    headline: str
    summary: str
    body_html: str
    body_text: str
    language: str
    city: str
    country: str
    sectors: list[str]
    contact: dict[str, str]
    about: str | None
    media: list[dict[str, str]]
    countries: list[str]
    languages: list[str]
    circuits: list[str]
    release_at: datetime | None
    embargo_until: datetime | None
    language_source: str = "issuer"
    language_confidence: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)


@cache
def iso_countries() -> frozenset[str]:
    codes = Locale("en").territories.keys()
    return frozenset(
        c for c in codes if len(c) == 2 and c.isalpha() and c not in {"ZZ", "EU", "EZ", "UN", "QO"}
    )


def clean_country(value: str, fld: str) -> str:
    code = value.strip().upper()
    if code not in iso_countries():
        raise ContentError(fld, f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def clean_language(value: str, fld: str) -> str:
    lang = normalise_lang(value)
    if lang is None:
        raise ContentError(fld, f"{value!r} is not one of the wire's languages")
    return lang


def clean_url(value: str, fld: str) -> str:
    value = value.strip()
    if not value.isprintable() or any(ch.isspace() for ch in value):
        raise ContentError(fld, "must be an http(s) URL without spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(value) > 2000:
        raise ContentError(fld, "must be an http(s) URL")
    return value


def clean_body(body: str, body_format: str, limits: Limits, fld: str = "body") -> tuple[str, str]:
    if len(body) > limits.body_chars:
        raise ContentError(fld, f"longer than {limits.body_chars} characters")
    if "\x00" in body:
        raise ContentError(fld, "contains NUL characters")
    html = body_to_html(body, body_format)
    text = html_to_text(html)
    if not text.strip():
        raise ContentError(fld, "is empty once markup is removed")
    return html, text


def clean_about(about: str, limits: Limits, fld: str = "about") -> str:
    if len(about) > limits.about_chars:
        raise ContentError(fld, f"longer than {limits.about_chars} characters")
    try:
        return sanitize_html(about) if "<" in about else body_to_html(about, "text")
    except ContentError as exc:
        raise ContentError(fld, exc.reason) from exc


def clean_contact(contact: Contact, fld: str = "contact") -> dict[str, str]:
    out = {}
    for key, value in contact.model_dump().items():
        value = sanitize_text(value, f"{fld}.{key}", 300)
        if value and key == "email" and ("@" not in value or " " in value):
            raise ContentError(f"{fld}.email", "is not an email address")
        if value and key == "website":
            value = clean_url(value, f"{fld}.website")
        if value:
            out[key] = value
    return out


def _aware(dt: datetime | None, fld: str) -> datetime | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        raise ContentError(fld, "needs a time zone (e.g. 2026-11-27T09:00:00+08:00 or ...Z)")
    try:
        return dt.astimezone(UTC)
    except OverflowError as exc:
        raise ContentError(fld, "is out of range once converted to UTC") from exc


def clean(data: ReleaseIn, limits: Limits) -> CleanRelease:
    headline = sanitize_text(data.headline, "headline", limits.headline_chars)
    if not headline:
        raise ContentError("headline", "is required")
    summary = sanitize_text(data.summary, "summary", limits.summary_chars)
    body_html, body_text = clean_body(data.body, data.body_format, limits)
    source, confidence = "issuer", 1.0
    if data.language:
        language = clean_language(data.language, "language")
    else:
        found = detect(" ".join((headline, summary, body_text)))
        if found.lang is None:
            others = ", ".join(code for code, _ in found.candidates[:3]) or "none"
            raise ContentError(
                "language", f"could not tell the language (candidates: {others}); name it with a BCP 47 tag"
            )
        language, source, confidence = found.lang, f"detected:{found.method}", found.confidence
    city = sanitize_text(data.dateline.city, "dateline.city", limits.city_chars)
    if not city:
        raise ContentError("dateline.city", "is required")
    country = clean_country(data.dateline.country, "dateline.country")
    if len(data.sectors) > limits.sectors:
        raise ContentError("sectors", f"at most {limits.sectors}")
    sectors: list[str] = []
    for i, value in enumerate(data.sectors):
        code = normalise_sector(value)
        if code is None:
            raise ContentError(
                f"sectors[{i}]", f"{value!r} is neither an IPTC Media Topic nor a wire section"
            )
        if code not in sectors:
            sectors.append(code)
    if len(data.media) > limits.media_items:
        raise ContentError("media", f"at most {limits.media_items} items")
    media = [
        {
            "url": clean_url(m.url, f"media[{i}].url"),
            "caption": sanitize_text(m.caption, f"media[{i}].caption", 1000),
            "alt": sanitize_text(m.alt, f"media[{i}].alt", 500),
            "credit": sanitize_text(m.credit, f"media[{i}].credit", 200),
        }
        for i, m in enumerate(data.media)
    ]
    t = data.targets
    for name, values in (("countries", t.countries), ("languages", t.languages), ("circuits", t.circuits)):
        if len(values) > limits.targets:
            raise ContentError(f"targets.{name}", f"at most {limits.targets}")
    countries = sorted({clean_country(c, f"targets.countries[{i}]") for i, c in enumerate(t.countries)})
    languages = list(
        dict.fromkeys(clean_language(v, f"targets.languages[{i}]") for i, v in enumerate(t.languages))
    )
    circuits = [sanitize_text(c, f"targets.circuits[{i}]", 100) for i, c in enumerate(t.circuits)]
    release_at = _aware(data.release_at, "release_at")
    embargo_until = _aware(data.embargo_until, "embargo_until")
    if embargo_until and release_at and embargo_until < release_at:
        raise ContentError("embargo_until", "is before release_at")
    return CleanRelease(
        headline=headline,
        summary=summary,
        body_html=body_html,
        body_text=body_text,
        language=language,
        city=city,
        country=country,
        sectors=sectors,
        contact=clean_contact(data.contact),
        about=clean_about(data.about, limits) if data.about is not None else None,
        media=media,
        countries=countries,
        languages=languages,
        circuits=circuits,
        release_at=release_at,
        embargo_until=embargo_until,
        language_source=source,
        language_confidence=confidence,
    )
