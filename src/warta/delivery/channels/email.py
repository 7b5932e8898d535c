"""Email: one message per delivery, through a pool of persistent SMTP connections to one relay.

The relay is ``settings.smtp_url``: ``smtp://[user:pass@]host[:port]`` (STARTTLS when a relay that
is not on this machine offers it) or ``smtps://`` for implicit TLS. Connections are opened when
first needed, kept open between messages, and replaced after an error or when the relay hangs up.

Messages go after DATA as the email format's `message` makes them: CRLF line ends, and no line that starts with a
dot (its headers are folded with spaces, its parts are base64), so nothing needs dot-stuffing.

Exactly once where SMTP allows it: after DATA the channel awaits ``job.commit_point()``, and only
then writes the final ``.`` that makes the relay take the message (with the message itself, in one
write, when it is at most 64 KiB; a larger message is written before the commit point). A crash
before the dot leaves a ``sending`` row and a relay that discards the unfinished message; a crash
after it leaves a ``committing`` row, settled as delivered (``recover_committing``), so a message
the relay may have accepted is never sent twice. For the same reason a connection lost after the
dot, before the relay's reply, counts as delivered (with the error noted) rather than as a retry.

The client reads replies as an `asyncio.Protocol` (`_Link`). The engine hands the channel a batch of
jobs at a time, sent one after another on one connection. To a relay that offers PIPELINING (RFC
2920), MAIL, RCPT and DATA go out in one write and their three replies wake the sender once, and a
message's final dot goes in one write with the next message's MAIL, RCPT and DATA: one write and one
wake-up per message. A job whose envelope went out on a connection that then closed (after the
previous message's dot) was not accepted by the relay, and goes on a fresh connection.

Outcomes: 2xx after the dot is delivered; a 4xx reply at any stage, a lost connection or a timeout
before the dot is a retry; a 5xx reply to MAIL, RCPT, DATA or the message is a permanent failure.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import logging
import socket
import ssl
from collections import deque
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any, NamedTuple, cast
from urllib.parse import unquote, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from warta.config import Settings
from warta.delivery.base import Channel, EndpointView, Job, RecipientView, Result, register
from warta.delivery.tokens import unsubscribe_url
from warta.formats import Email, get
from warta.model import Delivery
from warta.model.states import DeliveryState

__all__ = ["EmailChannel", "Relay", "SmtpReplyError", "thread_roots", "warn_plain_unsubscribe"]

log = logging.getLogger(__name__)
# the email format: `render` would make a message to no one; the channel uses its `message`,
# addressed to one recipient, whose shared parts are made once per edition
MAIL = get("email", Email)
_WARNED: set[str] = set()


def warn_plain_unsubscribe(settings: Settings) -> bool:
    """Log a warning (once per base URL) when one-click unsubscribe links would be plain http:
    large mailbox providers ignore an RFC 8058 one-click header whose URL is not https, and the
    link travels in the clear. A base URL on this machine (a trial run) is not warned about.
    Returns whether it warned."""
    base = settings.base_url
    if not base.lower().startswith("http://") or base in _WARNED:
        return False
    host = urlsplit(base).hostname or ""
    if Relay(host, 0, False).is_local:
        return False  # a wire on this machine only: its links reach no mailbox provider anyway
    _WARNED.add(base)
    log.warning(
        "emails will carry a one-click List-Unsubscribe header with an http URL (%s/unsubscribe/…); "
        "mailbox providers expect https: set WARTA_BASE_URL to the wire's https address",
        base,
    )
    return True


def thread_roots(session: Any, jobs: list[Job]) -> None:
    """Give each email correction and withdrawal the Message-ID of the recipient's first message
    about the release (``job.extra["in_reply_to"]``), so that mail readers thread them with it.

    Only jobs that can follow an earlier message are looked up (a withdrawal, or an edition past
    version 1), so a release's first fan-out costs no query."""
    wanted = [
        job
        for job in jobs
        if job.channel == "email"
        and (job.kind == "withdrawal" or (job.kind == "edition" and job.bundle.edition.version > 1))
    ]
    if not wanted:
        return
    rows = session.execute(
        select(Delivery.release_id, Delivery.recipient_id, Delivery.id)
        .where(
            Delivery.channel == "email",
            Delivery.kind == "edition",
            Delivery.release_id.in_({job.bundle.release.id for job in wanted}),
            Delivery.recipient_id.in_({job.recipient.id for job in wanted}),
            Delivery.state.in_((DeliveryState.DELIVERED, DeliveryState.COMMITTING, DeliveryState.SENDING)),
        )
        .order_by(Delivery.version.desc(), Delivery.created_at.desc())
    ).all()
    first = {(release, recipient): row_id for release, recipient, row_id in rows}  # the earliest wins
    for job in wanted:
        root = first.get((job.bundle.release.id, job.recipient.id))
        if root is not None and root != job.delivery_id:
            job.extra["in_reply_to"] = MAIL.message_id(job.bundle.settings, root)


