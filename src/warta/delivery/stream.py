"""The stream hub: live Server-Sent Events for desktop recipients.

One release can go to tens of thousands of open connections at once, so the hub does the
expensive part once per event and the cheap part once per connection. `publish` encodes the
SSE frame to bytes a single time, keeps it in a bounded replay ring for clients that resume
with `Last-Event-ID`, and then only appends that same bytes object to each target
connection's buffer and wakes its writer. A writer takes whatever has piled up in one go.

A large publish (SHARED_WRITES connections or more) writes the chunk straight to the sockets with
`os.write`, in one tight pass, and on a machine with more than one core shares that pass among
threads (`WARTA_STREAM_WRITERS`): `os.write` lets go of the interpreter lock for the system call, so
the kernel's work, most of the cost of a delivery, runs on several cores at once. Only plain TCP
transports with nothing queued are written this way, and the event loop waits for the threads, so
nothing else writes to those sockets meanwhile. What a socket did not take whole is handed back to
its transport, which queues it as usual.

Event ids are wall-clock microseconds, forced to increase by at least one per event, so the
ids of a later process are larger than those of an earlier one and a `Last-Event-ID` left
over from before a restart is recognised as older than anything in the (in-memory) ring.

All methods must be called from the event loop that serves the connections.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import deque
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from warta.config import Settings

log = logging.getLogger(__name__)

HEARTBEAT = b": hb\n\n"
QUEUE_LIMIT = 1000  # frames waiting for one connection before it is dropped as too slow
WRITE_LIMIT = 1 << 20  # bytes waiting in a connection's transport before it is dropped as too slow
SHARED_WRITES = 256  # connections from which a publish writes straight to the sockets, in shares
WRITE_BLOCK = 1024  # sockets written straight at a time, while the rest of a publish is listed
# transports known to write their bytes to the socket as they are, in order (uvloop's and asyncio's)
PLAIN_TRANSPORTS = frozenset({"TCPTransport", "UnixTransport", "_SelectorSocketTransport"})


def chunk(frame: bytes) -> bytes:
    """A frame as one HTTP/1.1 chunk, for connections the hub writes to directly."""
    return b"%x\r\n%b\r\n" % (len(frame), frame)


HEARTBEAT_CHUNK = chunk(HEARTBEAT)


def socket_fd(transport: asyncio.BaseTransport) -> int:
    """The socket a plain transport writes to, for writing to it straight (from other threads too);
    -1 for anything else (TLS, pipes, transports of unknown kinds), written through the transport."""
    if type(transport).__name__ not in PLAIN_TRANSPORTS or transport.get_extra_info("sslcontext") is not None:
        return -1
    sock = transport.get_extra_info("socket")
    try:
        return int(sock.fileno()) if sock is not None else -1
    except (OSError, ValueError):
        return -1


def write_each(fds: list[int], start: int, stop: int, data: bytes) -> list[tuple[int, int]]:
    """Write `data` to each of `fds[start:stop]`; (index, bytes written) for each one that did not
    take it whole: a full socket buffer (0 or part written) or an error (0)."""
    write = os.write
    size = len(data)
    short = []
    for i in range(start, stop):
        try:
            n = write(fds[i], data)
        except OSError:  # would block, or the connection is broken: its transport finds out which
            short.append((i, 0))
            continue
        if n != size:
            short.append((i, n))
    return short


class Writers:
    """Threads that share the socket writes of one publish with the event loop's thread."""

    def __init__(self, threads: int) -> None:
        self.threads = max(1, threads)
        self._pool: ThreadPoolExecutor | None = None

    def write(self, fds: list[int], data: bytes) -> list[tuple[int, int]]:
        """`data` to every socket in `fds`, the calling thread taking the first share; blocks until
        all are written. Returns what `write_each` returns, over all of them."""
        n = len(fds)
        shares = min(self.threads, max(1, n // (SHARED_WRITES // 2)))
        if shares == 1:
            return write_each(fds, 0, n, data)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads - 1, thread_name_prefix="warta-stream-writer")
        bounds = [n * k // shares for k in range(shares + 1)]
        futures = [
            self._pool.submit(write_each, fds, bounds[k], bounds[k + 1], data) for k in range(1, shares)
        ]
        short = write_each(fds, 0, bounds[1], data)
        for future in futures:
            short.extend(future.result())
        return short

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _now_id() -> int:
    return time.time_ns() // 1000


def encode_frame(event_id: int | None, event: str, data: Any) -> bytes:
    """One SSE event as bytes: `id`, `event` and one `data` line of compact JSON."""
    if "\n" in event or "\r" in event:
        raise ValueError("an event name is one line")
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {payload}\n\n".encode()


class Connection:
    """One open stream. The hub appends frames to `buffer`; the writer awaits `next()`.

    Or, once `attach`ed to its HTTP/1.1 transport (the response is under way, chunked), the hub
    writes each frame to the transport itself, as a chunk encoded once per event: no task wakes
    up per delivery. The writer then only waits for the connection to close."""

    __slots__ = ("recipient_id", "buffer", "closed", "reason", "_waiter", "_busy", "transport", "fd")

    def __init__(self, recipient_id: str) -> None:
        self.recipient_id = recipient_id
        self.buffer: list[bytes] = []
        self.closed = False
        self.reason = ""
        self._waiter: asyncio.Future[None] | None = None
        self._busy = True  # had something to write since the last heartbeat pass
        self.transport: asyncio.WriteTransport | None = None
        self.fd = -1  # the transport's socket, when other threads may write to it (`socket_fd`)

    def attach(self, transport: asyncio.WriteTransport) -> None:
        """Write straight to `transport` from now on; what is buffered goes first, in order."""
        if self.closed:
            return
        pending = self.take()
        if pending:
            transport.write(chunk(pending))
        self.transport = transport
        self.fd = socket_fd(transport)

    def take(self) -> bytes:
        """Everything buffered, as one bytes object (b"" when nothing is waiting)."""
        buffer = self.buffer
        if not buffer:
            return b""
        data = buffer[0] if len(buffer) == 1 else b"".join(buffer)
        buffer.clear()
        return data

    async def next(self) -> bytes | None:
        """Wait for frames and return them joined; None once the connection is closed."""
        while not self.buffer:
            if self.closed:
                return None
            self._waiter = waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        if self.closed:
            return None
        return self.take()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _close(self, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.reason = reason
            self.buffer.clear()
            self._wake()


class StreamHub:
    def __init__(self, settings: Settings, queue_limit: int = QUEUE_LIMIT) -> None:
        self.replay = max(0, settings.stream_replay)
        self.heartbeat = settings.stream_heartbeat
        self.queue_limit = queue_limit
        self._ring: deque[tuple[int, bytes, frozenset[str]]] = deque()
        self._last_id = _now_id()
        # every event with an id above the floor is still in the ring; at or below it may be lost
        self._floor = self._last_id
        self._by_recipient: dict[str, list[Connection]] = {}
        self._count = 0
        self._beats: asyncio.Task[None] | None = None
        self.writers = Writers(settings.stream_writers)

    @property
    def connections(self) -> int:
        return self._count

    @property
    def last_id(self) -> int:
        return self._last_id

    def connected(self, recipient_id: str) -> int:
        return len(self._by_recipient.get(recipient_id, ()))

    # -- publishing ---------------------------------------------------------------------------

    def publish(
        self,
        event_name: str,
        data: dict[str, Any],
        recipient_ids: Iterable[str],
        event_id: int | None = None,
    ) -> tuple[int, int]:
        """Send one event to every open connection of the given recipients.

        Returns (connections written, recipients targeted). A recipient with no open
        connection still gets the event later from the replay ring if it resumes in time.
        The hub numbers events itself unless the caller does (a gateway uses the live stream's
        sequence, the same on every gateway); given ids must increase.
        """
        if event_id is None:
            event_id = max(self._last_id + 1, _now_id())
        elif event_id <= self._last_id:
            raise ValueError(f"event id {event_id} is not after {self._last_id}")
        self._last_id = event_id
        frame = encode_frame(event_id, event_name, data)
        direct: bytes | None = None
        targets = frozenset(recipient_ids)
        ring = self._ring
        if self.replay:
            if len(ring) >= self.replay:
                self._floor = ring.popleft()[0]
            ring.append((event_id, frame, targets))
        else:
            self._floor = event_id
        by_recipient = self._by_recipient
        limit = self.queue_limit
        written = 0
        slow: list[Connection] | None = None
        # sockets to write to straight (nothing queued in their transports), in a large publish,
        # written a block at a time so that the first desktops do not wait for the whole list
        straight = self._count >= SHARED_WRITES
        fds: list[int] = []
        fd_conns: list[Connection] = []
        for recipient_id in targets:
            conns = by_recipient.get(recipient_id)
            if conns is None:
                continue
            for conn in conns:
                transport = conn.transport
                if transport is not None:
                    if transport.is_closing():
                        continue
                    queued = transport.get_write_buffer_size()
                    if queued > WRITE_LIMIT:
                        if slow is None:
                            slow = []
                        slow.append(conn)
                        continue
                    conn._busy = True
                    written += 1
                    if direct is None:
                        direct = chunk(frame)
                    if straight and not queued and conn.fd >= 0:
                        fds.append(conn.fd)
                        fd_conns.append(conn)
                        if len(fds) == WRITE_BLOCK:
                            self._write_straight(fds, fd_conns, direct)
                            fds, fd_conns = [], []
                        continue
                    transport.write(direct)
                    continue
                buffer = conn.buffer
                if len(buffer) >= limit:
                    if slow is None:
                        slow = []
                    slow.append(conn)
                    continue
                buffer.append(frame)
                conn._busy = True
                waiter = conn._waiter
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
                written += 1
        if fds and direct is not None:
            self._write_straight(fds, fd_conns, direct)
        if slow:
            for conn in slow:
                self._drop(conn, "slow consumer")
        return written, len(targets)

    def _write_straight(self, fds: list[int], conns: list[Connection], data: bytes) -> None:
        """`data` to the sockets `fds` of `conns` (shared among the writer threads); what a socket
        did not take whole goes to its transport, which queues it (or finds the connection broken)."""
        for i, done in self.writers.write(fds, data):
            transport = conns[i].transport
            if transport is not None:
                transport.write(data[done:])

    def rebase(self, last_id: int) -> None:
        """Number events from `last_id` on (a gateway following a live stream): the ring is
        emptied, so a desktop resuming from an earlier id is told to reset."""
        self._ring.clear()
        self._last_id = self._floor = last_id

    # -- connections --------------------------------------------------------------------------

    def connect(self, recipient_id: str, last_event_id: str | None = None) -> Connection:
        """Open a connection; frames the client missed since `last_event_id` are already buffered.

        No `last_event_id` (a new client) replays nothing. One older than the ring, one that is
        not ours, or one from the future (a clock set back) first gets a `reset` event, then
        everything still buffered for the recipient.
        """
        conn = Connection(recipient_id)
        since = self._resume_point(last_event_id)
        if since is not None:
            backlog: list[bytes] = []
            if since < self._floor or since > self._last_id:
                backlog.append(encode_frame(self._floor, "reset", {"reason": "missed"}))
                since = self._floor
            replayed: list[bytes] = []
            for event_id, frame, targets in reversed(self._ring):
                if event_id <= since:
                    break
                if recipient_id in targets:
                    replayed.append(frame)
            replayed.reverse()
            conn.buffer.extend(backlog + replayed)
        self._by_recipient.setdefault(recipient_id, []).append(conn)
        self._count += 1
        self._ensure_heartbeat()
        return conn

    def disconnect(self, conn: Connection) -> None:
        self._forget(conn)
        conn._close("closed")

    def _drop(self, conn: Connection, reason: str) -> None:
        log.info("stream: dropping a connection of %s (%s)", conn.recipient_id, reason)
        self._forget(conn)
        conn._close(reason)

    def _forget(self, conn: Connection) -> None:
        conns = self._by_recipient.get(conn.recipient_id)
        if conns is None:
            return
        try:
            conns.remove(conn)
        except ValueError:
            return
        self._count -= 1
        if not conns:
            del self._by_recipient[conn.recipient_id]

    @staticmethod
    def _resume_point(last_event_id: str | None) -> int | None:
        if last_event_id is None or not last_event_id.strip():
            return None
        value = last_event_id.strip()
        return int(value) if value.isascii() and value.isdigit() else -1

    # -- heartbeats and shutdown ----------------------------------------------------------------

    def beat(self) -> int:
        """One heartbeat pass: a comment frame to every connection that wrote nothing since the
        last pass. Returns how many got one."""
        sent = 0
        slow: list[Connection] = []
        for conns in self._by_recipient.values():
            for conn in conns:
                transport = conn.transport
                if transport is not None:
                    if transport.is_closing():
                        continue
                    if transport.get_write_buffer_size() > WRITE_LIMIT:
                        slow.append(conn)
                    elif not conn._busy:
                        transport.write(HEARTBEAT_CHUNK)
                        sent += 1
                    conn._busy = False
                    continue
                if conn._busy or conn.buffer:
                    conn._busy = False
                    if len(conn.buffer) >= self.queue_limit:
                        slow.append(conn)
                    continue
                conn.buffer.append(HEARTBEAT)
                conn._wake()
                sent += 1
        for conn in slow:
            self._drop(conn, "slow consumer")
        return sent

    def _ensure_heartbeat(self) -> None:
        if self.heartbeat <= 0 or (self._beats is not None and not self._beats.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a synchronous caller): nothing to keep alive
        self._beats = loop.create_task(self._beat_forever())

    async def _beat_forever(self) -> None:
        while self._count:
            await asyncio.sleep(self.heartbeat)
            self.beat()

    def close(self) -> None:
        """End every connection (their writers finish their responses) and stop heartbeats."""
        for conns in list(self._by_recipient.values()):
            for conn in list(conns):
                self.disconnect(conn)
        if self._beats is not None:
            self._beats.cancel()
            self._beats = None
        self.writers.close()
