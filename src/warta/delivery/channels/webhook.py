"""The webhook channel: each edition POSTed to the recipient's endpoint, signed per Standard Webhooks.

The body is a Standard Webhooks envelope (compact JSON, UTF-8): ``type`` names the event
(``release.published``, ``release.corrected`` or ``release.withdrawn``), ``timestamp`` when it
happened, ``data`` the edition's ninjs. When the recipient chose NewsML-G2 the body is the item
itself and the ``x-warta-event`` header (sent with every format) names the event. A withdrawal
sends the edition as its next version with the publishing status ``canceled``.
Every attempt of a delivery carries the same ``webhook-id`` (the ledger row), so a receiver can
drop a copy it already has, and a fresh ``webhook-timestamp`` and signature.

Before every attempt the endpoint's address is checked again (`warta.delivery.netguard`): only
public addresses, unless ``WARTA_WEBHOOK_ALLOW`` allows more. The request goes to the address
that was checked, over plain HTTP and TLS alike (TLS checks the certificate against the name), so
a name cannot resolve to one address for the check and another for the request. Redirects are
never followed. Requests go through `warta.delivery.http1`, keep-alive connections pooled per
host.

At most `max_in_flight` requests run at once over all endpoints. One that is still unanswered
after `park_after` (0.25 s) is parked: it keeps its connection and goes on waiting for its answer
until the time-out, but gives back its place among the `max_in_flight` and in the engine's claim
budget, so outlets that answer slowly do not hold up those that answer at once.

Outcomes follow the spec's advice: 2xx delivered; 3xx failed (the URL should be updated);
410 Gone disables the endpoint; 408, 429 and 5xx are retried, after ``Retry-After`` when given;
other 4xx failed; timeouts and connection errors retried.
"""

from __future__ import annotations

import asyncio
import base64
import json
import resource
import time
from datetime import UTC
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote

from warta import formats
from warta.config import Settings
from warta.delivery import http1, signing
from warta.delivery.base import Channel, EndpointView, Job, RecipientView, Result, register
from warta.delivery.http1 import Origin
from warta.delivery.ledger import LostClaim
from warta.delivery.netguard import UnresolvedHost, UnsafeTarget, check_url, target
from warta.i18n.dates import iso
from warta.model.states import DeliveryState

USER_AGENT = "Warta-Webhooks/1"
RESPONSE_PEEK = 4096  # bytes of a response body kept for the error message
RETRY_STATUSES = frozenset({408, 429})


def envelope(event: formats.Event, document: bytes) -> bytes:
    """The Standard Webhooks payload structure around a JSON document: the event's type and time,
    the document as ``data`` (compact JSON, as the document itself is)."""
    when = iso(event.at) if event.at else None
    head = json.dumps({"type": event.type, "timestamp": when}, ensure_ascii=False, separators=(",", ":"))
    return head[:-1].encode("utf-8") + b',"data":' + document + b"}"


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def payload(job: Job) -> tuple[bytes, str, str]:
    """The body, content type and event type for one job, made once per edition and kept in its
    rendering's cache. The endpoint's format (ninjs when it names none) renders the document; a
    JSON one travels as the ``data`` of a Standard Webhooks envelope, any other is the body."""
    rendered = job.bundle
    withdrawal = job.kind == "withdrawal"
    note = str(job.extra.get("note") or "") if withdrawal else ""
    name = job.endpoint.format or "ninjs"
    key = f"webhook:{name}:{'withdrawal' if withdrawal else 'edition'}:{note}"
    cached = rendered.cache.get(key)
    if cached is None:
        try:
            fmt = formats.get(name)
        except formats.UnknownFormat:
            raise ValueError(f"unknown webhook format {name!r}") from None
        if not fmt.for_webhooks:
            raise ValueError(f"{name} is not a webhook format")
        event = formats.event_for(rendered, job.kind, note if withdrawal else None)
        body = fmt.render(rendered, event)
        if _is_json(fmt.media_type):
            body = envelope(event, body)
        cached = rendered.cache[key] = (body, fmt.media_type, event.type)
    body, content_type, event_type = cached
    return body, content_type, event_type


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _snippet(data: bytes) -> str:
    text = " ".join(data[:200].decode("utf-8", "replace").split())
    return f": {text}" if text else ""


# characters left as they are in a request target; anything else (spaces, non-ASCII) is
# percent-encoded, and a "%" already followed by two hex digits is kept
_TARGET_SAFE = "/?:@!$&'()*+,;=-._~%"


def request_target(url: str, addresses: list[str]) -> tuple[Origin, str, list[tuple[str, str]]]:
    """Where to connect, the request target and any headers the URL itself implies.

    The connection goes to the first address the check saw, for plain HTTP and TLS alike, so a
    name cannot resolve to one address for the check and another for the request; the name is
    kept for the Host header and, over TLS, for the certificate check.
    """
    parts, host, port = target(url)
    try:
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise UnsafeTarget(f"webhook URL host {host!r} is not a valid name") from None
    if not addresses:
        raise UnsafeTarget(f"webhook URL host {host} has no address")
    origin = Origin(parts.scheme.lower(), addresses[0], port, ascii_host.lower())
    path = quote(parts.path or "/", safe=_TARGET_SAFE)
    if parts.query:
        path += "?" + quote(parts.query, safe=_TARGET_SAFE)
    extra: list[tuple[str, str]] = []
    if parts.username is not None:
        userinfo = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        extra.append(("authorization", "Basic " + base64.b64encode(userinfo).decode("ascii")))
    return origin, path, extra