_MAX_REPLY_LINES = 200
_MAX_LINE = 64 * 1024  # bytes of one reply line
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


class _Link(asyncio.Protocol):
    """The relay's end of one connection as complete replies: bytes in, (code, text) out.

    Replies are parsed as they arrive, straight from the transport, and a waiting transaction is
    woken once when all the replies it asked for are there (three at once after a pipelined MAIL,
    RCPT and DATA): no reader task or line future per reply, and a timer only when it must wait."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.replies: deque[tuple[int, str]] = deque()
        self.error: BaseException | None = None  # why no more replies will come
        self._partial = b""
        self._lines: list[str] = []
        self._waiter: asyncio.Future[None] | None = None
        self._wanted = 0
        self.paused = False
        self._drained: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio's, but have the same methods
        self.transport = tcp = cast(asyncio.Transport, transport)
        tcp.set_write_buffer_limits(high=_WRITE_BUFFER)

    def data_received(self, data: bytes) -> None:
        if self._partial:
            data = self._partial + data
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            raw = data[start : end + 1]
            start = end + 1
            if len(raw) < 4 or not raw[:3].isdigit() or raw[3:4] not in (b" ", b"-", b"\r", b"\n"):
                self._fail(_ProtocolError(f"not an SMTP reply: {raw[:80]!r}"))
                return
            self._lines.append(raw[4:].rstrip(b"\r\n").decode("utf-8", "replace"))
            if raw[3:4] != b"-":
                self.replies.append((int(raw[:3]), "\n".join(self._lines)))
                self._lines = []
            elif len(self._lines) > _MAX_REPLY_LINES:
                self._fail(_ProtocolError("reply too long"))
                return
        self._partial = data[start:]
        if len(self._partial) > _MAX_LINE:
            self._fail(_ProtocolError("reply line too long"))
            return
        waiter = self._waiter
        if waiter is not None and len(self.replies) >= self._wanted and not waiter.done():
            waiter.set_result(None)

    def eof_received(self) -> bool:
        return False  # the relay is done: close

    def connection_lost(self, exc: Exception | None) -> None:
        if self.error is None:
            self.error = exc or ConnectionResetError("the relay closed the connection")
        self._wake_all()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        drained = self._drained
        if drained is not None and not drained.done():
            drained.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        self.error = exc
        if self.transport is not None:
            self.transport.abort()
        self._wake_all()

    def _wake_all(self) -> None:
        for fut in (self._waiter, self._drained):
            if fut is not None and not fut.done():
                fut.set_result(None)  # the waiter finds `error` and raises it

    def raise_error(self) -> None:
        error = self.error
        if isinstance(error, _ProtocolError):
            raise _ProtocolError(str(error))
        if isinstance(error, OSError):
            raise type(error)(*error.args)  # a fresh exception for each caller
        raise ConnectionResetError(f"the relay closed the connection: {error}")

    async def take(self, n: int, timeout: float) -> list[tuple[int, str]]:
        """The next `n` replies, waiting at most `timeout` seconds for them to arrive."""
        replies = self.replies
        if len(replies) < n:
            self._wanted = n
            self._waiter = self._future()
            try:
                await _within(self._waiter, timeout)
            finally:
                self._waiter = None
            if len(replies) < n:
                self.raise_error()
        return [replies.popleft() for _ in range(n)]

    async def drain(self, timeout: float) -> None:
        """Wait until the relay has read enough of what was written."""
        while self.paused and self.error is None:
            self._drained = self._future()
            try:
                await _within(self._drained, timeout)
            finally:
                self._drained = None
        if self.error is not None:
            self.raise_error()

    def _future(self) -> asyncio.Future[None]:
        """Something to wait on for the next bytes; already done when no more will come."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.error is not None:
            fut.set_result(None)
        return fut


