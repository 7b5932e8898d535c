"""The webhook channel: each edition POSTed to the recipient's endpoint, signed per Standard Webhooks.

The body is the edition's ninjs (compact JSON, UTF-8) or, when the recipient chose it, its
NewsML-G2 item; a withdrawal sends the same document with the publishing status ``canceled``.
Every attempt of a delivery carries the same ``webhook-id`` (the ledger row), so a receiver can
drop a copy it already has, and a fresh ``webhook-timestamp`` and signature.

Before every attempt the endpoint's address is checked again (`warta.delivery.netguard`): only
public addresses, unless ``WARTA_WEBHOOK_ALLOW`` allows more. A plain-HTTP request goes to the
address that was checked, so a name cannot resolve to one address for the check and another for
the request. Redirects are never followed.

Outcomes follow the spec's advice: 2xx delivered; 3xx failed (the URL should be updated);
410 Gone disables the endpoint; 408, 429 and 5xx are retried, after ``Retry-After`` when given;
other 4xx failed; timeouts and connection errors retried.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import ssl
import time
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from warta.config import Settings
from warta.delivery import signing
from warta.delivery.base import Bundle, Channel, Job, RecipientView, Result, register
from warta.delivery.ledger import LostClaim
from warta.delivery.netguard import UnresolvedHost, UnsafeTarget, check_url, target
from warta.formats.newsml import CONTENT_TYPE as NEWSML_TYPE
from warta.formats.newsml import edition_to_newsml

USER_AGENT = "Warta-Webhooks/1"
JSON_TYPE = "application/json"
RESPONSE_PEEK = 4096  # bytes of a response body kept for the error message
RETRY_STATUSES = frozenset({408, 429})


def encode_ninjs(item: dict[str, Any]) -> bytes:
    return json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def payload(job: Job) -> tuple[bytes, str]:
    """The body and content type for one job, rendered once per edition and shared in the bundle."""
    bundle: Bundle = job.bundle
    withdrawal = job.kind == "withdrawal"
    note = str(job.extra.get("note") or "") if withdrawal else ""
    fmt = "newsml" if job.recipient.webhook_format == "newsml" else "ninjs"
    key = f"webhook:{fmt}:{'withdrawal' if withdrawal else 'edition'}:{note}"
    cached = bundle.cache.get(key)
    if cached is None:
        if fmt == "newsml":
            cached = (edition_to_newsml(bundle, withdrawn=withdrawal), NEWSML_TYPE)
        else:
            item = bundle.ninjs
            if withdrawal:
                item = {**item, "pubStatus": "canceled"}
                if note:
                    item["edNote"] = note
            cached = (encode_ninjs(item), JSON_TYPE)
        bundle.cache[key] = cached
    body, content_type = cached
    return body, content_type


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


def _pinned(url: str, addresses: list[str]) -> tuple[str, dict[str, str]]:
    """For a plain-HTTP URL with a host name: the URL aimed at the checked address, and its Host.

    HTTPS keeps the name, since its certificate must match it (an address the check did not
    see could not present a valid certificate for the name).
    """
    parts, host, port = target(url)
    if parts.scheme.lower() != "http" or not addresses:
        return url, {}
    try:
        ipaddress.ip_address(host)
        return url, {}
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return url, {}
    address = addresses[0]
    userinfo = parts.netloc.rpartition("@")[0]
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{userinfo}@{literal}:{port}" if userinfo else f"{literal}:{port}"
    host_header = f"{ascii_host}:{parts.port}" if parts.port else ascii_host
    return parts._replace(netloc=netloc).geturl(), {"host": host_header}


@register
class WebhookChannel(Channel):
    name = "webhook"
    batch_size = 1
    # a lane per endpoint: a slow endpoint holds up only its own deliveries
    lane_concurrency = 2
    # the webhook-id lets a receiver drop a copy it already has, so resending is safe
    recover_committing = "pending"
    max_in_flight = 512  # requests at once over all endpoints
    per_host_connections = 8  # polite to small receivers: many outlets can share one host

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # one small connection pool per host: a single pool over thousands of hosts spends its time
        # scanning connections on every request
        self.clients: dict[str, httpx.AsyncClient] = {}
        self._slots: asyncio.Semaphore | None = None
        self._tls: ssl.SSLContext | None = None

    def applies_to(self, recipient: RecipientView) -> bool:
        return bool(recipient.webhook_url)

    def lane(self, recipient: RecipientView) -> str:
        return f"webhook:{recipient.webhook_url or 'invalid'}"

    @staticmethod
    def _host_key(url: str) -> str:
        try:
            _, host, port = target(url)
        except UnsafeTarget:
            return "invalid"
        return f"{host}:{port}"

    def breaker_key(self, job: Job) -> str | None:
        return job.recipient.webhook_url or job.lane

    def _new_client(self) -> httpx.AsyncClient:
        n = self.per_host_connections
        if self._tls is None:
            # one TLS context for every host: building one loads the CA bundle (tens of ms), which
            # per client stalled the event loop for seconds when a release first met 1,000 hosts
            self._tls = ssl.create_default_context()
        return httpx.AsyncClient(
            verify=self._tls,
            follow_redirects=False,
            timeout=httpx.Timeout(self.settings.webhook_timeout, pool=None),
            limits=httpx.Limits(max_connections=n, max_keepalive_connections=n, keepalive_expiry=30.0),
            trust_env=False,  # never through a proxy from the environment: it would bypass the address check
        )

    def _client(self, url: str) -> httpx.AsyncClient:
        key = self._host_key(url)
        client = self.clients.get(key)
        if client is None:
            client = self.clients[key] = self._new_client()
        return client

    async def start(self) -> None:
        self._slots = asyncio.Semaphore(self.max_in_flight)

    async def stop(self) -> None:
        clients, self.clients = list(self.clients.values()), {}
        for client in clients:
            await client.aclose()

    async def send(self, jobs: list[Job]) -> list[Result]:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_in_flight)
        results = []
        for job in jobs:
            async with self._slots:
                results.append(await self._send_one(job))
        return results

    async def _send_one(self, job: Job) -> Result:
        recipient = job.recipient
        url, secret = recipient.webhook_url, recipient.webhook_secret
        if not url:
            return Result("failed", "recipient has no webhook URL")
        if not secret:
            return Result("failed", "recipient has no webhook secret")
        timeout = self.settings.webhook_timeout
        try:
            async with asyncio.timeout(timeout):
                addresses = await check_url(url, self.settings.webhook_allow)
        except UnresolvedHost as exc:
            return Result("retry", str(exc))
        except UnsafeTarget as exc:
            return Result("failed", str(exc))
        except TimeoutError:
            return Result("retry", f"resolving the webhook host timed out after {timeout:g} s")
        try:
            body, content_type = payload(job)
        except ValueError as exc:
            return Result("failed", f"cannot render the payload: {exc}")
        request_url, extra_headers = _pinned(url, addresses)
        try:
            headers = {
                **extra_headers,
                "content-type": content_type,
                "user-agent": USER_AGENT,
                **signing.headers(secret, job.delivery_id, body),
            }
        except ValueError as exc:
            return Result("failed", f"webhook secret unusable: {exc}")
        try:
            await job.commit_point()
        except LostClaim as exc:  # another worker holds the row now: it sends it, not this one
            return Result("retry", f"claim lost: {exc}")
        client = self._client(url)
        try:
            async with asyncio.timeout(timeout * 2):
                request = client.build_request("POST", request_url, content=body, headers=headers)
                response = await client.send(request, stream=True)
        except httpx.PoolTimeout:
            return Result("retry", f"no free connection within {timeout:g} s (too many webhooks in flight)")
        except (TimeoutError, httpx.TimeoutException):
            return Result("retry", f"no answer within {timeout:g} s")
        except httpx.HTTPError as exc:
            return Result("retry", f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        try:
            peek = await _peek(response, timeout)
        finally:
            await response.aclose()
        return self._outcome(response, peek)

    @staticmethod
    def _outcome(response: httpx.Response, peek: bytes) -> Result:
        status = response.status_code
        if 200 <= status < 300:
            return Result.ok()
        if 300 <= status < 400:
            location = response.headers.get("location", "(none)")
            return Result("failed", f"redirect not followed: Location {location} (HTTP {status})")
        reason = f"HTTP {status} {response.reason_phrase}".rstrip() + _snippet(peek)
        if status == 410:
            return Result("disable", reason)
        if status in RETRY_STATUSES or status >= 500:
            return Result("retry", reason, retry_after(response.headers.get("retry-after")))
        return Result("failed", reason)


async def _peek(response: httpx.Response, timeout: float) -> bytes:
    """Up to `RESPONSE_PEEK` bytes of the body, for the error message; the rest is not read.

    The status has arrived by now and decides the outcome, so a body that breaks off or
    dawdles changes nothing.
    """
    data = b""
    try:
        async with asyncio.timeout(timeout):
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) >= RESPONSE_PEEK:
                    break
    except (TimeoutError, httpx.HTTPError):
        pass
    return data[:RESPONSE_PEEK]
