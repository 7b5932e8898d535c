"""The live stream for desktop recipients (Server-Sent Events) and the /desk page that reads it.

`app.state.stream_hub` is the hub the stream channel publishes to; `app.state.stream_auth` maps
a stream token to its active recipient (or None). A plain function runs in the thread pool (it may
query the database); a coroutine function is awaited on the event loop.
"""

from __future__ import annotations

import asyncio
import inspect
import json

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.background import BackgroundTask
from starlette.types import ASGIApp, Receive, Scope, Send

from warta.delivery.base import RecipientView
from warta.delivery.stream import Connection, StreamHub
from warta.web.errors import error_body
from warta.web.pages import render

router = APIRouter()
RETRY_MS = 3000
TRANSPORT = "warta.transport"  # the scope extension `warta.web.server` puts the connection's transport in


class EventStream(Response):
    """A `text/event-stream` response fed by one hub connection.

    Each wake-up of the writer sends whatever frames are buffered as one body chunk; frames are
    bytes already, so nothing is encoded here. The connection is opened when the response starts
    and closed when the client goes away, the hub drops it, or the server shuts down.
    """

    media_type = "text/event-stream"

    def __init__(self, hub: StreamHub, recipient: RecipientView, last_event_id: str | None) -> None:
        self.hub = hub
        self.recipient = recipient
        self.last_event_id = last_event_id
        self.status_code = 200
        self.background: BackgroundTask | None = None
        self.init_headers(
            {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Content-Type": "text/event-stream"}
        )

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


def _unauthorised(message: str) -> JSONResponse:
    return JSONResponse(
        error_body(401, "unauthorised", message),
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="stream"'},
    )


async def open_stream(request: Request, token: str | None, last_event_id: str | None) -> Response:
    """Authenticate a stream request and answer with its event stream, or a 401."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        token = credentials.strip()
    if not token:
        return _unauthorised("a stream token is required (Authorization: Bearer or ?token=)")
    hub: StreamHub | None = getattr(request.app.state, "stream_hub", None)
    if hub is None:
        return JSONResponse(error_body(503, "unavailable", "the live stream is not running"), status_code=503)
    auth = request.app.state.stream_auth
    found = await auth(token) if inspect.iscoroutinefunction(auth) else await run_in_threadpool(auth, token)
    recipient: RecipientView | None = found
    if recipient is None:
        return _unauthorised("unknown or inactive stream token")
    return EventStream(hub, recipient, request.headers.get("last-event-id") or last_event_id)


@router.get("/api/v1/stream", response_model=None, tags=["api"])
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

    def __init__(self, app: ASGIApp, path: str = "/api/v1/stream") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        query = request.query_params
        response = await open_stream(request, query.get("token"), query.get("last_event_id"))
        await response(scope, receive, send)


@router.get("/desk", response_class=HTMLResponse, include_in_schema=False)
def desk(request: Request) -> HTMLResponse:
    """The live desk: releases as they reach this desktop's stream (token in `?token=`)."""
    return render(request, "desk.html", "en")