async def checked_target(
    url: str, settings: Settings, what: str
) -> tuple[Origin, str, list[tuple[str, str]]] | Result:
    """The URL's host resolved and checked (netguard), as `request_target` gives it, or the
    outcome to record when it cannot be used; `what` names the host in that outcome."""
    timeout = settings.webhook_timeout
    try:
        async with asyncio.timeout(timeout):
            addresses = await check_url(url, settings.webhook_allow)
        return request_target(url, addresses)
    except UnresolvedHost as exc:
        return Result("retry", str(exc))
    except UnsafeTarget as exc:
        return Result("failed", str(exc))
    except TimeoutError:
        return Result("retry", f"resolving the {what} host timed out after {timeout:g} s")


@register
class WebhookChannel(Channel):
    name = "webhook"
    batch_size = 1
    # a lane per endpoint: a slow endpoint holds up only its own deliveries
    lane_concurrency = 2
    # the webhook-id lets a receiver drop a copy it already has, so resending is safe
    recover_committing = DeliveryState.PENDING
    max_in_flight = 512  # requests at once over all endpoints, not counting parked ones
    # a request unanswered this long is parked: it goes on waiting for its answer, but no longer
    # counts against `max_in_flight` nor the claim budget, so slow outlets do not hold up others
    park_after = 0.25
    max_parked = 4_096  # at most, and at most a quarter of the open files this process may have
    # claimed ahead of sending: twice what can be in flight; a bigger claim only delays the first
    max_queued = 1_024
    per_host_connections = 8  # polite to small receivers: many outlets can share one host

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client: http1.Client | None = None
        self._slots: asyncio.Semaphore | None = None
        self._park_limit = 0

    def accepts(self, recipient: RecipientView, endpoint: EndpointView) -> bool:
        return bool(endpoint.address)

    def lane(self, endpoint: EndpointView) -> str:
        return f"webhook:{endpoint.address or 'invalid'}"

    def breaker_key(self, job: Job) -> str | None:
        return job.endpoint.address or job.lane

    async def start(self) -> None:
        self._slots = asyncio.Semaphore(self.max_in_flight)
        self.parked = 0
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        self._park_limit = (
            self.max_parked if soft == resource.RLIM_INFINITY else min(self.max_parked, soft // 4)
        )
        if self.client is None:
            # one small pool per host (an address, port and name): many outlets can share one
            self.client = http1.Client(
                per_origin=self.per_host_connections, keepalive=30.0, peek=RESPONSE_PEEK
            )

    async def stop(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            await client.aclose()

    async def send(self, jobs: list[Job]) -> list[Result]:
        if self._slots is None or self.client is None:
            await self.start()
        assert self._slots is not None
        return [await self._in_slot(job, self._slots) for job in jobs]

    async def _in_slot(self, job: Job, slots: asyncio.Semaphore) -> Result:
        """Send one job within a slot of `max_in_flight`, given back early if the job is parked."""
        await slots.acquire()
        parked = False

        def park() -> None:
            nonlocal parked
            if self.parked < self._park_limit:
                parked = True
                self.parked += 1
                slots.release()

        timer = asyncio.get_running_loop().call_later(self.park_after, park)
        try:
            return await self._send_one(job)
        finally:
            timer.cancel()
            if parked:
                self.parked -= 1
            else:
                slots.release()

    async def _send_one(self, job: Job) -> Result:
        url, secret = job.endpoint.address, job.endpoint.secret
        if not url:
            return Result("failed", "the endpoint has no webhook URL")
        if not secret:
            return Result("failed", "the endpoint has no webhook secret")
        checked = await checked_target(url, self.settings, "webhook")
        if isinstance(checked, Result):
            return checked
        origin, path, extra_headers = checked
        try:
            body, content_type, event_type = payload(job)
        except ValueError as exc:
            return Result("failed", f"cannot render the payload: {exc}")
        try:
            headers = [
                *extra_headers,
                ("content-type", content_type),
                ("user-agent", USER_AGENT),
                ("x-warta-event", event_type),
                *signing.headers(secret, job.delivery_id, body).items(),
            ]
        except ValueError as exc:
            return Result("failed", f"webhook secret unusable: {exc}")
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
        return self._outcome(response)

    @staticmethod
    def _outcome(response: http1.Response) -> Result:
        """The status decides; a body that broke off or dawdled (the answer came within the
        time-out only in part) changes nothing."""
        status = response.status
        if 200 <= status < 300:
            return Result.ok()
        if 300 <= status < 400:
            location = response.headers.get("location", "(none)")
            return Result("failed", f"redirect not followed: Location {location} (HTTP {status})")
        reason = f"HTTP {status} {response.reason}".rstrip() + _snippet(response.body)
        if status == 410:
            return Result("disable", reason)
        if status in RETRY_STATUSES or status >= 500:
            return Result("retry", reason, retry_after(response.headers.get("retry-after")))
        return Result("failed", reason)
