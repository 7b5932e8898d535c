"""A small HTTP/1.1 client for webhooks: one request at a time per connection, pooled per origin.

A release to 6,500 outlets is 6,500 POSTs of the same bytes with three headers changed. A
general-purpose client spends most of a webhook's CPU on its layers (request and header objects,
an event-driven parser, a task-group per call); this one writes the request as one buffer
straight to the transport and parses the answer in `data_received`.

What it does: plain HTTP and TLS (the certificate is checked against the name, while the
connection goes to the address given, so the address checked before the request is the one
called); keep-alive connections per origin, at most `per_origin` at once, closed after
`keepalive` idle seconds, except that a request still unanswered after `slow_after` seconds stops
counting against that limit while the origin answers other requests quickly (up to `max_per_origin`
connections in all; "slow" is a few times what answers usually take at that origin), so slow endpoints on a shared host do not hold up its quick ones; response bodies framed by Content-Length, chunked transfer coding or
the end of the connection; interim 1xx responses skipped. A reused connection that the server
closed while it was idle is replaced once, transparently. Only the first `peek` bytes of a body
are kept; a body over `DRAIN_LIMIT` is not read to its end (the connection is closed instead).

What it does not do: redirects (the caller reads the status), proxies, cookies, compression,
HTTP/2, or request bodies streamed in parts.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from dataclasses import dataclass
from typing import cast

__all__ = ["Client", "ConnectError", "HTTPError", "Origin", "RemoteProtocolError", "Response"]

MAX_HEAD = 64 * 1024  # bytes of status line and header fields
MAX_LINE = 4096  # bytes of a chunk-size line or a trailer field
DRAIN_LIMIT = 1024 * 1024  # bytes of a body read (and dropped) so that its connection can be reused
SLOW_FLOOR = 0.02  # seconds: no answer counts as slow sooner than this (a quick host on a LAN)
QUICK_WINDOW = 5.0  # seconds: an origin that answered a request quickly this recently is not overloaded


class HTTPError(Exception):
    """The request did not get a usable answer."""


class ConnectError(HTTPError):
    """No connection (refused, unreachable, TLS handshake or certificate failed)."""


class RemoteProtocolError(HTTPError):
    """The server closed the connection early or answered with something that is not HTTP/1.x."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request goes: `address` is connected to; `host` is the name for the Host header
    and for TLS (server name and certificate check)."""

    scheme: str  # "http" or "https"
    address: str
    port: int
    host: str

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    reason: str
    headers: dict[str, str]  # lower-case names; a repeated field's values joined by ", "
    body: bytes  # at most the client's `peek` bytes
    complete: bool  # the whole body arrived


# parser states
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _UNTIL_CLOSE, _DONE = range(8)


class _HttpConnection(asyncio.Protocol):
    """One connection. It answers one request at a time: `exchange` writes the request and
    returns a future for the response."""

    def __init__(self, pool: _HttpPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_timer: asyncio.TimerHandle | None = None
        self.slow_timer: asyncio.TimerHandle | None = None
        self.slow = False  # its exchange outlasted `slow_after`: not counted against `per_origin`
        self.started = 0.0
        self.timed: asyncio.Future[Response] | None = None  # the exchange `started` and the timer are of
        self._reset()

    def _reset(self) -> None:
        self.waiter: asyncio.Future[Response] | None = None
        self.buf = bytearray()
        self.state = _HEAD
        self.status = 0
        self.reason = ""
        self.headers: dict[str, str] = {}
        self.keep_alive = True
        self.remaining = 0
        self.body = bytearray()
        self.body_seen = 0
        self.got_bytes = False

    # --- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:  # nothing asked: a server talking out of turn is not to be trusted
            self.close()
            return
        self.got_bytes = True
        self.buf += data
        try:
            self._parse()
        except RemoteProtocolError as exc:
            self._fail(exc)

    def eof_received(self) -> bool:
        self._ended()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        self._ended()
        self.pool.forget(self)

    # --- the exchange -----------------------------------------------------------------------

    def exchange(self, data: bytes) -> asyncio.Future[Response]:
        assert self.transport is not None and self.waiter is None
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None
        self._reset()
        loop = self.pool.loop
        waiter = self.waiter = loop.create_future()
        if self.closed:  # closed by the server between its release and now
            waiter.set_exception(_Unanswered("the connection was closed before the request"))
        else:
            self.started = loop.time()
            self.slow_timer = loop.call_at(self.started + self.pool.slow_after(), self._slow)
            self.timed = waiter
            waiter.add_done_callback(self._over)
            self.transport.write(data)
        return waiter

    def _slow(self) -> None:
        self.slow_timer = None
        if self.waiter is not None and not self.waiter.done():
            self.pool.slowed(self)

    def _over(self, waiter: asyncio.Future[Response]) -> None:
        """The exchange of `waiter` ended: its timer stops and the pool learns how long it took,
        once. A finished exchange hands the connection on before its waiter's callbacks run, so by
        then the connection may be timing the next exchange: that one is left alone."""
        if waiter is not self.timed:
            return
        self.timed = None
        if self.slow_timer is not None:
            self.slow_timer.cancel()
            self.slow_timer = None
        self.pool.answered(self)

    def expire(self) -> None:
        """The deadline passed: the answer so far if its head is complete, else a time-out."""
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            if self.state == _HEAD:
                waiter.set_exception(TimeoutError())
            else:
                waiter.set_result(Response(self.status, self.reason, self.headers, bytes(self.body), False))
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _ended(self) -> None:
        """The server closed its side: the end of a close-delimited body, or of the exchange."""
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.state == _UNTIL_CLOSE:
            self._finish()
        elif self.state == _HEAD and not self.got_bytes:
            waiter.set_exception(_Unanswered("the server closed the connection without answering"))
        else:
            waiter.set_exception(RemoteProtocolError("the server closed the connection mid-answer"))

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        self.close()

    def _take(self, data: bytes | bytearray) -> None:
        self.body_seen += len(data)
        room = self.pool.peek - len(self.body)
        if room > 0:
            self.body += data[:room]
        if self.body_seen > DRAIN_LIMIT:
            self.keep_alive = False
            self._finish(complete=False)

    def _finish(self, complete: bool = True) -> None:
        if self.state == _DONE:
            return
        self.state = _DONE
        response = Response(self.status, self.reason, self.headers, bytes(self.body), complete)
        waiter = self.waiter
        reusable = self.keep_alive and not self.closed and not self.buf
        self.waiter = None
        if waiter is not None:
            self._over(waiter)  # before the connection is handed on to the next exchange
        if reusable:
            self.pool.release(self)
        else:
            self.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(response)

    def _parse(self) -> None:
        buf = self.buf
        while buf and self.state != _DONE:
            state = self.state
            if state == _HEAD:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > MAX_HEAD:
                        raise RemoteProtocolError("the response head is too long")
                    return
                head = bytes(buf[:end])
                del buf[: end + 4]
                self._head(head)
            elif state == _LENGTH:
                if self._counted():
                    self._finish()
            elif state == _UNTIL_CLOSE:
                self._take(buf)
                buf.clear()
            elif state == _CHUNK_SIZE:
                line = self._line()
                if line is None:
                    return
                size = line.split(b";", 1)[0].strip()
                try:
                    self.remaining = int(size, 16)
                except ValueError:
                    raise RemoteProtocolError(f"bad chunk size {size[:20]!r}") from None
                if self.remaining < 0:
                    raise RemoteProtocolError("bad chunk size")
                self.state = _CHUNK_DATA if self.remaining else _TRAILER
            elif state == _CHUNK_DATA:
                if self._counted():
                    self.state = _CHUNK_END
            elif state == _CHUNK_END:
                if len(buf) < 2:
                    return
                if buf[:2] != b"\r\n":
                    raise RemoteProtocolError("a chunk does not end with CRLF")
                del buf[:2]
                self.state = _CHUNK_SIZE
            elif state == _TRAILER:
                line = self._line()
                if line is None:
                    return
                if not line:
                    self._finish()

    def _counted(self) -> bool:
        """Take up to `remaining` body bytes from the buffer; whether that part is complete."""
        n = min(self.remaining, len(self.buf))
        self._take(self.buf[:n])
        del self.buf[:n]
        self.remaining -= n
        return self.remaining == 0

    def _line(self) -> bytes | None:
        end = self.buf.find(b"\r\n")
        if end < 0:
            if len(self.buf) > MAX_LINE:
                raise RemoteProtocolError("a chunk line is too long")
            return None
        line = bytes(self.buf[:end])
        del self.buf[: end + 2]
        return line

    def _head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if (
            len(parts) < 2
            or not parts[0].startswith(b"HTTP/1.")
            or len(parts[1]) != 3
            or not parts[1].isdigit()
        ):
            raise RemoteProtocolError(f"not an HTTP/1.x status line: {lines[0][:60]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        last = ""
        for raw in lines[1:]:
            if raw[:1] in (b" ", b"\t") and last:  # obsolete line folding
                headers[last] += " " + raw.strip().decode("latin-1")
                continue
            name, sep, value = raw.partition(b":")
            if not sep or not name or name != name.strip():
                raise RemoteProtocolError(f"bad header line {raw[:60]!r}")
            last = name.decode("latin-1").lower()
            text = value.strip().decode("latin-1")
            headers[last] = f"{headers[last]}, {text}" if last in headers else text
        if 100 <= status < 200:
            if status == 101:
                raise RemoteProtocolError("the server switched protocols")
            return  # an interim response: the real one follows
        self.status = status
        self.reason = parts[2].decode("latin-1").strip() if len(parts) > 2 else ""
        self.headers = headers
        connection = headers.get("connection", "").lower()
        self.keep_alive = parts[0] == b"HTTP/1.1" and "close" not in connection
        coding = headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        if status in (204, 304):
            self.remaining, self.state = 0, _LENGTH
        elif coding:
            self.state = _CHUNK_SIZE if coding.rsplit(",", 1)[-1].strip() == "chunked" else _UNTIL_CLOSE
        elif length is not None:
            values = {v.strip() for v in length.split(",")}
            if len(values) != 1 or not next(iter(values)).isdigit():
                raise RemoteProtocolError(f"bad Content-Length {length[:40]!r}")
            self.remaining, self.state = int(values.pop()), _LENGTH
        else:
            self.state = _UNTIL_CLOSE
        if self.state == _UNTIL_CLOSE:
            self.keep_alive = False
        elif self.state == _LENGTH and self.remaining == 0:
            self._finish()


class _Unanswered(RemoteProtocolError):
    """Closed before a single byte of answer: on a reused connection, worth one fresh try."""


class _HttpPool:
    """The connections to one origin: idle ones, and a count of all open (or opening) ones."""

    def __init__(self, client: Client, origin: Origin) -> None:
        self.client = client
        self.origin = origin
        self.loop = client.loop
        self.peek = client.peek
        self.idle: list[_HttpConnection] = []
        self.open = 0
        self.slow = 0  # open connections waiting on a slow answer
        self.last_quick = -1e9  # loop time an exchange last ended quickly
        self.typical: float | None = None  # seconds an answer takes here (moving average)
        # waiting for a connection (handed over when one is released) or for a free slot (None)
        self.waiters: deque[asyncio.Future[_HttpConnection | None]] = deque()

    def take_idle(self) -> _HttpConnection | None:
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed:
                return conn
        return None

    async def acquire(self) -> tuple[_HttpConnection, bool]:
        """A connection, and whether it was used before."""
        conn = self.take_idle()
        if conn is not None:
            return conn, True
        if self._room():
            self.open += 1
        else:
            fut: asyncio.Future[_HttpConnection | None] = self.loop.create_future()
            self.waiters.append(fut)
            try:
                handed = await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():
                    given = fut.result()
                    if given is None:
                        self._free_slot()
                    else:
                        self.release(given)
                else:
                    self.waiters.remove(fut)
                raise
            if handed is not None:
                return handed, True
            # handed a free slot, already counted in `open`
        try:
            return await self._connect(), False
        except BaseException:
            self._free_slot()
            raise

    async def _connect(self) -> _HttpConnection:
        origin = self.origin
        tls = origin.scheme == "https"
        try:
            _, conn = await self.loop.create_connection(
                lambda: _HttpConnection(self),
                origin.address,
                origin.port,
                ssl=self.client.tls() if tls else None,
                server_hostname=origin.host if tls else None,
            )
        except ssl.SSLCertVerificationError as exc:
            raise ConnectError(f"TLS certificate not accepted: {exc.verify_message or exc}") from None
        except (OSError, ssl.SSLError) as exc:
            raise ConnectError(str(exc) or type(exc).__name__) from None
        return conn

    def release(self, conn: _HttpConnection) -> None:
        """A connection whose exchange ended cleanly: to the first waiter, or idle."""
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(conn)
                return
        conn.idle_timer = self.loop.call_later(self.client.keepalive, conn.close)
        self.idle.append(conn)

    def _room(self) -> bool:
        """Whether another connection may open: slow ones do not count against `per_origin`."""
        client = self.client
        return self.open - self.slow < client.per_origin and self.open < client.max_per_origin

    def _admit(self) -> None:
        """Hand free slots to waiters, as many as there is room for."""
        while self.waiters and self._room():
            fut = self.waiters.popleft()
            if not fut.done():
                self.open += 1  # the waiter opens a connection in this slot
                fut.set_result(None)

    def _free_slot(self) -> None:
        self.open -= 1
        self._admit()
        if not self.open and self.client.pools.get(self.origin) is self:
            del self.client.pools[self.origin]

    def slowed(self, conn: _HttpConnection) -> None:
        """An exchange outlasted `slow_after`. While the origin answers others quickly, it is the
        endpoint that is slow, not the host: its connection stops counting against the limit."""
        if self.loop.time() - self.last_quick < QUICK_WINDOW:
            conn.slow = True
            self.slow += 1
            self._admit()

    def slow_after(self) -> float:
        """Seconds after which an answer counts as slow here: a few times what answers usually take
        at this origin (a far host is not slow for being far), at most the client's `slow_after`."""
        if self.typical is None:
            return self.client.slow_after
        return min(self.client.slow_after, max(SLOW_FLOOR, 4 * self.typical))

    def answered(self, conn: _HttpConnection) -> None:
        if conn.slow:
            conn.slow = False
            self.slow -= 1
            return
        now = self.loop.time()
        took = now - conn.started
        # "quick" is judged by the fixed bar: under load every answer takes longer than usual, and
        # the origin must not then look overloaded to itself
        if took < self.client.slow_after:
            self.last_quick = now
            self.typical = took if self.typical is None else 0.8 * self.typical + 0.2 * took

    def forget(self, conn: _HttpConnection) -> None:
        """A connection closed: its slot is free."""
        if conn in self.idle:
            self.idle.remove(conn)
        if conn.slow:  # before its exchange's done-callback runs: the slot is freed once, here
            conn.slow = False
            self.slow -= 1
        self._free_slot()


