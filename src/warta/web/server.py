"""Serving the ASGI apps with uvicorn, with additions for the live stream and for slow clients.

A stream connection spends its life waiting for events; when one comes it has to reach every
open connection fast. Going through the ASGI `send` for each connection wakes a task and walks
uvicorn's response machinery per delivery. So the HTTP protocol here also hands the connection's
transport to the app (scope extension ``warta.transport``): once an event stream's chunked
response has started, the stream hub writes each event to the transports directly, encoded once.
Every other response goes through ASGI as usual.

uvicorn closes a connection idle between requests, but not one that trickles a request's headers
or body a byte at a time, or opens and sends nothing (slowloris): each holds a socket and a
protocol object for as long as the client likes. The protocol here gives the headers and the body
a deadline of their own (`WARTA_HEADER_TIMEOUT`, `WARTA_BODY_TIMEOUT`); a response, however long
(an event stream), has none.

The access log names every request's path and query, and some of them are capabilities: stream
tokens (`?token=`), private feed paths, signed report and unsubscribe links. `RedactTokens` blanks
them before a log line is written.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
from typing import Any

from warta.web.stream import TRANSPORT

REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


def http_protocol(header_timeout: float = 10.0, body_timeout: float = 30.0) -> Any:
    """uvicorn's httptools protocol with the transport in the scope and deadlines for a request's
    headers and body; "auto" without httptools."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - uvicorn[standard] brings httptools
        return "auto"

    class Protocol(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None
        _waiting_for = ""  # "headers" or "body" while a deadline runs

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            # a connection that sends nothing at all is waiting for its first request's headers
            self._arm(header_timeout, "headers")

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._deadline is None:
                self._arm(header_timeout, "headers")

        def on_headers_complete(self) -> None:
            extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
            extensions[TRANSPORT] = self.transport
            self._arm(body_timeout, "body")
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            # The next request on this connection has its own deadline; meanwhile uvicorn's
            # keep-alive timer closes it if it stays idle. A body still coming after the answer
            # (a 401 sent before it was read) keeps its deadline: each byte of it would otherwise
            # put off the keep-alive timer for ever.
            if self._waiting_for != "body":
                self._disarm()

        def _arm(self, seconds: float, what: str) -> None:
            self._disarm()
            if seconds > 0:
                self._deadline = self.loop.call_later(seconds, self._too_slow)
                self._waiting_for = what

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            self._waiting_for = ""

        def _too_slow(self) -> None:
            waiting_for, self._deadline, self._waiting_for = self._waiting_for, None, ""
            if self.transport.is_closing():
                return
            if waiting_for == "headers":  # no request under way: say why before closing
                self.transport.write(REQUEST_TIMEOUT)
            self.transport.close()

    return Protocol


# capabilities in a path: /feeds/private/<token>.xml (the extension kept), and the signed links
# /reports/<token> and /unsubscribe/<token> (whose tokens have dots of their own)
_FEED_TOKEN = re.compile(r"(/feeds/private/)[^/?\s]*?(\.[a-z]+)?(?=[?\s]|$)")
_SIGNED_TOKEN = re.compile(r"(/reports/|/unsubscribe/)[^/?\s]+")
_QUERY_TOKEN = re.compile(r"([?&]token=)[^&\s]*", re.IGNORECASE)


def redact(target: str) -> str:
    """A request target with its capability tokens blanked."""
    target = _FEED_TOKEN.sub(r"\1[redacted]\2", target)
    target = _SIGNED_TOKEN.sub(r"\1[redacted]", target)
    return _QUERY_TOKEN.sub(r"\1[redacted]", target)


class RedactTokens(logging.Filter):
    """Blanks capability tokens in uvicorn's access log lines (their third argument is the target)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging set-up with the access log's lines redacted."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_tokens"] = {"()": RedactTokens}
    config["handlers"]["access"].setdefault("filters", []).append("redact_tokens")
    return config


def run(app: Any, **options: Any) -> None:
    import uvicorn

    settings = getattr(getattr(app, "state", None), "settings", None)
    if settings is not None:
        options.setdefault("timeout_keep_alive", settings.idle_timeout)
        protocol = http_protocol(settings.header_timeout, settings.body_timeout)
    else:
        protocol = http_protocol()
    options.setdefault("log_config", log_config())
    uvicorn.run(app, http=protocol, **options)
