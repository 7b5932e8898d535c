"""WebSub subscriptions: a subscriber's request read and checked, its intent verified, and the
subscription kept as an endpoint of the WebSub channel (`warta.delivery.channels.websub`).

A request names a topic (one of the wire's public feeds with its filters, or a private feed by
its URL), a callback and optionally a secret; the answer is 202 and the hub then asks the
callback (a GET with `hub.challenge`, the mode, the topic and the granted lease). Only a callback
that answers 2xx with the challenge as its body is subscribed, or unsubscribed: a third party
cannot subscribe someone else's URL, nor end someone else's subscription. Subscribing again
renews the lease and takes the new secret.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, quote, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from warta.clock import utcnow
from warta.config import Settings
from warta.delivery import http1
from warta.delivery.channels.webhook import request_target
from warta.delivery.channels.websub import CHANNEL, PRIVATE_FEEDS, PUBLIC_FEEDS, TOPIC_PREFIX, PublicTopic
from warta.delivery.channels.websub import hub_url as hub_url  # the feeds' pages name the hub
from warta.delivery.channels.websub import link_header as link_header
from warta.delivery.netguard import UnresolvedHost, UnsafeTarget, check_url
from warta.editions.queries import parse_filters
from warta.errors import Invalid, NotFound
from warta.formats import feed_url
from warta.intake.sanitize import ContentError
from warta.model import Endpoint, Recipient
from warta.model.states import EndpointState, RecipientStatus
from warta.routing import subscriptions
from warta.store import Store

log = logging.getLogger(__name__)

MAX_SECRET = 90  # bytes of hub.secret kept (the stored secret is unique, behind a short prefix)
MAX_TOPIC = 190  # characters of a public topic's URL (kept in the topic recipient's external id)
Mode = Literal["subscribe", "unsubscribe"]


@dataclass(frozen=True)
class HubRequest:
    mode: Mode
    topic: str  # canonical: the public feed's URL with its filters in order, or a private feed's
    format: str  # the topic's feed format
    callback: str
    secret: str | None
    private_token: str | None  # the private feed's token, for a private topic


def parse_request(settings: Settings, body: bytes) -> HubRequest:
    """A subscriber's form (application/x-www-form-urlencoded) read and checked; a bad field is
    refused with `Invalid` naming it."""
    try:
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError:
        raise Invalid("the request body is not UTF-8 form data", "body") from None
    mode = form.get("hub.mode", "")
    if mode not in ("subscribe", "unsubscribe"):
        raise Invalid("hub.mode must be subscribe or unsubscribe", "hub.mode")
    callback = form.get("hub.callback", "")
    parts = urlsplit(callback)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("hub.callback must be an http or https URL", "hub.callback")
    if len(callback) > 2000:
        raise Invalid("hub.callback is longer than 2000 characters", "hub.callback")
    secret = form.get("hub.secret") or None
    if secret is not None and len(secret.encode("utf-8")) > MAX_SECRET:
        raise Invalid(f"hub.secret may be at most {MAX_SECRET} bytes", "hub.secret")
    lease = form.get("hub.lease_seconds")
    if lease and not lease.isdigit():
        raise Invalid("hub.lease_seconds must be a whole number of seconds", "hub.lease_seconds")
    topic, fmt, token = _topic(settings, form.get("hub.topic", ""))
    return HubRequest(mode, topic, fmt, callback, secret, token)  # type: ignore[arg-type]


def _topic(settings: Settings, url: str) -> tuple[str, str, str | None]:
    """The canonical topic, its feed format and a private feed's token; a URL that is not one of
    the wire's feeds is refused."""
    base = settings.base_url
    parts = urlsplit(url)
    if not url.startswith(base + "/feeds/"):
        raise Invalid(f"hub.topic must be one of this wire's feeds, under {base}/feeds/", "hub.topic")
    rest = parts.path.removeprefix(urlsplit(base).path).removeprefix("/feeds/")
    if rest.startswith("private/"):
        token, _, ext = rest.removeprefix("private/").rpartition(".")
        if not token or ext not in PRIVATE_FEEDS:
            raise Invalid("hub.topic is not a private feed's URL (.xml or .json)", "hub.topic")
        return f"{base}/feeds/private/{token}.{ext}", PRIVATE_FEEDS[ext], token
    if rest not in PUBLIC_FEEDS:
        raise Invalid(f"hub.topic must be one of {', '.join(PUBLIC_FEEDS)} under /feeds/", "hub.topic")
    query = dict(parse_qsl(parts.query))
    try:
        f = parse_filters(query.get("lang"), query.get("sector"), query.get("country"), query.get("org"))
    except ContentError as exc:
        raise Invalid(f"hub.topic's {exc.field} filter: {exc.reason}", "hub.topic") from exc
    params = {"lang": f.lang, "sector": f.sector, "country": f.country, "org": f.org}
    canonical = feed_url(settings, f"/feeds/{rest}", params)
    if len(canonical) > MAX_TOPIC:
        raise Invalid(f"hub.topic may be at most {MAX_TOPIC} characters", "hub.topic")
    return canonical, PUBLIC_FEEDS[rest], None


