"""The WebSub channel (W3C Recommendation, https://www.w3.org/TR/websub/): Warta is the hub of its
own feeds, and pushes each new entry to the feeds' subscribers.

A subscription is an endpoint on this channel: its address the subscriber's callback, its format
the topic's feed format (atom, rss or jsonfeed) and its secret the subscriber's `hub.secret`
(behind a short prefix of its own, since secrets are unique in the endpoints table). A private
feed's subscriptions belong to the feed's recipient, and follow its deliveries. A public feed (a
topic such as `/feeds/atom.xml?lang=fr`) is a recipient of its own, `websub:<topic>` as its
external id, whose endpoints are that topic's subscribers: this channel adds it to the audience of
every release its filters take (`Channel.audience`), whatever the release's targets. The
subscriptions service (`warta.routing.websub`) verifies intent and stores them.

A delivery POSTs the topic's feed format holding the one new entry (a correction updates it, a
withdrawal is its next version saying so), with `Link: <hub>; rel="hub", <topic>; rel="self"` and,
where the subscriber gave a secret, `X-Hub-Signature: sha256=<HMAC-SHA256 of the body>`. A lease
lasts `WARTA_WEBSUB_LEASE` seconds from the subscription's verification: a delivery after it is
not sent and the endpoint is disabled (a new subscription renews it). Callbacks are checked by
`warta.delivery.netguard` before every attempt, as webhook URLs are (`WARTA_WEBHOOK_ALLOW`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from warta import formats
from warta.clock import aware, utcnow
from warta.config import Settings
from warta.delivery import http1
from warta.delivery.base import Channel, EndpointView, Job, RecipientView, Result, register
from warta.delivery.channels.webhook import checked_target, retry_after
from warta.delivery.ledger import LostClaim
from warta.i18n.dates import iso
from warta.model import Endpoint, Organisation, Recipient, Release
from warta.model.states import DeliveryState, EndpointState, RecipientStatus

CHANNEL = "websub"
TOPIC_PREFIX = "websub:"  # a public topic's recipient: this, then the topic's URL, as its external id
USER_AGENT = "Warta-WebSub/1"
# the public feeds by path, with the feed format of each; a private feed by its extension
PUBLIC_FEEDS = {"atom.xml": "atom", "rss.xml": "rss", "feed.json": "jsonfeed"}
PRIVATE_FEEDS = {"xml": "atom", "json": "jsonfeed"}
FILTERS = ("country", "lang", "org", "sector")


def hub_url(settings: Settings) -> str:
    return f"{settings.base_url}/websub"


def link_header(settings: Settings, topic: str) -> str:
    """What every answer of a topic and every content distribution says of where to subscribe."""
    return f'<{hub_url(settings)}>; rel="hub", <{topic}>; rel="self"'


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def subscriber_secret(stored: str | None) -> str | None:
    """The subscriber's `hub.secret` from the endpoint's stored secret (after its prefix)."""
    return stored.split(":", 1)[1] if stored and ":" in stored else None


@dataclass(frozen=True)
class PublicTopic:
    """A public feed and its filters, as its canonical URL names them."""

    url: str
    format: str
    filters: dict[str, str]

    @classmethod
    def of(cls, url: str) -> PublicTopic | None:
        parts = urlsplit(url)
        name = parts.path.rsplit("/", 1)[-1]
        if name not in PUBLIC_FEEDS:
            return None
        return cls(url, PUBLIC_FEEDS[name], {k: v for k, v in parse_qsl(parts.query) if k in FILTERS})

    def takes(self, release: Release, langs: Collection[str], org_slug: str) -> bool:
        """Whether the feed shows this release: the edition in its language (else the original),
        in its sector, country and organisation."""
        f = self.filters
        if "lang" in f and f["lang"] not in langs:
            return False
        if "sector" in f and f["sector"] not in release.sectors:
            return False
        country = f.get("country")
        if country and country != release.dateline_country and country not in release.target_countries:
            return False
        return "org" not in f or f["org"] == org_slug

    def shows(self, job: Job) -> bool:
        """Whether the feed shows this job's edition: the filtered language, else the original
        (routing may have matched the topic's recipient by a circuit that ignores its filters)."""
        rendered = job.bundle
        lang, release = rendered.edition.lang, rendered.release
        wanted = self.filters.get("lang") or release.language
        return lang == wanted and self.takes(release, (lang,), rendered.organisation.slug)


@register
class WebSubChannel(Channel):
    name: ClassVar[str] = CHANNEL
    batch_size: ClassVar[int] = 1
    lane_concurrency: ClassVar[int] = 2  # a lane per callback: a slow subscriber holds up only itself
    # a subscriber tells a copy it has by the entry's id and version, so sending again is safe
    recover_committing: ClassVar[str] = DeliveryState.PENDING
    max_queued: ClassVar[int] = 1_024
    per_host_connections = 4

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client: http1.Client | None = None

    def skip_reason(self, recipient: RecipientView, endpoint: EndpointView) -> str | None:
        return None if endpoint.address else "the subscription has no callback"

    def lane(self, endpoint: EndpointView) -> str:
        return f"{CHANNEL}:{endpoint.address or 'invalid'}"

    def breaker_key(self, job: Job) -> str | None:
        return job.endpoint.address or job.lane

    # --- routing: the public topics' subscribers ---------------------------------------------

    def audience(
        self, session: Session, release: Release, langs: Collection[str]
    ) -> Iterable[tuple[str, str]]:
        topics = session.execute(
            select(Recipient.id, Recipient.external_id).where(
                Recipient.external_id.startswith(TOPIC_PREFIX), Recipient.status == RecipientStatus.ACTIVE
            )
        ).all()
        if not topics:
            return []
        slug = session.scalar(select(Organisation.slug).where(Organisation.id == release.org_id)) or ""
        taken = []
        for recipient_id, external_id in topics:
            topic = PublicTopic.of(str(external_id).removeprefix(TOPIC_PREFIX))
            if topic is not None and topic.takes(release, langs, slug):
                taken.append((recipient_id, "topic"))
        return taken

    # --- the claim: each job's topic and lease ----------------------------------------------

    def prepare(self, session: Session, jobs: list[Job]) -> None:
        mine = [job for job in jobs if job.channel == CHANNEL]
        if not mine:
            return
        rows = session.execute(
            select(Endpoint.id, Endpoint.updated_at, Recipient.external_id).where(
                Endpoint.id.in_({job.endpoint.id for job in mine}), Endpoint.recipient_id == Recipient.id
            )
        ).all()
        found = {endpoint_id: (aware(since), external_id) for endpoint_id, since, external_id in rows}
        private = {
            recipient_id: token
            for recipient_id, token in session.execute(
                select(Endpoint.recipient_id, Endpoint.secret).where(
                    Endpoint.recipient_id.in_({job.recipient.id for job in mine}),
                    Endpoint.channel == "feed",
                    Endpoint.state == EndpointState.ACTIVE,
                )
            )
        }
        lease = timedelta(seconds=self.settings.websub_lease)
        for job in mine:
            since, external_id = found.get(job.endpoint.id, (None, None))
            if since is not None:
                job.extra["lease_ends"] = since + lease
            job.extra["topic"] = self._topic(job, external_id, private.get(job.recipient.id))

    def _topic(self, job: Job, external_id: str | None, feed_token: str | None) -> str | None:
        if external_id and external_id.startswith(TOPIC_PREFIX):
            return external_id.removeprefix(TOPIC_PREFIX)
        ext = {v: k for k, v in PRIVATE_FEEDS.items()}.get(job.endpoint.format or "")
        if feed_token is None or ext is None:
            return None
        return f"{self.settings.base_url}/feeds/private/{feed_token}.{ext}"

    # --- sending ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self.client is None:
            self.client = http1.Client(per_origin=self.per_host_connections, keepalive=30.0, peek=4096)

    async def stop(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            await client.aclose()

    async def send(self, jobs: list[Job]) -> list[Result]:
        if self.client is None:
            await self.start()
        return [await self._send_one(job) for job in jobs]

    def payload(self, job: Job, topic: str) -> tuple[bytes, str]:
        """The topic's feed holding this job's entry, and its media type (made once per edition,
        event and topic, and kept in the rendering's cache)."""
        rendered = job.bundle
        withdrawal = job.kind == "withdrawal"
        note = str(job.extra.get("note") or "") if withdrawal else ""
        key = f"{CHANNEL}:{topic}:{'withdrawal' if withdrawal else 'edition'}:{note}:{int(job.embargoed)}"
        cached = rendered.cache.get(key)
        if cached is None:
            writer = formats.get(job.endpoint.format or "atom", formats.FeedFormat)
            # an early copy (a trusted recipient's private feed) carries its lift, as the feed does
            event = formats.event_for(rendered, job.kind, note if withdrawal else None, early=job.embargoed)
            entry = formats.event_entry(rendered, event)
            feed = formats.Feed(
                title=self.settings.wire_name,
                url=topic,
                home=self.settings.base_url + "/",
                lang=entry.lang,
                updated=entry.updated,
                entries=[entry],
                hub=hub_url(self.settings),
            )
            cached = rendered.cache[key] = (writer.document(feed), writer.feed_media_type)
        body, media_type = cached
        return body, media_type

    async def _send_one(self, job: Job) -> Result:
        callback, topic = job.endpoint.address, job.extra.get("topic")
        if not callback:
            return Result("failed", "the subscription has no callback")
        if not topic:
            return Result("failed", "the subscription's topic is gone (its private feed was removed)")
        public = PublicTopic.of(str(topic)) if "/feeds/private/" not in str(topic) else None
        if public is not None and not public.shows(job):
            return Result("failed", f"{topic} does not show the {job.bundle.edition.lang} edition")
        lease_ends: datetime | None = job.extra.get("lease_ends")
        if lease_ends is None or lease_ends <= utcnow():
            ended = iso(lease_ends) if lease_ends else "an unknown time"
            return Result("disable", f"the subscription's lease ran out at {ended}")
        checked = await checked_target(callback, self.settings, "callback's")
        if isinstance(checked, Result):
            return checked
        origin, path, extra_headers = checked
        try:
            body, media_type = self.payload(job, str(topic))
        except (ValueError, formats.UnknownFormat) as exc:
            return Result("failed", f"cannot render the feed: {exc}")
        headers = [
            *extra_headers,
            ("content-type", media_type),
            ("user-agent", USER_AGENT),
            ("link", link_header(self.settings, str(topic))),
        ]
        secret = subscriber_secret(job.endpoint.secret)
        if secret:
            headers.append(("x-hub-signature", signature(secret, body)))
        try:
            await job.commit_point()
        except LostClaim as exc:  # another worker holds the row now: it sends it, not this one
            return Result("retry", f"claim lost: {exc}")
        timeout = self.settings.webhook_timeout
        assert self.client is not None
        try:
            response = await self.client.request(origin, "POST", path, headers, body, timeout)
        except TimeoutError:
            return Result("retry", f"no answer within {timeout:g} s")
        except http1.HTTPError as exc:
            return Result("retry", f"{type(exc).__name__}: {exc}")
        return _outcome(response)


def _outcome(response: http1.Response) -> Result:
    """2xx delivered; 410 Gone ends the subscription; 408, 429 and 5xx retried; any other failed."""
    status = response.status
    if 200 <= status < 300:
        return Result.ok()
    reason = f"HTTP {status} {response.reason}".rstrip()
    if status == 410:
        return Result("disable", reason)
    if status in (408, 429) or status >= 500:
        return Result("retry", reason, retry_after(response.headers.get("retry-after")))
    return Result("failed", reason)
