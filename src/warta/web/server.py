"""Serving the ASGI apps with uvicorn, with one addition for the live stream.

A stream connection spends its life waiting for events; when one comes it has to reach every
open connection fast. Going through the ASGI `send` for each connection wakes a task and walks
uvicorn's response machinery per delivery. So the HTTP protocol here also hands the connection's
transport to the app (scope extension ``warta.transport``): once an event stream's chunked
response has started, the stream hub writes each event to the transports directly, encoded once.
Every other response goes through ASGI as usual.
"""

from __future__ import annotations

from typing import Any

from warta.web.stream import TRANSPORT


def http_protocol() -> Any:
    """uvicorn's httptools protocol that puts the transport in the scope, or "auto" without httptools."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - uvicorn[standard] brings httptools
        return "auto"

    class Protocol(HttpToolsProtocol):
        def on_headers_complete(self) -> None:
            extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
            extensions[TRANSPORT] = self.transport
            super().on_headers_complete()

    return Protocol


def run(app: Any, **options: Any) -> None:
    import uvicorn

    uvicorn.run(app, http=http_protocol(), **options)
