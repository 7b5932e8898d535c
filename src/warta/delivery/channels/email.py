"""Email: one message per delivery, through a pool of persistent SMTP connections to one relay.

The relay is ``settings.smtp_url``: ``smtp://[user:pass@]host[:port]`` (STARTTLS when a relay that
is not on this machine offers it) or ``smtps://`` for implicit TLS. Connections are opened when
first needed, kept open between messages, and replaced after an error or when the relay hangs up.

Messages go after DATA as `build_message` makes them: CRLF line ends, and no line that starts with a
dot (its headers are folded with spaces, its parts are base64), so nothing needs dot-stuffing.

Exactly once where SMTP allows it: the message is written after DATA,
then the channel awaits ``job.commit_point()``, and only then writes the final ``.`` that makes the
relay take the message. A crash before that dot leaves a ``sending`` row and a relay that discards
the half-sent message; a crash after it leaves a ``committing`` row, settled as delivered
(``recover_committing``), so a message the relay may have accepted is never sent twice. For the same
reason a connection lost after the dot, before the relay's reply, counts as delivered (with the
error noted) rather than as a retry.

Outcomes: 2xx after the dot is delivered; a 4xx reply at any stage, a lost connection or a timeout
before the dot is a retry; a 5xx reply to MAIL, RCPT, DATA or the message is a permanent failure.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from email.utils import parseaddr
from urllib.parse import unquote, urlsplit

from warta.config import Settings
from warta.delivery.base import Channel, Job, RecipientView, Result, register
from warta.delivery.tokens import unsubscribe_url
from warta.formats.email import (
    build_message,
    dkim_enabled,
    dkim_sign,
    envelope_address,
    mail_domain,
    message_id_for,
)

__all__ = ["EmailChannel", "Relay", "SmtpReplyError"]

_MAX_REPLY_LINES = 200
_WRITE_BUFFER = 64 * 1024  # bytes written and not yet taken by the relay before a write waits


@dataclass(frozen=True)
class Relay:
    host: str
    port: int
    implicit_tls: bool
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> Relay:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtps"):
            raise ValueError(f"smtp_url must start with smtp:// or smtps://, not {url!r}")
        if not parts.hostname:
            raise ValueError(f"smtp_url names no host: {url!r}")
        implicit_tls = scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit_tls else 25),
            implicit_tls=implicit_tls,
            username=unquote(parts.username) if parts.username is not None else None,
            password=unquote(parts.password) if parts.password is not None else None,
        )

    @property
    def lane(self) -> str:
        return f"smtp:{self.host}:{self.port}"

    @property
    def is_local(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


class SmtpReplyError(Exception):
    """The relay answered a command with a code the client did not expect."""

    def __init__(self, stage: str, code: int, text: str) -> None:
        super().__init__(f"{stage}: {code} {text}".strip())
        self.stage = stage
        self.code = code
        self.text = text


class _ProtocolError(Exception):
    """The relay said something that is not an SMTP reply."""


# what can go wrong on the wire, short of the relay refusing something
_LINK_ERRORS = (OSError, TimeoutError, EOFError, asyncio.IncompleteReadError, _ProtocolError, ssl.SSLError)


class _Connection:
    """One SMTP session: EHLO, optional STARTTLS and AUTH, then any number of transactions."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float) -> None:
        self.reader = reader
        self.writer = writer
        self.timeout = timeout
        self.extensions: dict[str, str] = {}

    @classmethod
    async def open(cls, relay: Relay, hostname: str, timeout: float) -> _Connection:
        context = ssl.create_default_context() if relay.implicit_tls else None
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                relay.host, relay.port, ssl=context, server_hostname=relay.host if context else None
            )
        conn = cls(reader, writer, timeout)
        try:
            code, text = await conn.read_reply()
            if code != 220:
                raise SmtpReplyError("greeting", code, text)
            await conn.hello(hostname)
            if not relay.implicit_tls and "starttls" in conn.extensions and not relay.is_local:
                await conn.expect("STARTTLS", "STARTTLS", 220)
                async with asyncio.timeout(timeout):
                    await writer.start_tls(ssl.create_default_context(), server_hostname=relay.host)
                await conn.hello(hostname)
            if relay.username is not None:
                await conn.login(relay.username, relay.password or "")
        except BaseException:
            conn.abort()
            raise
        return conn

    @property
    def usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    async def read_reply(self, timeout: float | None = None) -> tuple[int, str]:
        async with asyncio.timeout(timeout or self.timeout):
            return await self.reply()

    async def reply(self) -> tuple[int, str]:
        """The next reply, under the caller's time limit."""
        lines: list[str] = []
        while True:
            raw = await self.reader.readline()
            if not raw.endswith(b"\n"):
                raise ConnectionResetError("the relay closed the connection")
            if len(raw) < 4 or not raw[:3].isdigit() or raw[3:4] not in (b" ", b"-", b"\r", b"\n"):
                raise _ProtocolError(f"not an SMTP reply: {raw[:80]!r}")
            lines.append(raw[4:].rstrip(b"\r\n").decode("utf-8", "replace"))
            if raw[3:4] != b"-":
                return int(raw[:3]), "\n".join(lines)
            if len(lines) > _MAX_REPLY_LINES:
                raise _ProtocolError("reply too long")

    async def command(self, line: str) -> tuple[int, str]:
        if "\r" in line or "\n" in line:
            raise ValueError("line break in an SMTP command")
        async with asyncio.timeout(self.timeout):
            await self.send(line.encode("utf-8") + b"\r\n")
            return await self.reply()

    async def send(self, data: bytes) -> None:
        """Write; wait only while the relay has not read what was written before (the caller's
        time limit applies)."""
        self.writer.write(data)
        if self.writer.transport.get_write_buffer_size() > _WRITE_BUFFER:
            await self.writer.drain()

    async def expect(self, stage: str, line: str, *codes: int) -> str:
        code, text = await self.command(line)
        if code not in codes:
            raise SmtpReplyError(stage, code, text)
        return text

    async def hello(self, hostname: str) -> None:
        code, text = await self.command(f"EHLO {hostname}")
        if code == 250:
            self.extensions = {}
            for entry in text.split("\n")[1:]:
                keyword, _, params = entry.strip().partition(" ")
                if keyword:
                    self.extensions[keyword.lower()] = params
            return
        await self.expect("HELO", f"HELO {hostname}", 250)
        self.extensions = {}

    async def login(self, username: str, password: str) -> None:
        methods = self.extensions.get("auth", "").upper().split()
        if "PLAIN" in methods or "LOGIN" not in methods:
            token = base64.b64encode(f"\0{username}\0{password}".encode()).decode("ascii")
            await self.expect("AUTH", f"AUTH PLAIN {token}", 235)
            return
        await self.expect("AUTH", "AUTH LOGIN", 334)
        await self.expect("AUTH", base64.b64encode(username.encode()).decode("ascii"), 334)
        await self.expect("AUTH", base64.b64encode(password.encode()).decode("ascii"), 235)

    async def write(self, data: bytes) -> None:
        """`send` under the connection's time limit, which only a write that must wait needs."""
        self.writer.write(data)
        if self.writer.transport.get_write_buffer_size() > _WRITE_BUFFER:
            async with asyncio.timeout(self.timeout):
                await self.writer.drain()

    async def reset(self) -> bool:
        """Abandon the open transaction; whether the connection can carry another one."""
        try:
            code, _ = await self.command("RSET")
        except _LINK_ERRORS:
            return False
        return code == 250

    async def quit(self) -> None:
        with contextlib.suppress(*_LINK_ERRORS):
            async with asyncio.timeout(2):
                await self.command("QUIT")
        self.abort()

    def abort(self) -> None:
        """Close without QUIT; a transaction without its final dot is discarded by the relay."""
        self.writer.close()


