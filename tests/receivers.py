"""Real receivers on 127.0.0.1 for distribution tests: an SMTP server, webhook endpoints, SSE clients, and
a scripted asyncio HTTP/1.1 server for the tests of the HTTP client and the webhook channel."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import ssl
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from aiosmtpd.controller import Controller

from conftest import free_port
from warta.delivery.http1 import Origin


@dataclass
class Mail:
    at: float
    rcpt: list[str]
    message: email.message.EmailMessage

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        # real relays (Postfix, Exim) offer PIPELINING, so Warta pipelines its commands here too;
        # aiosmtpd reads pipelined commands in order without saying so
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]  # the last is "250 HELP"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.sink.lock:
            self.sink.mails.append(Mail(time.time(), list(envelope.rcpt_tos), msg))
        return "250 Message accepted"


class SmtpSink:
    """aiosmtpd on a free port, keeping every message it accepts."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.mails: list[Mail] = []
        self.lock = threading.Lock()
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def snapshot(self) -> list[Mail]:
        with self.lock:
            return list(self.mails)

    def duplicates(self) -> dict[str, int]:
        counts = Counter(m.message_id for m in self.snapshot())
        return {k: v for k, v in counts.items() if v > 1}


@dataclass
class Hit:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class WebhookReceiver:
    """An HTTP server recording every request; it can fail the first N attempts of each webhook-id."""

    fail_first: int = 0
    fail_status: int = 503
    slow_first: int = 0  # the first N attempts of each webhook-id get no answer for `slow_seconds`
    slow_seconds: float = 0.0
    port: int = field(default_factory=free_port)
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    seen = sum(
                        1 for h in receiver.hits if h.headers.get("webhook-id") == headers.get("webhook-id")
                    )
                    status = receiver.fail_status if seen < receiver.fail_first else 200
                    slow = seen < receiver.slow_first
                    receiver.hits.append(Hit(time.time(), self.path, headers, body, 0 if slow else status))
                if slow:
                    time.sleep(receiver.slow_seconds)  # the sender has given up by now
                payload = b'{"ok": true}' if status == 200 else b'{"error": "try later"}'
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the stdlib's listen backlog of 5 resets bursts of connections

        self.server = Server(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def snapshot(self) -> list[Hit]:
        with self.lock:
            return list(self.hits)


class SseClient:
    """A desktop: reads /api/v1/stream in a thread and keeps each event with its arrival time."""

    def __init__(self, base_url: str, token: str, last_event_id: str | None = None) -> None:
        self.url = f"{base_url}/api/v1/stream"
        self.token = token
        self.resume_from = last_event_id
        self.last_id: str | None = None
        self.events: list[tuple[float, str, dict[str, Any]]] = []
        self.connected = threading.Event()
        # why the stream ended when it was not stopped (the server went away, a refused token)
        self.error: BaseException | None = None
        self._stop = False
        self._client: httpx.Client | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> SseClient:
        self.thread.start()
        assert self.connected.wait(10), f"stream did not connect: {self.error!r}"
        return self

    def stop(self) -> None:
        """Close the stream and wait for the reading thread to end."""
        self._stop = True
        client = self._client
        if client is not None:
            client.close()  # the blocked read returns at once rather than at the next heartbeat
        self.thread.join(10)

    def _run(self) -> None:
        try:
            self._read()
        except Exception as exc:  # a stream that breaks ends the reader, not the test run
            if not self._stop:
                self.error = exc

    def _read(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.resume_from:
            headers["Last-Event-ID"] = self.resume_from
        with httpx.Client(timeout=httpx.Timeout(5, read=None)) as client:
            self._client = client
            if self._stop:
                return
            with client.stream("GET", self.url, headers=headers) as resp:
                self._read_events(resp)

    def _read_events(self, resp: httpx.Response) -> None:
        resp.raise_for_status()
        event, data = "message", []
        for line in resp.iter_lines():
            if self._stop:
                return
            if line.startswith("id:"):
                self.last_id = line[3:].strip()
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "":
                if data:
                    if event == "hello":
                        self.connected.set()
                    else:
                        self.events.append((time.time(), event, json.loads("\n".join(data))))
                event, data = "message", []

    def of(self, name: str) -> list[dict[str, Any]]:
        return [d for _, e, d in self.events if e == name]


# --- a scripted asyncio HTTP/1.1 server -------------------------------------------------------------


@dataclass
class Request:
    """One request as the scripted server read it: the connection (1, 2, ...), the head and the body."""

    conn: int
    head: str
    body: bytes

    @property
    def method(self) -> str:
        return self.head.split(" ", 1)[0]

    @property
    def path(self) -> str:
        return self.head.split(" ", 2)[1]

    @property
    def headers(self) -> dict[str, str]:
        """The header fields by lower-cased name (a repeated field keeps its last value)."""
        fields = (line.partition(":") for line in self.head.split("\r\n")[1:] if line)
        return {name.strip().lower(): value.strip() for name, _, value in fields}


HANG = "hang"  # after writing the answer, keep the connection open and say nothing more
# what the server does with a request: the bytes to write, then close the connection (True), keep it
# alive for the next request (False) or HANG
Script = Callable[[Request, "ScriptedServer"], Awaitable[tuple[bytes, bool | str]]]


@dataclass
class ScriptedServer:
    """A raw HTTP/1.1 server on 127.0.0.1 (keep-alive, Content-Length bodies, TLS if given) in the test's
    own event loop, answering each request with what its script says and counting connections."""

    script: Script
    tls: ssl.SSLContext | None = None
    requests: list[Request] = field(default_factory=list)
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    closed_by_client: int = 0
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def origin(self, host: str = "127.0.0.1") -> Origin:
        return Origin("https" if self.tls else "http", "127.0.0.1", self.port, host)

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        number = self.connections
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while True:
                try:
                    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                except asyncio.IncompleteReadError as exc:
                    if not exc.partial:
                        self.closed_by_client += 1
                    return
                request = Request(number, head, b"")
                request.body = await reader.readexactly(int(request.headers.get("content-length", "0")))
                self.requests.append(request)
                data, then = await self.script(request, self)
                writer.write(data)
                await writer.drain()
                if then == HANG:
                    await asyncio.Event().wait()
                if then:
                    return
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self.open_now -= 1
            self._tasks.discard(task)
            writer.close()
