"""Distribution API: recipients, circuits, alerts, deliveries, withdrawals, unsubscribe, private feeds."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select, update

from warta.bus import emit
from warta.clock import aware, stamp, utcnow
from warta.delivery.tokens import check_unsubscribe_token
from warta.editions.queries import last_withdrawal
from warta.editions.render import wire_text
from warta.formats import feeds
from warta.intake.sanitize import sanitize_text
from warta.model import Alert, Circuit, Delivery, Edition, Organisation, Recipient, Release, ReleaseVersion
from warta.routing import recipients as rcp
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
    Offset,
    RecipientList,
    RecipientOut,
    WithdrawalOut,
)

router = APIRouter(prefix="/api/v1", tags=["distribution"], responses=ERRORS)
public = APIRouter(include_in_schema=False)


def _recipient(session: Any, recipient_id: str) -> Recipient:
    found = session.get(Recipient, recipient_id)
    if found is None or found.status == "deleted":
        raise ApiError(404, "not_found", f"no recipient {recipient_id}")
    return found


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
        stmt = select(Recipient).where(Recipient.status != "deleted")
        if kind:
            stmt = stmt.where(Recipient.kind == kind)
        if country:
            stmt = stmt.where(Recipient.country == country.upper())
        if status:
            stmt = stmt.where(Recipient.status == status)
        total = s.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = s.scalars(stmt.order_by(Recipient.created_at, Recipient.id).limit(limit).offset(offset))
        return {"total": total, "items": [rcp.recipient_json(r) for r in rows]}


@router.get("/recipients/{recipient_id}", response_model=RecipientOut, dependencies=[NoStore])
def get_recipient(request: Request, recipient_id: str, who: Editor) -> dict[str, Any]:
    with unit_of_work(request) as s:
        return rcp.recipient_json(_recipient(s, recipient_id))


@router.patch("/recipients/{recipient_id}", response_model=RecipientOut, dependencies=[NoStore])
def patch_recipient(
    request: Request, recipient_id: str, body: rcp.RecipientPatch, who: Editor, settings: SettingsDep
) -> dict[str, Any]:
    with unit_of_work(request) as s:
        try:
            return rcp.recipient_json(rcp.update_recipient(s, settings, _recipient(s, recipient_id), body))
        except rcp.UnsubscribedError as exc:
            raise ApiError(409, "conflict", str(exc), exc.field) from exc


@router.delete("/recipients/{recipient_id}", status_code=204)
def delete_recipient(request: Request, recipient_id: str, who: Editor) -> Response:
    """Remove a recipient: no further deliveries; contact details erased; the ledger keeps its history."""
    with unit_of_work(request) as s:
        r = _recipient(s, recipient_id)
        r.status, r.email, r.webhook_url, r.webhook_secret, r.stream_token = "deleted", None, None, None, None
        r.name = "(deleted)"
        r.updated_at = utcnow()
        s.query(Alert).filter(Alert.recipient_id == r.id).delete()
    return Response(status_code=204)


# --- alerts ------------------------------------------------------------------------------------


@router.post("/recipients/{recipient_id}/alerts", status_code=201, response_model=AlertOut)
def create_alert(request: Request, recipient_id: str, body: rcp.AlertIn, who: Editor) -> dict[str, Any]:
    """Save a search for a recipient: real time, or gathered into an hourly or daily digest."""
    with unit_of_work(request) as s:
        return rcp.alert_json(rcp.create_alert(s, _recipient(s, recipient_id), body))


@router.get("/recipients/{recipient_id}/alerts", response_model=AlertList)
def list_alerts(request: Request, recipient_id: str, who: Editor) -> dict[str, Any]:
    with unit_of_work(request) as s:
        rows = s.scalars(select(Alert).where(Alert.recipient_id == recipient_id).order_by(Alert.created_at))
        return {"items": [rcp.alert_json(a) for a in rows]}


@router.delete("/alerts/{alert_id}", status_code=204)
def delete_alert(request: Request, alert_id: str, who: Editor) -> Response:
    with unit_of_work(request) as s:
        alert = s.get(Alert, alert_id)
        if alert is None:
            raise ApiError(404, "not_found", f"no alert {alert_id}")
        s.delete(alert)
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
        return {"items": [rcp.circuit_json(c) for c in s.scalars(select(Circuit).order_by(Circuit.name))]}


@router.delete("/circuits/{slug}", status_code=204)
def delete_circuit(request: Request, slug: str, who: Editor) -> Response:
    with unit_of_work(request) as s:
        circuit = s.scalar(select(Circuit).where(Circuit.slug == slug))
        if circuit is None:
            raise ApiError(404, "not_found", f"no circuit {slug}")
        s.delete(circuit)
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


def _own_release(session: Any, release_id: str, who: Any) -> Release:
    release = session.get(Release, release_id)
    if release is None or not who.can_see_unreleased(release.org_id):
        raise ApiError(404, "not_found", f"no release {release_id}")
    return release


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
        _own_release(s, release_id, who)
        stmt = select(Delivery).where(Delivery.release_id == release_id)
        if state:
            stmt = stmt.where(Delivery.state == state)
        if channel:
            stmt = stmt.where(Delivery.channel == channel)
        total = s.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = s.scalars(stmt.order_by(Delivery.created_at, Delivery.id).limit(limit).offset(offset))
        return {"total": total, "items": [delivery_json(d) for d in rows]}


@router.post("/deliveries/{delivery_id}/resend", response_model=DeliveryOut)
def resend(request: Request, delivery_id: str, who: Who) -> dict[str, Any]:
    """Try a failed (or cancelled) delivery again, now; never an edition of a withdrawn release, nor
    a copy of a version a correction superseded."""
    with unit_of_work(request) as s:
        d = s.get(Delivery, delivery_id)
        if d is None:
            raise ApiError(404, "not_found", f"no delivery {delivery_id}")
        release = _own_release(s, d.release_id, who)
        if d.state not in ("failed", "cancelled"):
            raise ApiError(409, "conflict", f"a {d.state} delivery is not resent")
        refused = rcp.resend_refusal(d, release)
        if refused:
            raise ApiError(409, "conflict", refused)
        recipient = s.get(Recipient, d.recipient_id)
        if recipient is not None and d.channel == "webhook" and recipient.webhook_disabled:
            recipient.webhook_disabled = None  # the operator vouches for the endpoint again
        d.state, d.next_attempt_at, d.last_error = "pending", utcnow(), None
        out = delivery_json(d)
    request.app.state.runtime.wake_delivery()
    return out


@router.post("/releases/{release_id}/withdraw", response_model=WithdrawalOut)
def withdraw(request: Request, release_id: str, body: RejectIn, who: Who) -> dict[str, Any]:
    """Withdraw a release: it leaves the public surfaces and everyone who received it gets a notice."""
    with unit_of_work(request) as s:
        release = _own_release(s, release_id, who)
        if not who.is_editor and who.org_id != release.org_id:
            raise ApiError(403, "forbidden", "not your organisation's release")
        if release.status == "withdrawn":
            raise ApiError(409, "conflict", "already withdrawn")
        previous = release.status
        release.status = "withdrawn"
        release.reject_reason = sanitize_text(body.reason, "reason", 2000)
        # the notices say who withdrew it: the issuer, or the wire's editors
        by = "issuer" if who.org_id == release.org_id else "wire"
        release.review = {**release.review, "withdrawal": {"by": by, "name": who.name}}
        release.updated_at = utcnow()
        emit(s, "release.withdrawn", f"withdrawn:{release.id}", {"release_id": release.id, "was": previous})
        return {"id": release.id, "status": release.status, "reason": release.reject_reason}


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
        r = s.get(Recipient, recipient_id)
        if r is not None and r.status != "deleted":
            r.status, r.updated_at = "unsubscribed", utcnow()
            s.execute(
                update(Delivery)
                .where(Delivery.recipient_id == recipient_id, Delivery.state.in_(("pending", "retrying")))
                .values(state="cancelled", last_error="recipient unsubscribed")
            )
    return _unsubscribe_page("You are unsubscribed. No more releases will be sent to you.", None)


@public.get("/feeds/private/{token}.{ext}")
def private_feed(request: Request, token: str, ext: str) -> Response:
    """A recipient's own feed: what the wire delivered to it, early embargoed copies only if trusted."""
    settings = get_settings(request)
    writers = {
        "xml": (feeds.atom, "application/atom+xml; charset=utf-8"),
        "json": (feeds.json_feed, "application/feed+json; charset=utf-8"),
    }
    if ext not in writers:
        raise ApiError(404, "not_found", "use .xml (Atom) or .json (JSON Feed)")
    with unit_of_work(request) as s:
        r = s.scalar(select(Recipient).where(Recipient.feed_token == token))
        if r is None or r.status in ("deleted", "unsubscribed"):
            raise ApiError(404, "not_found", "unknown feed")
        rows = s.execute(
            select(Delivery, Edition, Release, Organisation, ReleaseVersion)
            .join(Edition, Edition.id == Delivery.edition_id)
            .join(Release, Release.id == Delivery.release_id)
            .join(Organisation, Organisation.id == Release.org_id)
            .join(
                ReleaseVersion,
                (ReleaseVersion.release_id == Edition.release_id)
                & (ReleaseVersion.version == Edition.version),
            )
            .where(
                Delivery.recipient_id == r.id,
                Delivery.channel == "feed",
                Delivery.kind == "edition",
                Delivery.state == "delivered",
                Release.status == "published",
            )
            .order_by(Delivery.delivered_at.desc())
            .limit(50)
        ).all()
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
                feeds.entry(
                    settings,
                    rel,
                    version,
                    e,
                    org,
                    text,
                    published=delivered,
                    updated=delivered,
                    embargoed_until=lift if embargoed else None,
                    versioned_id=True,
                )
            )
    writer, media_type = writers[ext]
    updated = max([e.updated for e in entries] + [c for c in changes if c], default=now)
    fingerprint = "|".join(f"{e.id}@{e.updated.isoformat()}" for e in entries)
    etag = '"' + hashlib.sha256(f"{ext}#{fingerprint}".encode()).hexdigest()[:32] + '"'
    headers = {"Cache-Control": "private, no-cache", "ETag": etag, "Last-Modified": http_date(updated)}
    if not_modified(request, etag, updated):
        return Response(status_code=304, headers=headers)
    doc = feeds.Feed(
        title=f"{settings.wire_name} — {r.name}",
        url=f"{settings.base_url}/feeds/private/{token}.{ext}",
        home=settings.base_url + "/",
        lang=None,
        updated=updated,
        entries=entries,
    )
    return Response(writer(doc), media_type=media_type, headers=headers)
