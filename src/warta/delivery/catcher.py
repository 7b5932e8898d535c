"""A mail catcher for a wire with no relay yet, and the outbox that keeps what it caught.

`warta serve --demo` with no `WARTA_SMTP_URL` points the email channel at an SMTP server of its
own on a free loopback port (aiosmtpd, in a thread of its own so that a busy event loop never
delays the sender's replies) and keeps each message it accepts in a Maildir under the data
folder, `outbox/mail/`. The demo's outlets post their webhooks to the wire itself, and those land
in `outbox/webhooks/`. The `/outbox` page reads both through :class:`Outbox`, so a newcomer sees
what the journalists and outlets were sent without a mail server or a receiver of their own.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import mailbox
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP

OUTBOX_DIR = "outbox"
SHOWN = 200  # the outbox page lists the latest this many of each kind
_KEY = re.compile(r"^[A-Za-z0-9._,:=-]{1,200}$")


@dataclass(frozen=True)
class MailSummary:
    key: str
    to: str
    subject: str
    date: str
    lang: str


@dataclass(frozen=True)
class MailView:
    key: str
    headers: list[tuple[str, str]]
    subject: str
    lang: str
    html: str | None
    text: str | None
    unsubscribe: str | None  # the one-click (RFC 8058) target, when the message offers one


@dataclass(frozen=True)
class CaughtWebhook:
    key: str
    name: str
    received: str
    headers: list[tuple[str, str]]
    body: str


class Outbox:
    """What the catcher kept: emails in a Maildir, webhooks as one JSON file each."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = data_dir / OUTBOX_DIR
        self.webhook_dir = self.folder / "webhooks"
        self._mail: mailbox.Maildir | None = None

    @property
    def maildir(self) -> mailbox.Maildir:
        if self._mail is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._mail = mailbox.Maildir(self.folder / "mail", create=True)
        return self._mail

    # --- email ---------------------------------------------------------------------------------

    def keep_mail(self, raw: bytes) -> str:
        return str(self.maildir.add(raw))

    def messages(self, limit: int = SHOWN) -> list[MailSummary]:
        """The latest messages first."""
        box = self.maildir
        box.clean()
        newest = sorted(box.keys(), key=_received, reverse=True)[:limit]
        out = []
        for key in newest:
            msg = _parse(box.get_bytes(key))
            out.append(
                MailSummary(
                    key=key,
                    to=str(msg.get("To", "")),
                    subject=str(msg.get("Subject", "")),
                    date=_date(msg),
                    lang=str(msg.get("Content-Language", "")),
                )
            )
        return out

    def message(self, key: str) -> MailView | None:
        if not _KEY.match(key):
            return None
        try:
            raw = self.maildir.get_bytes(key)
        except KeyError:
            return None
        msg = _parse(raw)
        html = msg.get_body(preferencelist=("html",))
        text = msg.get_body(preferencelist=("plain",))
        link = re.search(r"<(https?://[^>]+)>", str(msg.get("List-Unsubscribe", "")))
        one_click = "one-click" in str(msg.get("List-Unsubscribe-Post", "")).lower()
        return MailView(
            key=key,
            headers=[(name, str(value)) for name, value in msg.items()],
            subject=str(msg.get("Subject", "")),
            lang=str(msg.get("Content-Language", "")),
            html=_content(html),
            text=_content(text),
            unsubscribe=link.group(1) if link and one_click else None,
        )

    # --- webhooks ------------------------------------------------------------------------------

    def keep_webhook(self, name: str, headers: list[tuple[str, str]], body: bytes) -> str:
        self.webhook_dir.mkdir(parents=True, exist_ok=True)
        key = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}"
        record = {
            "name": name,
            "received": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "headers": headers,
            "body": body.decode("utf-8", "replace"),
        }
        path = self.webhook_dir / f"{key}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        tmp.rename(path)  # whole or not at all, for a page reading at the same moment
        return key

    def webhooks(self, limit: int = SHOWN) -> list[CaughtWebhook]:
        if not self.webhook_dir.is_dir():
            return []
        paths = sorted(self.webhook_dir.glob("*.json"), reverse=True)[:limit]
        out = []
        for path in paths:
            record = json.loads(path.read_text(encoding="utf-8"))
            out.append(
                CaughtWebhook(
                    key=path.stem,
                    name=record["name"],
                    received=record["received"],
                    headers=[(str(k), str(v)) for k, v in record["headers"]],
                    body=_pretty(record["body"]),
                )
            )
        return out


def _parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


_MAILDIR_NAME = re.compile(r"^(\d+)\.M(\d+)P(\d+)Q(\d+)")


def _received(key: str) -> tuple[int, ...]:
    """When a message was kept, from its Maildir name (seconds, microseconds, process, counter),
    without opening the file."""
    match = _MAILDIR_NAME.match(key)
    return tuple(int(part) for part in match.groups()) if match else (0,)


def _date(msg: EmailMessage) -> str:
    raw = msg.get("Date")
    if not raw:
        return ""
    try:
        return parsedate_to_datetime(str(raw)).strftime("%Y-%m-%d %H:%M:%S %z")
    except (TypeError, ValueError):
        return str(raw)


def _content(part: Any) -> str | None:
    if part is None:
        return None
    try:
        return str(part.get_content())
    except (LookupError, ValueError):
        return str(part.get_payload(decode=True).decode("utf-8", "replace"))


def _pretty(body: str) -> str:
    try:
        return json.dumps(json.loads(body), ensure_ascii=False, indent=2)
    except ValueError:
        return body


class _Keeper:
    """aiosmtpd's handler: every message it is given goes into the outbox."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        # aiosmtpd reads pipelined commands in order; saying so lets the wire pipeline, as to a relay
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.outbox.keep_mail(envelope.original_content or envelope.content)
        return "250 Message kept in the outbox"


class MailCatcher:
    """An SMTP server on 127.0.0.1 that keeps every message in an :class:`Outbox`.

    Its socket is bound when it is made, so its port is known (and the email channel can be pointed
    at it) before anything is sent; it serves from a thread of its own until :meth:`stop`."""

    def __init__(self, outbox: Outbox, host: str = "127.0.0.1") -> None:
        self.outbox = outbox
        self.host = host
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self._sock.listen(64)
        self.port: int = self._sock.getsockname()[1]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def smtp_url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def start(self) -> None:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="mail-catcher", daemon=True)
        self._thread.start()
        ready.wait(10)

    def _serve(self, ready: threading.Event) -> None:
        loop = self._loop = asyncio.new_event_loop()
        handler = _Keeper(self.outbox)
        server = loop.run_until_complete(
            loop.create_server(
                lambda: SMTP(handler, hostname="warta-outbox", enable_SMTPUTF8=True, data_size_limit=None),
                sock=self._sock,
            )
        )
        ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            loop.run_until_complete(server.wait_closed())
            loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        self._sock.close()