async def _within(fut: asyncio.Future[None], timeout: float) -> None:
    """Wait for `fut`, or raise TimeoutError after `timeout` seconds."""
    timer = asyncio.get_running_loop().call_later(timeout, _expire, fut)
    try:
        await fut
    finally:
        timer.cancel()


def _expire(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


class _SmtpConnection:
    """One SMTP session: EHLO, optional STARTTLS and AUTH, then any number of transactions."""

    def __init__(self, transport: asyncio.Transport, link: _Link, timeout: float) -> None:
        self.transport = transport
        self.link = link
        self.timeout = timeout
        self.extensions: dict[str, str] = {}

    @classmethod
    async def open(cls, relay: Relay, hostname: str, timeout: float) -> _SmtpConnection:
        context = ssl.create_default_context() if relay.implicit_tls else None
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            transport, link = await loop.create_connection(
                _Link, relay.host, relay.port, ssl=context, server_hostname=relay.host if context else None
            )
        conn = cls(transport, link, timeout)
        try:
            code, text = await conn.read_reply()
            if code != 220:
                raise SmtpReplyError("greeting", code, text)
            await conn.hello(hostname)
            if not relay.implicit_tls and "starttls" in conn.extensions and not relay.is_local:
                await conn.expect("STARTTLS", "STARTTLS", 220)
                async with asyncio.timeout(timeout):
                    tls = await loop.start_tls(
                        conn.transport, link, ssl.create_default_context(), server_hostname=relay.host
                    )
                if tls is None:
                    raise ConnectionResetError("the relay closed the connection during STARTTLS")
                conn.transport = link.transport = tls
                await conn.hello(hostname)
            if relay.username is not None:
                await conn.login(relay.username, relay.password or "")
        except BaseException:
            conn.abort()
            raise
        return conn

    @property
    def usable(self) -> bool:
        return self.link.error is None and not self.transport.is_closing()

    async def read_reply(self, timeout: float | None = None) -> tuple[int, str]:
        return (await self.link.take(1, timeout or self.timeout))[0]

    async def command(self, line: str) -> tuple[int, str]:
        if "\r" in line or "\n" in line:
            raise ValueError("line break in an SMTP command")
        await self.write(line.encode("utf-8") + b"\r\n")
        return await self.read_reply()

    async def write(self, data: bytes) -> None:
        """Write; wait (under the connection's time limit) only while the relay has not read
        enough of what was written before."""
        if self.link.error is not None:
            self.link.raise_error()
        self.transport.write(data)
        if self.link.paused:
            await self.link.drain(self.timeout)

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

    async def reset(self) -> bool:
        """Abandon the open transaction; whether the connection can carry another one."""
        try:
            code, _ = await self.command("RSET")
        except _LINK_ERRORS:
            return False
        return code == 250

    async def quit(self) -> None:
        with contextlib.suppress(*_LINK_ERRORS):
            await self.write(b"QUIT\r\n")
            await self.read_reply(2)
        self.abort()

    def abort(self) -> None:
        """Close without QUIT; a transaction without its final dot is discarded by the relay."""
        self.transport.close()


class _SmtpPool:
    """At most `size` connections to the relay, opened on demand and reused."""

    def __init__(self, relay: Relay, size: int, hostname: str, timeout: float) -> None:
        self.relay = relay
        self.hostname = hostname
        self.timeout = timeout
        self._slots = asyncio.Semaphore(size)
        self._idle: list[_SmtpConnection] = []
        self._closed = False

    async def acquire(self) -> tuple[_SmtpConnection, bool]:
        """A connection and whether it has carried a message before (and so may have gone stale)."""
        await self._slots.acquire()
        try:
            while self._idle:
                conn = self._idle.pop()
                if conn.usable:
                    return conn, True
                conn.abort()
            return await _SmtpConnection.open(self.relay, self.hostname, self.timeout), False
        except BaseException:
            self._slots.release()
            raise

    def release(self, conn: _SmtpConnection, keep: bool) -> None:
        if keep and not self._closed and conn.usable:
            self._idle.append(conn)
        else:
            conn.abort()
        self._slots.release()

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(conn.quit() for conn in idle), return_exceptions=True)


