"""Delivery reports: JSON and SVG charts for the issuer (or an editor), and a signed, expiring page.

The page cannot ask for an API key (keys never go in URLs), so an authorised call makes a link
instead: /reports/<release id>.<expiry>.<HMAC>, good for seven days, rendered on the server with
the charts inline and no script.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from warta.editions.queries import release_by_id, unreleased_view
from warta.model.states import LIVE_DELIVERY_STATES
from warta.reports.aggregate import STATES, release_report
from warta.reports.charts import CHARTS, duration, report_chart
from warta.web.deps import SettingsDep, Who, get_settings, unit_of_work
from warta.web.errors import ApiError
from warta.web.pages import not_found_page, render
from warta.web.schemas import ERRORS

router = APIRouter(tags=["reports"], responses=ERRORS)
LINK_DAYS = 7
_PRIVATE = {"Cache-Control": "private, no-store", "X-Robots-Tag": "noindex, nofollow"}


# --- signed links -------------------------------------------------------------------------------


def _sig(secret: str, release_id: str, expires: int) -> str:
    mac = hmac.new(secret.encode(), f"report:{release_id}.{expires}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def report_token(secret: str, release_id: str, expires: int) -> str:
    """A token naming the release and its expiry (Unix seconds), signed with the server's secret."""
    return f"{release_id}.{expires}.{_sig(secret, release_id, expires)}"


def check_report_token(secret: str, token: str, now: float | None = None) -> str | None:
    """The release id if the token is genuine and has not expired."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0] or not parts[1].isdigit():
        return None
    release_id, raw_expires, sig = parts
    expires = int(raw_expires)
    if not hmac.compare_digest(sig, _sig(secret, release_id, expires)):
        return None
    if expires <= (time.time() if now is None else now):
        return None
    return release_id


# --- the API ------------------------------------------------------------------------------------


@router.get("/api/v1/releases/{release_id}/report")
def report(request: Request, release_id: str, who: Who) -> dict[str, Any]:
    """The release's delivery report: counts by state, channel, recipient kind, country, language and
    match; delivery latency (p50/p95/max, overall and per channel); attempts; grouped failures; a
    cumulative timeline. For the issuing organisation and for editors."""
    with unit_of_work(request) as s:
        return release_report(s, unreleased_view(s, release_id, who))


@router.get("/api/v1/releases/{release_id}/report/link")
def report_link(request: Request, release_id: str, who: Who, settings: SettingsDep) -> dict[str, Any]:
    """A link to the report as a web page, valid for seven days; whoever holds it can read the report."""
    with unit_of_work(request) as s:
        release = unreleased_view(s, release_id, who)
        expires = int(time.time()) + LINK_DAYS * 86400
        token = report_token(settings.secret, release.id, expires)
    return {
        "url": f"{settings.base_url}/reports/{token}",
        "expires_at": datetime.fromtimestamp(expires, UTC).isoformat().replace("+00:00", "Z"),
    }


@router.get(
    "/api/v1/releases/{release_id}/report/{chart}.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}, "description": "an SVG chart"}},
)
def report_svg(request: Request, release_id: str, chart: str, who: Who) -> Response:
    """One chart of the report as SVG: channels, countries, languages, kinds or timeline."""
    if chart not in CHARTS:
        raise ApiError(404, "not_found", f"no chart {chart}; use one of {', '.join(CHARTS)}")
    with unit_of_work(request) as s:
        data = release_report(s, unreleased_view(s, release_id, who))
    svg = report_chart(data, chart)
    assert svg is not None
    return Response(svg, media_type="image/svg+xml; charset=utf-8", headers=_PRIVATE)


# --- the page -----------------------------------------------------------------------------------


def seconds(value: float | None) -> str:
    """Latency for people: 0.42 s, 12.3 s, 2m30s."""
    if value is None:
        return "—"
    if value < 10:
        return f"{value:.2f} s"
    if value < 120:
        return f"{value:.1f} s"
    return duration(value)


@router.get("/reports/{token}", response_class=HTMLResponse, include_in_schema=False)
def report_page(request: Request, token: str) -> Response:
    settings = get_settings(request)
    release_id = check_report_token(settings.secret, token)
    if release_id is None:
        return not_found_page(request)
    with unit_of_work(request) as s:
        release = release_by_id(s, release_id)
        if release is None:
            return not_found_page(request)
        data = release_report(s, release)
    expires = int(token.split(".")[1])
    charts = {name: Markup(report_chart(data, name) or "") for name in CHARTS}
    in_flight = sum(data["states"][k] for k in LIVE_DELIVERY_STATES)
    page = render(
        request,
        "report.html",
        "en",
        report=data,
        charts=charts,
        states=STATES,
        in_flight=in_flight,
        seconds=seconds,
        expires_at=datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    page.headers.update({**_PRIVATE, "Referrer-Policy": "no-referrer"})
    return page
