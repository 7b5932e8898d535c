"""Real receivers on 127.0.0.1 for distribution tests: an SMTP server, webhook endpoints, SSE clients."""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from aiosmtpd.controller import Controller

from conftest import free_port


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
