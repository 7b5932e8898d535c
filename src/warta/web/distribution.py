"""Distribution API: recipients, circuits, alerts, deliveries, withdrawals, unsubscribe, private feeds."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from warta import formats
from warta.clock import aware, stamp, utcnow
from warta.delivery.tokens import check_unsubscribe_token
from warta.editions.queries import last_withdrawal, unreleased_view
from warta.editions.render import wire_text
from warta.editions.rendered import RenderedEdition
from warta.review import decide
from warta.routing import deliveries, endpoints, subscriptions
from warta.routing import recipients as rcp
from warta.routing.websub import hub_url, link_header
from warta.web.api import RejectIn
from warta.web.conditional import http_date, not_modified
from warta.web.deps import Editor, NoStore, SettingsDep, Who, get_settings, unit_of_work
from warta.web.errors import ApiError
from warta.web.schemas import (
    ERRORS,
    AlertList,
    AlertOut,
    CircuitList,
    CircuitOut,
    DeliveryList,
    DeliveryOut,
    EndpointList,
    EndpointOut,
    Offset,
    RecipientList,
    RecipientOut,
    WithdrawalOut,
)

if TYPE_CHECKING:
    from warta.model import Delivery

router = APIRouter(prefix="/api/v1", tags=["distribution"], responses=ERRORS)
public = APIRouter(include_in_schema=False)


# --- recipients --------------------------------------------------------------------------------


@router.post("/recipients", status_code=201, response_model=RecipientOut, dependencies=[NoStore])
def create_recipient(
    request: Request, body: rcp.RecipientIn, who: Editor, settings: SettingsDep
) -> dict[str, Any]:
    """Add a recipient. The answer holds its webhook secret and feed/stream tokens."""
    with unit_of_work(request) as s:
        return rcp.recipient_json(rcp.create_recipient(s, settings, body))


@router.get("/recipients", response_model=RecipientList, dependencies=[NoStore])
def list_recipients(
    request: Request,
    who: Editor,
    kind: str | None = None,
    country: str | None = None,
    status: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
) -> dict[str, Any]:
    with unit_of_work(request) as s:
        total, rows = subscriptions.list_recipients(
            s, kind=kind, country=country, status=status, limit=limit, offset=offset
        )
        return {"total": total, "items": [rcp.recipient_json(r) for r in rows]}


@router.get("/recipients/{recipient_id}", response_model=RecipientOut, dependencies=[NoStore])
def get_recipient(request: Request, recipient_id: str, who: Editor) -> dict[str, Any]:
    with unit_of_work(request) as s:
        return rcp.recipient_json(subscriptions.recipient(s, recipient_id))


@router.patch("/recipients/{recipient_id}", response_model=RecipientOut, dependencies=[NoStore])
def patch_recipient(
    request: Request, recipient_id: str, body: rcp.RecipientPatch, who: Editor, settings: SettingsDep
) -> dict[str, Any]:
    with unit_of_work(request) as s:
        try:
            return rcp.recipient_json(
                rcp.update_recipient(s, settings, subscriptions.recipient(s, recipient_id), body)
            )
        except rcp.UnsubscribedError as exc:
            raise ApiError(409, "conflict", str(exc), exc.field) from exc


@router.delete("/recipients/{recipient_id}", status_code=204)
def delete_recipient(request: Request, recipient_id: str, who: Editor) -> Response:
    """Remove a recipient: no further deliveries; contact details erased; the ledger keeps its history."""
    with unit_of_work(request) as s:
        subscriptions.delete_recipient(s, recipient_id)
    return Response(status_code=204)


# --- endpoints ---------------------------------------------------------------------------------


@router.get("/recipients/{recipient_id}/endpoints", response_model=EndpointList, dependencies=[NoStore])
def list_endpoints(request: Request, recipient_id: str, who: Editor) -> dict[str, Any]:
    """The recipient's endpoints: email addresses, webhook URLs, its private feed and live stream."""
    with unit_of_work(request) as s:
        found = endpoints.live(subscriptions.recipient(s, recipient_id))
        return {"items": [endpoints.endpoint_json(e) for e in found]}


@router.post(
    "/recipients/{recipient_id}/endpoints",
    status_code=201,
    response_model=EndpointOut,
    dependencies=[NoStore],
)
def create_endpoint(
    request: Request, recipient_id: str, body: endpoints.EndpointIn, who: Editor, settings: SettingsDep
) -> dict[str, Any]:
    """Add an email address or a webhook URL; a webhook's signing secret is in this answer only."""
    with unit_of_work(request) as s:
        made = endpoints.add_endpoint(s, settings, subscriptions.recipient(s, recipient_id), body)
        return endpoints.endpoint_json(made, reveal=True)


