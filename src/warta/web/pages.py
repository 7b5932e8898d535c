"""The public newsroom: server-rendered pages and feeds. Only released items ever appear here."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from warta import formats
from warta.clock import aware, utcnow
from warta.config import Settings
from warta.editions.queries import (
    Filters,
    Item,
    current_version,
    issuer_choices,
    last_withdrawal,
    organisation_by_slug,
    organisation_of,
    parse_filters,
    public_countries,
    public_items,
    release_by_id,
    release_editions,
    release_is_public,
)
from warta.editions.render import text_language, wire_text
from warta.editions.rendered import RenderedEdition
from warta.editions.sectors import WIRE_SECTIONS, all_topics, sector_label
from warta.formats import edition_url
from warta.i18n.catalog import LANGUAGE_NAMES, LANGUAGES, make_gettext, text_direction
from warta.i18n.dates import long_datetime
from warta.intake.sanitize import ContentError, for_page
from warta.model.states import ReleaseStatus
from warta.routing.websub import hub_url, link_header
from warta.web.conditional import not_modified
from warta.web.deps import get_settings, unit_of_work

router = APIRouter(include_in_schema=False)
templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
PAGE_SIZE = 20


def render(request: Request, name: str, lang: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    settings = get_settings(request)
    page = templates.get_template(name).render(
        _=make_gettext(lang),
        lang=lang,
        dir=text_direction(lang),
        wire=settings.wire_name,
        base_url=settings.base_url,
        languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        **ctx,
    )
    return HTMLResponse(page, status_code=status)


def not_found_page(request: Request) -> HTMLResponse:
    return render(request, "404.html", "en", status=404)


def _filters(
    lang: str | None, sector: str | None, country: str | None, org: str | None, q: str | None
) -> Filters:
    try:
        return parse_filters(lang, sector, country, org, q)
    except ContentError as exc:
        raise HTTPException(400, f"{exc.field}: {exc.reason}") from exc


def _card(item: Item, tz_lang: str) -> dict[str, Any]:
    return {
        "url": f"/releases/{item.release.id}/{item.edition.lang}",
        "lang": item.edition.lang,
        "dir": text_direction(item.edition.lang),
        "headline": item.edition.headline,
        "summary": item.edition.summary,
        "org": item.org.name,
        "org_url": f"/issuers/{item.org.slug}",
        "country": item.release.dateline_country,
        "city": item.release.dateline_city,
        "sectors": [sector_label(c, item.edition.lang) for c in item.release.sectors],
        "when": long_datetime(aware(item.release.public_at) or utcnow(), tz_lang),
        # HTML allows at most three digits of a second in a datetime attribute
        "when_iso": (aware(item.release.public_at) or utcnow()).isoformat(timespec="seconds"),
    }


def _other_language(html: str, page_lang: str) -> dict[str, str] | None:
    """``lang`` and ``dir`` for a fragment written in another language than its page, else None.

    An issuer's default "About" is written once, in one language, and shown on every edition: on
    an Arabic page an English "About" must say so, or screen readers speak it with Arabic rules
    and the bidirectional algorithm reorders its punctuation."""
    lang = text_language(html)
    if lang is None or lang == page_lang:
        return None
    return {"lang": lang, "dir": text_direction(lang)}


def _sector_choices(lang: str) -> list[tuple[str, str]]:
    return [(slug, sector_label(slug, lang)) for slug in WIRE_SECTIONS] + [
        (code, sector_label(code, lang)) for code in all_topics(level=1)
    ]


@router.get("/", response_class=HTMLResponse)
@router.get("/search", response_class=HTMLResponse)
def newsroom(
    request: Request,
    lang: str | None = None,
    sector: str | None = None,
    country: str | None = None,
    org: str | None = None,
    q: str | None = None,
    page: int = Query(1, ge=1, le=10_000),
) -> HTMLResponse:
    filters = _filters(lang, sector, country, org, q)
    ui = filters.lang or "en"
    with unit_of_work(request) as s:
        items = public_items(s, filters, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
        orgs = issuer_choices(s)
        countries = public_countries(s)
        cards = [_card(it, ui) for it in items[:PAGE_SIZE]]
    query = {
        k: v
        for k, v in (
            ("lang", filters.lang),
            ("sector", filters.sector),
            ("country", filters.country),
            ("org", filters.org),
            ("q", filters.q),
        )
        if v
    }
    return render(
        request,
        "index.html",
        ui,
        cards=cards,
        filters=filters,
        orgs=orgs,
        countries=countries,
        sectors=_sector_choices(ui),
        prev_url=f"?{urlencode({**query, 'page': page - 1})}" if page > 1 else None,
        next_url=f"?{urlencode({**query, 'page': page + 1})}" if len(items) > PAGE_SIZE else None,
        feed_query=urlencode({k: v for k, v in query.items() if k != "q"}),
    )


@router.get("/releases/{release_id}")
def release_redirect(request: Request, release_id: str) -> Response:
    with unit_of_work(request) as s:
        release = release_by_id(s, release_id)
        if release is None or not release_is_public(release):
            return not_found_page(request)
        return RedirectResponse(f"/releases/{release.id}/{release.language}", status_code=307)


@router.get("/releases/{release_id}/{lang}", response_class=HTMLResponse)
def release_page(request: Request, release_id: str, lang: str) -> Response:
    settings = get_settings(request)
    plain = lang.endswith(".txt")
    lang = lang.removesuffix(".txt")
    with unit_of_work(request) as s:
        release = release_by_id(s, release_id)
        if (
            release is not None
            and release.status == ReleaseStatus.WITHDRAWN
            and release.published_at is not None
        ):
            return render(request, "withdrawn.html", lang if lang in LANGUAGE_NAMES else "en", status=410)
        if release is None or not release_is_public(release):
            return not_found_page(request)
        editions = release_editions(s, release, shown_only=True)
        edition = next((e for e in editions if e.lang == lang), None)
        if edition is None:
            return not_found_page(request)
        org = organisation_of(s, release)
        version = current_version(s, release)
        text = wire_text(settings, release, version, edition, org)
        if plain:
            return Response(text.plain_text(), media_type="text/plain; charset=utf-8")
        rendered = RenderedEdition(settings, release, version, edition, org, text, editions)
        jsonld, og, twitter = formats.get("jsonld", formats.JsonLd).page_meta(rendered)
        others = [
            {
                "lang": e.lang,
                "name": LANGUAGE_NAMES.get(e.lang, e.lang),
                "url": f"/releases/{release.id}/{e.lang}",
                "abs_url": edition_url(settings, release.id, e.lang),
            }
            for e in editions
        ]
        return render(
            request,
            "release.html",
            edition.lang,
            release=release,
            edition=edition,
            version=version,
            org=org,
            text=text,
            body=Markup(for_page(text.lead_html())),  # the body was sanitised at intake
            about=Markup(for_page(edition.about, top=3)),
            about_lang=_other_language(edition.about, edition.lang),
            others=others,
            jsonld=Markup(jsonld),
            canonical=edition_url(settings, release.id, edition.lang),
            og=og,
            twitter=twitter,
        )


@router.get("/issuers/{slug}", response_class=HTMLResponse)
def issuer_page(request: Request, slug: str, page: int = Query(1, ge=1, le=10_000)) -> Response:
    with unit_of_work(request) as s:
        org = organisation_by_slug(s, slug)
        if org is None:
            return not_found_page(request)
        items = public_items(s, Filters(org=slug), limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
        cards = [_card(it, "en") for it in items[:PAGE_SIZE]]
    return render(
        request,
        "issuer.html",
        "en",
        org=org,
        about=Markup(for_page(org.about, top=3)),
        about_lang=_other_language(org.about, "en"),
        cards=cards,
        prev_url=f"?page={page - 1}" if page > 1 else None,
        next_url=f"?page={page + 1}" if len(items) > PAGE_SIZE else None,
    )


# --- feeds ------------------------------------------------------------------------------------

FEED_TYPES = {"rss.xml": "rss", "atom.xml": "atom", "feed.json": "jsonfeed"}  # path -> format


@router.get("/feeds/{name}")
def feed(
    request: Request,
    name: str,
    lang: str | None = None,
    sector: str | None = None,
    country: str | None = None,
    org: str | None = None,
) -> Response:
    if name not in FEED_TYPES:
        return not_found_page(request)
    settings = get_settings(request)
    filters = _filters(lang, sector, country, org, None)
    writer = formats.get(FEED_TYPES[name], formats.FeedFormat)
    with unit_of_work(request) as s:
        items = public_items(s, filters, limit=50)
        entries = [_entry(settings, writer, it) for it in items]
        withdrawn = aware(last_withdrawal(s))
    # a withdrawal takes an entry away: the feed changed then, though no entry is newer
    updated = max([e.updated for e in entries] + ([withdrawn] if withdrawn else []), default=EPOCH)
    url = formats.feed_url(
        settings,
        f"/feeds/{name}",
        {"lang": filters.lang, "sector": filters.sector, "country": filters.country, "org": filters.org},
    )
    fingerprint = "|".join(f"{e.id}@{e.updated.isoformat()}" for e in entries)
    etag = '"' + hashlib.sha256(f"{url}#{fingerprint}".encode()).hexdigest()[:32] + '"'
    headers = {
        "ETag": etag,
        "Last-Modified": format_datetime(updated.astimezone(UTC), usegmt=True),
        "Cache-Control": "public, max-age=30",
        "Link": link_header(settings, url),  # where to subscribe to it (WebSub)
    }
    if not_modified(request, etag, updated):
        return Response(status_code=304, headers=headers)
    title = f"{settings.wire_name}" + (
        f" — {LANGUAGE_NAMES.get(filters.lang, filters.lang)}" if filters.lang else ""
    )
    doc = formats.Feed(
        title=title,
        url=url,
        home=settings.base_url + "/",
        lang=filters.lang,
        updated=updated,
        entries=entries,
        hub=hub_url(settings),
    )
    return Response(writer.document(doc), media_type=writer.feed_media_type, headers=headers)


EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _entry(settings: Settings, writer: formats.FeedFormat, item: Item) -> formats.Entry:
    published = aware(item.release.public_at) or utcnow()
    # when it became visible counts as a change, even for an item dated in the past
    updated = max(
        published, aware(item.release.published_at) or published, aware(item.edition.updated_at) or published
    )
    text = wire_text(settings, item.release, item.version, item.edition, item.org)
    rendered = RenderedEdition(settings, item.release, item.version, item.edition, item.org, text, [])
    return writer.entry(rendered, published=published, updated=updated)