def check_topic(session: Session, request: HubRequest) -> None:
    """A private topic must be a feed that exists (NotFound otherwise)."""
    if request.private_token is not None:
        subscriptions.feed_recipient(session, request.private_token)


# --- verification of intent -----------------------------------------------------------------------


async def verify_intent(settings: Settings, request: HubRequest) -> bool:
    """Ask the callback whether it wants this (un)subscription: a GET with a fresh challenge,
    answered 2xx with exactly the challenge as its body."""
    challenge = secrets.token_urlsafe(24)
    query = {
        "hub.mode": request.mode,
        "hub.topic": request.topic,
        "hub.challenge": challenge,
    }
    if request.mode == "subscribe":
        query["hub.lease_seconds"] = str(int(settings.websub_lease))
    encoded = "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in query.items())
    url = request.callback + ("&" if urlsplit(request.callback).query else "?") + encoded
    timeout = settings.webhook_timeout
    client = http1.Client(per_origin=1, peek=4096)
    try:
        async with asyncio.timeout(timeout):
            addresses = await check_url(url, settings.webhook_allow)
            origin, path, headers = request_target(url, addresses)
            response = await client.request(origin, "GET", path, headers, b"", timeout)
    except (UnresolvedHost, UnsafeTarget, TimeoutError, http1.HTTPError) as exc:
        log.info("websub: %s of %s not verified: %s", request.mode, request.callback, exc)
        return False
    finally:
        await client.aclose()
    echoed = 200 <= response.status < 300 and response.body.strip() == challenge.encode()
    if not echoed:
        log.info("websub: %s of %s refused (HTTP %d)", request.mode, request.callback, response.status)
    return echoed


async def verify_and_apply(store: Store, settings: Settings, request: HubRequest) -> bool:
    """Verify the subscriber's intent, then (un)subscribe; whether it was verified."""
    if not await verify_intent(settings, request):
        return False
    await asyncio.to_thread(_apply, store, request)
    return True


def _apply(store: Store, request: HubRequest) -> None:
    with store.session() as s:
        if request.mode == "subscribe":
            subscribe(s, request)
        else:
            unsubscribe(s, request)


# --- the subscriptions themselves ---------------------------------------------------------------


def _owner(session: Session, request: HubRequest, create: bool) -> Recipient | None:
    """The recipient a topic's subscriptions belong to: a private feed's own recipient, or the
    public topic's recipient (made on its first subscription)."""
    if request.private_token is not None:
        return subscriptions.feed_recipient(session, request.private_token)
    external_id = TOPIC_PREFIX + request.topic
    owner = session.scalar(select(Recipient).where(Recipient.external_id == external_id))
    if owner is None and create:
        topic = PublicTopic.of(request.topic)
        lang = topic.filters.get("lang") if topic else None
        owner = Recipient(
            kind="outlet",
            name=f"WebSub {request.topic}"[:200],
            country=(topic.filters.get("country") if topic else None) or "ZZ",
            languages=[lang] if lang else [],
            sectors=[],
            external_id=external_id,
            status=RecipientStatus.ACTIVE,
        )
        session.add(owner)
        session.flush()
    return owner


def _subscription(session: Session, owner: Recipient, request: HubRequest) -> Endpoint | None:
    return session.scalar(
        select(Endpoint).where(
            Endpoint.recipient_id == owner.id,
            Endpoint.channel == CHANNEL,
            Endpoint.address == request.callback,
            Endpoint.format == request.format,
        )
    )


def subscribe(session: Session, request: HubRequest) -> Endpoint:
    """Keep a verified subscription, or renew it: its lease counts from now."""
    owner = _owner(session, request, create=True)
    assert owner is not None
    now = utcnow()
    stored = f"{secrets.token_hex(4)}:{request.secret}" if request.secret else None
    endpoint = _subscription(session, owner, request)
    if endpoint is None:
        endpoint = Endpoint(
            recipient_id=owner.id, channel=CHANNEL, address=request.callback, format=request.format
        )
        session.add(endpoint)
    endpoint.secret, endpoint.state, endpoint.disabled_reason = stored, EndpointState.ACTIVE, None
    endpoint.updated_at = now
    owner.updated_at = now  # routing's audience index is rebuilt when recipients change
    return endpoint


def unsubscribe(session: Session, request: HubRequest) -> bool:
    """End a verified subscription; whether there was one."""
    try:
        owner = _owner(session, request, create=False)
    except NotFound:
        return False
    endpoint = _subscription(session, owner, request) if owner is not None else None
    if endpoint is None or owner is None:
        return False
    now = utcnow()
    endpoint.state, endpoint.secret, endpoint.updated_at = EndpointState.REMOVED, None, now
    owner.updated_at = now
    return True


def active_subscriptions(session: Session, topic: str) -> list[Endpoint]:
    """The active subscriptions of a topic (a public one by its URL)."""
    return list(
        session.scalars(
            select(Endpoint)
            .join(Recipient, Recipient.id == Endpoint.recipient_id)
            .where(
                Recipient.external_id == TOPIC_PREFIX + topic,
                Endpoint.channel == CHANNEL,
                Endpoint.state == EndpointState.ACTIVE,
            )
        )
    )