@router.patch(
    "/recipients/{recipient_id}/endpoints/{endpoint_id}", response_model=EndpointOut, dependencies=[NoStore]
)
def patch_endpoint(
    request: Request,
    recipient_id: str,
    endpoint_id: str,
    body: endpoints.EndpointPatch,
    who: Editor,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Change an endpoint's address or format, or disable and enable it."""
    with unit_of_work(request) as s:
        found = endpoints.get(s, subscriptions.recipient(s, recipient_id), endpoint_id)
        return endpoints.endpoint_json(endpoints.update_endpoint(s, settings, found, body))


@router.delete("/recipients/{recipient_id}/endpoints/{endpoint_id}", status_code=204)
def delete_endpoint(request: Request, recipient_id: str, endpoint_id: str, who: Editor) -> Response:
    """No further deliveries to this endpoint; its address is erased, the ledger keeps its rows."""
    with unit_of_work(request) as s:
        endpoints.remove(endpoints.get(s, subscriptions.recipient(s, recipient_id), endpoint_id))
    return Response(status_code=204)


# --- alerts ------------------------------------------------------------------------------------


@router.post("/recipients/{recipient_id}/alerts", status_code=201, response_model=AlertOut)
def create_alert(request: Request, recipient_id: str, body: rcp.AlertIn, who: Editor) -> dict[str, Any]:
    """Save a search for a recipient: real time, or gathered into an hourly or daily digest."""
    with unit_of_work(request) as s:
        return rcp.alert_json(rcp.create_alert(s, subscriptions.recipient(s, recipient_id), body))


@router.get("/recipients/{recipient_id}/alerts", response_model=AlertList)
def list_alerts(request: Request, recipient_id: str, who: Editor) -> dict[str, Any]:
    with unit_of_work(request) as s:
        return {"items": [rcp.alert_json(a) for a in subscriptions.alerts_of(s, recipient_id)]}


@router.delete("/alerts/{alert_id}", status_code=204)
def delete_alert(request: Request, alert_id: str, who: Editor) -> Response:
    with unit_of_work(request) as s:
        subscriptions.delete_alert(s, alert_id)
    return Response(status_code=204)


# --- circuits ----------------------------------------------------------------------------------


@router.post("/circuits", status_code=201, response_model=CircuitOut)
def create_circuit(request: Request, body: rcp.CircuitIn, who: Editor) -> dict[str, Any]:
    """A named audience, e.g. "Malaysia — national": countries x languages x sectors x kinds."""
    with unit_of_work(request) as s:
        return rcp.circuit_json(rcp.create_circuit(s, body))


@router.get("/circuits", response_model=CircuitList)
def list_circuits(request: Request, who: Who) -> dict[str, Any]:
    """Issuers list circuits to target them."""
    with unit_of_work(request) as s:
        return {"items": [rcp.circuit_json(c) for c in subscriptions.all_circuits(s)]}


@router.delete("/circuits/{slug}", status_code=204)
def delete_circuit(request: Request, slug: str, who: Editor) -> Response:
    with unit_of_work(request) as s:
        subscriptions.delete_circuit(s, slug)
    return Response(status_code=204)


# --- deliveries and withdrawals ----------------------------------------------------------------


def delivery_json(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "release_id": d.release_id,
        "edition_id": d.edition_id,
        "version": d.version,
        "lang": d.lang,
        "recipient_id": d.recipient_id,
        "endpoint_id": d.endpoint_id,
        "channel": d.channel,
        "kind": d.kind,
        "state": d.state,
        "embargoed": d.embargoed,
        "attempts": d.attempts,
        "last_error": d.last_error,
        "matched_by": d.matched_by,
        "not_before": stamp(d.not_before),
        "next_attempt_at": stamp(d.next_attempt_at),
        "created_at": stamp(d.created_at),
        "first_attempt_at": stamp(d.first_attempt_at),
        "delivered_at": stamp(d.delivered_at),
    }


@router.get("/releases/{release_id}/deliveries", response_model=DeliveryList)
def list_deliveries(
    request: Request,
    release_id: str,
    who: Who,
    state: str | None = None,
    channel: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
) -> dict[str, Any]:
    """The ledger rows of a release (the issuer's own, or any for editors)."""
    with unit_of_work(request) as s:
        total, rows = deliveries.release_deliveries(
            s, release_id, who, state=state, channel=channel, limit=limit, offset=offset
        )
        return {"total": total, "items": [delivery_json(d) for d in rows]}


@router.post("/deliveries/{delivery_id}/resend", response_model=DeliveryOut)
def resend(request: Request, delivery_id: str, who: Who) -> dict[str, Any]:
    """Try a failed (or cancelled) delivery again, now; never an edition of a withdrawn release, nor
    a copy of a version a correction superseded."""
    with unit_of_work(request) as s:
        out = delivery_json(deliveries.resend(s, delivery_id, who))
    request.app.state.runtime.wake_delivery()
    return out


@router.post("/releases/{release_id}/withdraw", response_model=WithdrawalOut)
def withdraw(request: Request, release_id: str, body: RejectIn, who: Who) -> dict[str, Any]:
    """Withdraw a release: it leaves the public surfaces and everyone who received it gets a notice."""
    with unit_of_work(request) as s:
        release = decide.withdraw(s, unreleased_view(s, release_id, who), who, body.reason)
        return {"id": release.id, "status": release.status, "reason": release.withdrawal_note}


# --- unsubscribe (RFC 8058) and private feeds --------------------------------------------------


def _unsubscribe_page(message: str, token: str | None, status: int = 200) -> HTMLResponse:
    form = (
        f'<form method="post" action="/unsubscribe/{token}"><input type="hidden" name="List-Unsubscribe" '
        f'value="One-Click"><button type="submit">Unsubscribe</button></form>'
        if token
        else ""
    )
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Unsubscribe</title>'
        f'<link rel="stylesheet" href="/static/style.css"></head><body><main><h1>Unsubscribe</h1>'
        f"<p>{message}</p>{form}</main></body></html>",
        status_code=status,
    )