class Client:
    """Pools of keep-alive connections, one per origin."""

    def __init__(
        self,
        *,
        per_origin: int = 8,
        max_per_origin: int = 128,
        slow_after: float = 0.5,
        keepalive: float = 30.0,
        peek: int = 4096,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.per_origin = per_origin
        self.max_per_origin = max(per_origin, max_per_origin)
        self.slow_after = slow_after
        self.keepalive = keepalive
        self.peek = peek
        self._tls = tls
        self.pools: dict[Origin, _HttpPool] = {}
        self.loop = asyncio.get_running_loop()

    def tls(self) -> ssl.SSLContext:
        if self._tls is None:
            # one context for every origin: building one loads the CA bundle (tens of ms)
            self._tls = ssl.create_default_context()
        return self._tls

    async def request(
        self,
        origin: Origin,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
        timeout: float,
    ) -> Response:
        """Send one request and read its answer within `timeout` seconds (waiting for a free
        connection included). When the time runs out after the status and headers arrived, the
        answer so far is returned with `complete` false; before that, `TimeoutError`."""
        lines = [f"{method} {target} HTTP/1.1", f"host: {origin.authority}"]
        lines += [f"{name}: {value}" for name, value in headers]
        lines.append(f"content-length: {len(body)}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        loop = self.loop
        deadline = loop.time() + timeout
        pool = self.pools.get(origin)
        if pool is None:
            pool = self.pools[origin] = _HttpPool(self, origin)
        conn = pool.take_idle()
        reused = conn is not None
        for attempt in (1, 2):
            if conn is None:
                async with asyncio.timeout_at(deadline):
                    conn, reused = await pool.acquire()
            waiter = conn.exchange(data)
            timer = loop.call_at(deadline, conn.expire)
            try:
                return await waiter
            except _Unanswered:
                conn.close()
                if not reused or attempt == 2:
                    raise
            except BaseException:
                conn.close()
                raise
            finally:
                timer.cancel()
            conn = None  # the server had closed the idle connection: once more, on a new one
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        pools, self.pools = list(self.pools.values()), {}
        for pool in pools:
            for conn in pool.idle:
                conn.close()
            pool.idle.clear()
        await asyncio.sleep(0)