class _Ready(NamedTuple):
    """A job ready to go: where it sits in the batch, its recipient's address and its message."""

    position: int
    job: Job
    rcpt: str
    payload: bytes


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
    carries_digests = True
    # jobs a lane worker hands over at once, sent one after another on one connection (pipelined)
    batch_size = 16
    max_queued = 2_000  # one relay takes about a thousand a second: a couple of seconds' worth
    recover_committing = DeliveryState.DELIVERED
    own_process = True

    # seconds: to connect and for each command; for the reply to the final dot (RFC 5321 allows 10 min)
    timeout = 30.0
    end_of_data_timeout = 300.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.relay = Relay.parse(settings.smtp_url)
        self.lane_concurrency = max(1, settings.smtp_pool)  # type: ignore[misc]
        self.sender = parseaddr(settings.mail_from)[1]
        self._mail_from = f"MAIL FROM:<{self.sender}>\r\n".encode()
        host = socket.gethostname()
        self.hostname = host if "." in host and host.isascii() else MAIL.mail_domain(settings)
        self._pool: _SmtpPool | None = None
        warn_plain_unsubscribe(settings)

    def accepts(self, recipient: RecipientView, endpoint: EndpointView) -> bool:
        return bool(endpoint.address)

    def skip_reason(self, recipient: RecipientView, endpoint: EndpointView) -> str | None:
        return None if endpoint.address else "the email endpoint has no address"

    def lane(self, endpoint: EndpointView) -> str:
        return self.relay.lane

    def prepare(self, session: Session, jobs: list[Job]) -> None:
        thread_roots(session, jobs)

    def digest_lane(self) -> str:
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

    def _get_pool(self) -> _SmtpPool:
        if self._pool is None:
            self._pool = _SmtpPool(self.relay, self.lane_concurrency, self.hostname, self.timeout)
        return self._pool

    async def send(self, jobs: list[Job]) -> list[Result]:
        """The jobs in order, on one connection while it lasts: to a relay that offers PIPELINING,
        each message's final dot goes in one write with the next message's MAIL, RCPT and DATA."""
        results: list[Result | None] = [None] * len(jobs)
        ready: deque[_Ready] = deque()
        for index, job in enumerate(jobs):
            prepared = await self._prepare(job)
            if isinstance(prepared, Result):
                results[index] = prepared
            else:
                ready.append(_Ready(index, job, *prepared))
        pool = self._get_pool()
        while ready:
            try:
                conn, reused = await pool.acquire()
            except (SmtpReplyError, *_LINK_ERRORS) as exc:
                text = str(exc) if isinstance(exc, SmtpReplyError) else _describe(exc)
                for item in ready:
                    results[item.position] = Result("retry", f"{self.relay.lane}: {text}")
                break
            keep = False
            try:
                if "pipelining" in conn.extensions:
                    keep = await self._chain(conn, ready, results, reused)
                else:
                    keep = await self._one_by_one(conn, ready, results, reused)
            finally:
                pool.release(conn, keep)
        return [result if result is not None else Result("retry", "not sent") for result in results]

    async def _prepare(self, job: Job) -> Result | tuple[str, bytes]:
        """The job's envelope address and message, or why it cannot be sent."""
        if not job.endpoint.address:
            return Result("failed", "the endpoint has no email address")
        try:
            rcpt = MAIL.envelope_address(job.endpoint.address)
            raw = MAIL.message(
                job,
                message_id=MAIL.message_id(self.settings, job.delivery_id),
                unsubscribe=unsubscribe_url(self.settings, job.recipient.id),
                address=rcpt,
            )
        except ValueError as exc:
            return Result("failed", str(exc))
        if MAIL.signs(self.settings):
            # RSA in pure Python takes milliseconds: keep it off the event loop
            try:
                raw = await asyncio.to_thread(MAIL.sign, raw, self.settings)
            except Exception as exc:
                return Result("retry", f"DKIM signing: {_describe(exc)}")
        payload = raw if raw.endswith(b"\r\n") else raw + b"\r\n"
        return rcpt, payload

    def _envelope(self, rcpt: str) -> bytes:
        """MAIL, RCPT and DATA in one piece, for a relay that offers PIPELINING."""
        return self._mail_from + f"RCPT TO:<{rcpt}>\r\nDATA\r\n".encode("ascii")

    async def _one_by_one(
        self, conn: _SmtpConnection, ready: deque[_Ready], results: list[Result | None], reused: bool
    ) -> bool:
        """Lock-step transactions while the connection lasts; whether it can carry more. A job
        left in `ready` goes on a fresh connection."""
        while ready:
            item = ready[0]
            result, keep = await self._transaction(conn, item.job, item.rcpt, item.payload, reused)
            if result is None:
                return False  # a reused connection the relay had dropped: nothing was sent
            results[ready.popleft().position] = result
            if not keep:
                return False
            reused = True
        return True

    async def _chain(
        self, conn: _SmtpConnection, ready: deque[_Ready], results: list[Result | None], reused: bool
    ) -> bool:
        """Pipelined transactions (RFC 2920) while the connection lasts: MAIL, RCPT and DATA go
        in one write and their three replies wake the sender once; a message, its final dot and
        the next message's envelope go in one write. Whether the connection can carry more; a job
        left in `ready` (nothing of it accepted) goes on a fresh connection."""
        announced = False  # whether the next job's envelope went out already, with the previous dot
        while ready:
            item = ready[0]
            try:
                if not announced:
                    await conn.write(self._envelope(item.rcpt))
                # one wake-up for the three replies; a relay that refuses MAIL with 421 also
                # closes the connection, which ends the wait at once
                replies = await conn.link.take(3, conn.timeout)
            except _LINK_ERRORS as exc:
                if reused:
                    return False  # nothing of it was accepted: send it on a fresh connection
                results[ready.popleft().position] = Result("retry", f"MAIL: {_describe(exc)}")
                return False
            if reused and replies[0][0] == 421:
                return False
            refusal = next(
                (
                    (stage, code, text)
                    for stage, (code, text), ok in zip(
                        ("MAIL", "RCPT", "DATA"), replies, ((250,), (250, 251), (354,)), strict=True
                    )
                    if code not in ok
                ),
                None,
            )
            if refusal is not None:
                ready.popleft()
                results[item.position] = _refused(*refusal)
                if replies[2][0] == 354:  # a relay that opened DATA anyway: leave it, unfinished
                    conn.abort()
                    return False
                if refusal[1] == 421 or not await conn.reset():
                    return False
                announced, reused = False, True
                continue
            following = self._envelope(ready[1].rcpt) if len(ready) > 1 else b""
            result, keep = await self._finish(conn, item.job, item.payload, following)
            ready.popleft()
            results[item.position] = result
            if not keep:
                return False  # the next job, if any, was announced on a connection now gone
            announced, reused = bool(following), True
        return True

    async def _transaction(
        self, conn: _SmtpConnection, job: Job, rcpt: str, payload: bytes, reused: bool
    ) -> tuple[Result | None, bool]:
        """One message in lock-step, for a relay without PIPELINING: the result and whether the
        connection can carry another message; no result if a reused connection turned out to be
        closed before the relay saw anything of this message."""
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
        except _LINK_ERRORS as exc:
            if reused and stage == "MAIL":
                return None, False
            return Result("retry", f"{stage}: {_describe(exc)}"), False

        return await self._finish(conn, job, payload)

    async def _finish(
        self, conn: _SmtpConnection, job: Job, payload: bytes, following: bytes = b""
    ) -> tuple[Result, bool]:
        """The message and its final dot around the commit point: once it is passed, the message is
        never sent again. A message of up to `_WRITE_BUFFER` bytes (nearly all) goes after the point,
        with its dot, in one write; a larger one before it, so that only the dot is left to write.
        `following` (the next message's pipelined envelope) goes in the same write as the dot."""
        small = len(payload) <= _WRITE_BUFFER
        if not small:
            try:
                await conn.write(payload)
            except _LINK_ERRORS as exc:
                return Result("retry", f"message: {_describe(exc)}"), False
        try:
            await job.commit_point()
        except Exception as exc:
            # the final dot was never sent: the relay drops the message with the connection
            return Result("retry", f"commit point: {_describe(exc)}"), False

        if not conn.usable:
            return Result("retry", "message: the relay closed the connection before the end of data"), False
        try:
            conn.transport.writelines((payload, b".\r\n", following) if small else (b".\r\n", following))
            code, text = (await conn.link.take(1, self.end_of_data_timeout))[0]
        except _LINK_ERRORS as exc:
            # the relay may have taken the message: never send it again
            return Result("delivered", f"no reply after the end of data: {_describe(exc)}"), False
        if 200 <= code < 300:
            return Result.ok(), True
        return _refused("end of data", code, text), code != 421
