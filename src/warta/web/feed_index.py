"""`/feeds`: an index of the wire's feeds, in every format, whole and by each filter."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from warta.editions.feed_index import feed_choices
from warta.editions.sectors import WIRE_SECTIONS, all_topics, sector_label
from warta.i18n.catalog import LANGUAGE_NAMES, LANGUAGES
from warta.web.deps import unit_of_work
from warta.web.pages import render

router = APIRouter(include_in_schema=False)
FORMATS = (("rss.xml", "RSS"), ("atom.xml", "Atom"), ("feed.json", "JSON Feed"))


def _links(query: dict[str, str]) -> list[tuple[str, str]]:
    suffix = f"?{urlencode(query)}" if query else ""
    return [(label, f"/feeds/{name}{suffix}") for name, label in FORMATS]


@router.get("/feeds", response_class=HTMLResponse)
@router.get("/feeds/", response_class=HTMLResponse)
def feeds_index(request: Request, lang: str | None = None) -> HTMLResponse:
    ui = lang if lang in LANGUAGE_NAMES else "en"
    with unit_of_work(request) as s:
        choices = feed_choices(s)
    sectors = [(slug, sector_label(slug, ui)) for slug in WIRE_SECTIONS] + [
        (code, sector_label(code, ui)) for code in all_topics(level=1)
    ]
    groups = {
        "language": [(LANGUAGE_NAMES[code], code, _links({"lang": code})) for code in LANGUAGES],
        "sector": [(name, code, _links({"sector": code})) for code, name in sectors],
        "country": [(code, code, _links({"country": code})) for code in choices.countries],
        "issuer": [(name, slug, _links({"org": slug})) for slug, name in choices.issuers],
    }
    return render(request, "feeds.html", ui, everything=_links({}), groups=groups)
