"""ASGI middleware every answer passes: security headers, and HEAD answered as GET without a body.

Both work on the ASGI messages rather than on Starlette responses, so they cost one look at the
response's header list and nothing per body chunk of a long response.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from warta.config import Settings

# Scripts only from the wire's own files (no inline script, no eval); styles may be inline (the
# report page's charts and Swagger UI set them); images also from issuers' http/https links.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: https: http:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=31536000"

Headers = list[tuple[bytes, bytes]]


def security_headers(settings: Settings) -> Headers:
    """The headers every page and API answer carries, encoded once."""
    headers = {
        "content-security-policy": CONTENT_SECURITY_POLICY,
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "referrer-policy": "strict-origin-when-cross-origin",
    }
    if settings.base_url.lower().startswith("https://"):
        # only where the wire is reached over TLS: over plain http the header would be ignored,
        # and a test or LAN deployment must not pin browsers to https
        headers["strict-transport-security"] = HSTS
    return [(name.encode(), value.encode()) for name, value in headers.items()]


class SecurityHeaders:
    """Adds the security headers to every http answer that does not set them itself."""

    def __init__(self, app: ASGIApp, headers: Headers) -> None:
        self.app = app
        self.headers = headers
        self.names = frozenset(name for name, _ in headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = with_security(list(message.get("headers", ())), self.headers, self.names)
            await send(message)

        await self.app(scope, receive, with_headers)


def with_security(headers: Headers, security: Headers, names: frozenset[bytes]) -> Headers:
    """`headers` with each security header it does not already carry."""
    present = {name.lower() for name, _ in headers} & names
    if present:
        return headers + [h for h in security if h[0] not in present]
    return headers + security


class HeadAsGet:
    """HEAD answers what GET would, without the body (RFC 9110 §9.3.2).

    The router serves HEAD as GET; the body is dropped here and its Content-Length kept, so a
    client learns the size, validators and type of what a GET would send. HEAD on a route without
    GET is answered like a GET there: 405, with the methods it has."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        await self.app({**scope, "method": "GET"}, receive, headers_only(send))


def headers_only(send: Send) -> Send:
    """A `send` that passes the response's start and ends the body at once."""
    ended = False

    async def head_send(message: Message) -> None:
        nonlocal ended
        if message["type"] == "http.response.start":
            await send(message)
        elif message["type"] == "http.response.body" and not ended:
            ended = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    return head_send
