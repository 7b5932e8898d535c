"""The live stream for desktop recipients (Server-Sent Events) and the /desk page that reads it.

`app.state.stream_hub` is the hub the stream channel publishes to; `app.state.stream_auth` maps
a stream token to its active recipient (or None). A plain function runs in the thread pool (it may
query the database); a coroutine function is awaited on the event loop.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Sequence

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.background import BackgroundTask
from starlette.types import ASGIApp, Receive, Scope, Send

from warta.delivery.base import RecipientView
from warta.delivery.stream import Connection, StreamHub
from warta.web.errors import ApiError, error_body
from warta.web.middleware import Headers, headers_only
from warta.web.pages import render
from warta.web.schemas import ErrorOut

router = APIRouter()
RETRY_MS = 3000
TRANSPORT = "warta.transport"  # the scope extension `warta.web.server` puts the connection's transport in
# The /desk page's stream token travels in this cookie, not in a URL that access logs, browser
# history and Referer headers would keep: HttpOnly (no script reads it), sent only to the stream.
DESK_COOKIE = "warta_desk"
DESK_COOKIE_PATH = "/api/v1/stream"
DESK_COOKIE_AGE = 30 * 24 * 3600
DESK_MARK = "warta_desk_set"  # no secret: tells the /desk page that a token is kept


class EventStream(Response):
    """A `text/event-stream` response fed by one hub connection.

    Each wake-up of the writer sends whatever frames are buffered as one body chunk; frames are
    bytes already, so nothing is encoded here. The connection is opened when the response starts
    and closed when the client goes away, the hub drops it, or the server shuts down.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        hub: StreamHub,
        recipient: RecipientView,
        last_event_id: str | None,
        extra: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        self.hub = hub
        self.recipient = recipient
        self.last_event_id = last_event_id
        self.status_code = 200
        self.background: BackgroundTask | None = None
        self.raw_headers = STREAM_HEADERS + list(extra)

    async def head(self, send: Send) -> None:
        """What a HEAD request gets: the stream's headers, no connection to the hub."""
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def hello(self) -> bytes:
        data = json.dumps({"recipient": self.recipient.name}, ensure_ascii=False, separators=(",", ":"))
        return f"retry: {RETRY_MS}\nevent: hello\ndata: {data}\n\n".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        conn = self.hub.connect(self.recipient.id, self.last_event_id)
        watcher = asyncio.ensure_future(self._watch(receive, conn))
        try:
            await send(
                {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            )
            await send({"type": "http.response.body", "body": self.hello() + conn.take(), "more_body": True})
            transport = scope.get("extensions", {}).get(TRANSPORT)
            if transport is not None and scope.get("http_version", "1.1") == "1.1":
                # the response is chunked now: the hub writes events to the transport itself
                conn.attach(transport)
            # Frames are written from a task of their own: waking a task resumes every coroutine
            # frame it is suspended in, and this one sits on a short stack rather than below the
            # whole middleware and routing chain, which would cost microseconds per delivery.
            await asyncio.ensure_future(self._pump(conn, send))
            if not watcher.done():
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()
            self.hub.disconnect(conn)

    @staticmethod
    async def _pump(conn: Connection, send: Send) -> None:
        while (data := await conn.next()) is not None:
            await send({"type": "http.response.body", "body": data, "more_body": True})

    async def _watch(self, receive: Receive, conn: Connection) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.hub.disconnect(conn)


STREAM_HEADERS: Headers = [
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
    (b"content-type", b"text/event-stream"),
]


def _unauthorised(message: str) -> JSONResponse:
    return JSONResponse(
        error_body(401, "unauthorised", message),
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="stream"'},
    )


async def open_stream(
    request: Request, token: str | None, last_event_id: str | None, extra: Sequence[tuple[bytes, bytes]] = ()
) -> Response:
    """Authenticate a stream request and answer with its event stream, a 401, or a 429 when the
    token already holds as many connections as it may."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        token = credentials.strip()
    token = token or request.cookies.get(DESK_COOKIE)
    if not token:
        return _unauthorised(
            "a stream token is required (Authorization: Bearer, ?token= or the desk's cookie)"
        )
    hub: StreamHub | None = getattr(request.app.state, "stream_hub", None)
    if hub is None:
        return JSONResponse(error_body(503, "unavailable", "the live stream is not running"), status_code=503)
    auth = request.app.state.stream_auth
    found = await auth(token) if inspect.iscoroutinefunction(auth) else await run_in_threadpool(auth, token)
    recipient: RecipientView | None = found
    if recipient is None:
        return _unauthorised("unknown or inactive stream token")
    cap = request.app.state.settings.stream_per_token
    if hub.connected(recipient.id) >= cap:
        return JSONResponse(
            error_body(429, "too_many_connections", f"this stream token already holds {cap} connections"),
            status_code=429,
            headers={"Retry-After": str(RETRY_MS // 1000)},
        )
    return EventStream(hub, recipient, request.headers.get("last-event-id") or last_event_id, extra)


@router.get(
    "/api/v1/stream",
    response_model=None,
    tags=["api"],
    responses={
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}, "description": "events"},
        401: {"model": ErrorOut, "description": "no stream token, or an unknown or inactive one"},
        429: {"model": ErrorOut, "description": "the token holds as many connections as it may"},
        422: {"model": ErrorOut, "description": "a query parameter that is not valid"},
        503: {"model": ErrorOut, "description": "the live stream is not running here"},
    },
)
async def stream(
    request: Request,
    token: str | None = Query(None, description="the stream token, for clients that cannot set headers"),
    last_event_id: str | None = Query(None, description="resume after this event id"),
) -> Response:
    """Live releases for a desktop recipient, as Server-Sent Events.

    Authenticate with `Authorization: Bearer <stream token>` or `?token=`. Events: `hello`,
    `release` and `withdrawal` (JSON data), `reset` when a resume point is older than the replay
    buffer. Reconnect with `Last-Event-ID` (or `?last_event_id=`) to receive what was missed.
    """
    return await open_stream(request, token, last_event_id)


class StreamShortcut:
    """ASGI middleware that answers `GET /api/v1/stream` before routing.

    `warta serve` and `warta gateway` add it as the outermost middleware; the router's endpoint
    serves the same stream without it. A connection lives for hours, suspended in every coroutine
    between the server and the response: here that is this wrapper and the response, not the
    whole middleware, routing, dependency and exception-handling chain (fewer objects per
    connection for the garbage collector to walk, and a quicker connect).
    """

    def __init__(
        self, app: ASGIApp, headers: Sequence[tuple[bytes, bytes]] = (), path: str = "/api/v1/stream"
    ) -> None:
        self.app = app
        self.path = path
        self.headers = list(headers)  # the security headers, encoded once for every connection

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        query = request.query_params
        response = await open_stream(request, query.get("token"), query.get("last_event_id"), self.headers)
        if scope["method"] == "HEAD":
            if isinstance(response, EventStream):
                await response.head(send)
                return
            send = headers_only(send)
        if not isinstance(response, EventStream):
            response.raw_headers.extend(self.headers)
        await response(scope, receive, send)


@router.get("/desk", response_class=HTMLResponse, include_in_schema=False)
def desk(request: Request) -> HTMLResponse:
    """The live desk: releases as they reach this desktop's stream. The stream token is given once
    (the form, or a `?token=` link the page trades for the cookie at once) and kept in a cookie."""
    return render(request, "desk.html", "en", has_token=request.cookies.get(DESK_MARK) == "1")


@router.post("/desk/session", include_in_schema=False)
def desk_session(request: Request, token: str = Form(..., max_length=200)) -> Response:
    """Keep a desk's stream token in an HttpOnly cookie sent only to the stream, and go to the desk.
    Whether the token is valid the stream says when the desk connects."""
    token = token.strip()
    if not token:
        raise ApiError(422, "invalid_field", "token: is required", "token")
    base_url: str = request.app.state.settings.base_url
    origin = request.headers.get("origin")
    if origin and origin.rstrip("/") != _origin(base_url):
        # another site's form must not plant its token in this browser's desk
        raise ApiError(403, "forbidden", "a desk's token is given on the desk page itself")
    secure = base_url.lower().startswith("https://")
    response = RedirectResponse("/desk", status_code=303, headers={"Cache-Control": "no-store"})
    for name, value, path in ((DESK_COOKIE, token, DESK_COOKIE_PATH), (DESK_MARK, "1", "/desk")):
        response.set_cookie(
            name, value, max_age=DESK_COOKIE_AGE, path=path, secure=secure, httponly=True, samesite="strict"
        )
    return response


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme.lower()}://{rest.split('/', 1)[0].lower()}"