@public.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, token: str) -> HTMLResponse:
    settings = get_settings(request)
    if check_unsubscribe_token(settings, token) is None:
        return _unsubscribe_page("This unsubscribe link is not valid.", None, 404)
    return _unsubscribe_page("Stop receiving press releases from this wire by email?", token)


@public.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe(request: Request, token: str) -> HTMLResponse:
    """One click, no login: the signed token is the proof (RFC 8058 List-Unsubscribe-Post)."""
    settings = get_settings(request)
    recipient_id = check_unsubscribe_token(settings, token)
    if recipient_id is None:
        return _unsubscribe_page("This unsubscribe link is not valid.", None, 404)
    with unit_of_work(request) as s:
        subscriptions.unsubscribe(s, recipient_id)
    return _unsubscribe_page("You are unsubscribed. No more releases will be sent to you.", None)


@public.get("/feeds/private/{token}.{ext}")
def private_feed(request: Request, token: str, ext: str) -> Response:
    """A recipient's own feed: what the wire delivered to it, early embargoed copies only if trusted."""
    settings = get_settings(request)
    writers = {"xml": "atom", "json": "jsonfeed"}  # extension -> format
    if ext not in writers:
        raise ApiError(404, "not_found", "use .xml (Atom) or .json (JSON Feed)")
    writer = formats.get(writers[ext], formats.FeedFormat)
    with unit_of_work(request) as s:
        r = subscriptions.feed_recipient(s, token)
        rows = subscriptions.private_feed_items(s, r)
        entries = []
        now = utcnow()
        # entries appear when an embargo lifts and leave when a release is withdrawn: changes too
        changes = [aware(last_withdrawal(s))] + [
            lift for _, _, rel, *_ in rows if (lift := aware(rel.embargo_until)) and lift <= now
        ]
        for d, e, rel, org, version in rows:
            lift = aware(rel.embargo_until)
            embargoed = bool(lift and lift > now)
            if embargoed and not (r.embargo_trusted and d.embargoed):
                continue
            delivered = aware(d.delivered_at) or now
            text = wire_text(settings, rel, version, e, org)
            entries.append(
                writer.entry(
                    RenderedEdition(settings, rel, version, e, org, text, []),
                    published=delivered,
                    updated=delivered,
                    embargoed_until=lift if embargoed else None,
                    versioned_id=True,
                )
            )
    updated = max([e.updated for e in entries] + [c for c in changes if c], default=now)
    fingerprint = "|".join(f"{e.id}@{e.updated.isoformat()}" for e in entries)
    etag = '"' + hashlib.sha256(f"{ext}#{fingerprint}".encode()).hexdigest()[:32] + '"'
    url = f"{settings.base_url}/feeds/private/{token}.{ext}"
    headers = {
        "Cache-Control": "private, no-cache",
        "ETag": etag,
        "Last-Modified": http_date(updated),
        "Link": link_header(settings, url),  # where to subscribe to it (WebSub)
    }
    if not_modified(request, etag, updated):
        return Response(status_code=304, headers=headers)
    doc = formats.Feed(
        title=f"{settings.wire_name} — {r.name}",
        url=url,
        home=settings.base_url + "/",
        lang=None,
        updated=updated,
        entries=entries,
        hub=hub_url(settings),
    )
    return Response(writer.document(doc), media_type=writer.feed_media_type, headers=headers)