class _Pool:
    """At most `size` connections to the relay, opened on demand and reused."""

    def __init__(self, relay: Relay, size: int, hostname: str, timeout: float) -> None:
        self.relay = relay
        self.hostname = hostname
        self.timeout = timeout
        self._slots = asyncio.Semaphore(size)
        self._idle: list[_Connection] = []
        self._closed = False

    async def acquire(self) -> tuple[_Connection, bool]:
        """A connection and whether it has carried a message before (and so may have gone stale)."""
        await self._slots.acquire()
        try:
            while self._idle:
                conn = self._idle.pop()
                if conn.usable:
                    return conn, True
                conn.abort()
            return await _Connection.open(self.relay, self.hostname, self.timeout), False
        except BaseException:
            self._slots.release()
            raise

    def release(self, conn: _Connection, keep: bool) -> None:
        if keep and not self._closed and conn.usable:
            self._idle.append(conn)
        else:
            conn.abort()
        self._slots.release()

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(conn.quit() for conn in idle), return_exceptions=True)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _refused(stage: str, code: int, text: str) -> Result:
    error = f"{stage}: {code} {text}".strip()
    if 500 <= code < 600:
        return Result("failed", error)
    return Result("retry", error)


@register
class EmailChannel(Channel):
    name = "email"
    batch_size = 1
    max_queued = 2_000  # one relay takes about a thousand a second: a couple of seconds' worth
    recover_committing = "delivered"

    # seconds: to connect and for each command; for the reply to the final dot (RFC 5321 allows 10 min)
    timeout = 30.0
    end_of_data_timeout = 300.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.relay = Relay.parse(settings.smtp_url)
        self.lane_concurrency = max(1, settings.smtp_pool)  # type: ignore[misc]
        self.sender = parseaddr(settings.mail_from)[1]
        host = socket.gethostname()
        self.hostname = host if "." in host and host.isascii() else mail_domain(settings)
        self._pool: _Pool | None = None

    def applies_to(self, recipient: RecipientView) -> bool:
        return bool(recipient.email)

    def lane(self, recipient: RecipientView) -> str:
        return self.relay.lane

    @property
    def lane_name(self) -> str:
        """Every email shares the relay's lane (digests are created without a recipient at hand)."""
        return self.relay.lane

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def _get_pool(self) -> _Pool:
        if self._pool is None:
            self._pool = _Pool(self.relay, self.lane_concurrency, self.hostname, self.timeout)
        return self._pool

    async def send(self, jobs: list[Job]) -> list[Result]:
        return [await self._send_one(job) for job in jobs]

    async def _send_one(self, job: Job) -> Result:
        if not job.recipient.email:
            return Result("failed", "the recipient has no email address")
        try:
            rcpt = envelope_address(job.recipient.email)
            raw = build_message(
                job,
                message_id=message_id_for(self.settings, job.delivery_id),
                unsubscribe=unsubscribe_url(self.settings, job.recipient.id),
                sign=False,
            )
        except ValueError as exc:
            return Result("failed", str(exc))
        if dkim_enabled(self.settings):
            # RSA in pure Python takes milliseconds: keep it off the event loop
            try:
                raw = await asyncio.to_thread(dkim_sign, raw, self.settings)
            except Exception as exc:
                return Result("retry", f"DKIM signing: {_describe(exc)}")
        payload = raw if raw.endswith(b"\r\n") else raw + b"\r\n"
        pool = self._get_pool()
        while True:
            try:
                conn, reused = await pool.acquire()
            except SmtpReplyError as exc:
                return Result("retry", f"{self.relay.lane}: {exc}")
            except _LINK_ERRORS as exc:
                return Result("retry", f"{self.relay.lane}: {_describe(exc)}")
            keep = False
            try:
                result, keep = await self._transaction(conn, job, rcpt, payload, reused)
            finally:
                pool.release(conn, keep)
            if result is not None:
                return result
            # a reused connection the relay had dropped: nothing was sent, try a fresh one

    async def _transaction(
        self, conn: _Connection, job: Job, rcpt: str, payload: bytes, reused: bool
    ) -> tuple[Result | None, bool]:
        """The result and whether the connection can carry another message; no result if a reused
        connection turned out to be closed before the relay saw anything of this message."""
        if "pipelining" in conn.extensions:
            return await self._pipelined(conn, job, rcpt, payload, reused)
        stage = "MAIL"
        try:
            code, text = await conn.command(f"MAIL FROM:<{self.sender}>")
            if code != 250:
                if reused and code == 421:
                    return None, False
                return _refused(stage, code, text), code != 421 and await conn.reset()
            stage = "RCPT"
            code, text = await conn.command(f"RCPT TO:<{rcpt}>")
            if code not in (250, 251):
                return _refused(stage, code, text), code != 421 and await conn.reset()
            stage = "DATA"
            code, text = await conn.command("DATA")
            if code != 354:
                return _refused(stage, code, text), code != 421 and await conn.reset()
            stage = "message"
            await conn.write(payload)
        except _LINK_ERRORS as exc:
            if reused and stage == "MAIL":
                return None, False
            return Result("retry", f"{stage}: {_describe(exc)}"), False

        return await self._finish(conn, job)

    async def _pipelined(
        self, conn: _Connection, job: Job, rcpt: str, payload: bytes, reused: bool
    ) -> tuple[Result | None, bool]:
        """The same transaction with MAIL, RCPT and DATA sent at once (RFC 2920), for a relay that
        offers PIPELINING: one write and one wait instead of three round trips."""
        try:
            async with asyncio.timeout(conn.timeout):
                await conn.send(f"MAIL FROM:<{self.sender}>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n".encode())
                mail = await conn.reply()
                if reused and mail[0] == 421:
                    return None, False
                replies = [mail, await conn.reply(), await conn.reply()]
        except _LINK_ERRORS as exc:
            if reused:
                return None, False  # nothing of it was accepted: send it on a fresh connection
            return Result("retry", f"MAIL: {_describe(exc)}"), False
        for stage, (code, text), ok in zip(
            ("MAIL", "RCPT", "DATA"), replies, ((250,), (250, 251), (354,)), strict=True
        ):
            if code not in ok:
                if replies[2][0] == 354:  # a relay that opened DATA anyway: leave it, unfinished
                    conn.abort()
                    return _refused(stage, code, text), False
                return _refused(stage, code, text), code != 421 and await conn.reset()
        try:
            await conn.write(payload)
        except _LINK_ERRORS as exc:
            return Result("retry", f"message: {_describe(exc)}"), False
        return await self._finish(conn, job)

    async def _finish(self, conn: _Connection, job: Job) -> tuple[Result | None, bool]:
        """Past the commit point, the final dot: from here on the message is never sent again."""
        try:
            await job.commit_point()
        except Exception as exc:
            # the final dot was never sent: the relay drops the message with the connection
            return Result("retry", f"commit point: {_describe(exc)}"), False

        if not conn.usable:
            return Result("retry", "message: the relay closed the connection before the end of data"), False
        try:
            async with asyncio.timeout(self.end_of_data_timeout):
                await conn.send(b".\r\n")
                code, text = await conn.reply()
        except _LINK_ERRORS as exc:
            # the relay may have taken the message: never send it again
            return Result("delivered", f"no reply after the end of data: {_describe(exc)}"), False
        if 200 <= code < 300:
            return Result.ok(), True
        return _refused("end of data", code, text), code != 421
