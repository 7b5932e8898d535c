"""The stream hub on its own, and the SSE endpoint over real sockets with real streaming clients."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from warta.config import Settings
from warta.delivery import stream as stream_hub
from warta.delivery.base import CHANNELS, EndpointView, Job, RecipientView
from warta.delivery.channels.stream import StreamChannel
from warta.delivery.stream import HEARTBEAT, Connection, StreamHub, chunk
from warta.editions.render import wire_text
from warta.editions.rendered import RenderedEdition
from warta.model import Edition, Organisation, Release, ReleaseVersion
from warta.web import stream as stream_web
from warta.web.server import http_protocol

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop

T = TypeVar("T")
SETTINGS = Settings(data_dir=Path("."), database_url="sqlite://", stream_replay=50, stream_heartbeat=0)


def hub(**changes: Any) -> StreamHub:
    return StreamHub(replace(SETTINGS, **changes))


def events(data: bytes) -> list[dict[str, Any]]:
    """Parse SSE bytes into dicts of their fields (comments kept as {"comment": ...})."""
    out = []
    for block in data.decode().split("\n\n"):
        if not block:
            continue
        fields: dict[str, Any] = {}
        for line in block.split("\n"):
            name, _, value = line.partition(": ")
            fields[name or "comment"] = value
        if "data" in fields:
            fields["data"] = json.loads(fields["data"])
        out.append(fields)
    return out


def test_frame_is_encoded_once_and_shared_by_every_target() -> None:
    h = hub()
    a1, a2, b, c = h.connect("a"), h.connect("a"), h.connect("b"), h.connect("c")
    assert h.publish("release", {"headline": "Naik 5% — ünïcode"}, ["a", "b", "nobody"]) == (3, 3)
    assert a1.buffer[0] is a2.buffer[0] is b.buffer[0]
    assert c.buffer == []
    [event] = events(a1.take())
    assert event["event"] == "release" and event["data"] == {"headline": "Naik 5% — ünïcode"}
    assert int(event["id"]) == h.last_id
    assert "\n" not in a2.buffer[0].decode().split("data: ", 1)[1].rstrip("\n")


def test_ids_increase_and_are_time_based() -> None:
    h = hub()
    before = time.time_ns() // 1000
    conn = h.connect("a")
    for i in range(5):
        h.publish("release", {"n": i}, ["a"])
    ids = [int(e["id"]) for e in events(conn.take())]
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert ids[0] >= before
    later = hub()  # a restarted process starts above everything the earlier one issued
    later_conn = later.connect("a")
    later.publish("release", {}, ["a"])
    assert int(events(later_conn.take())[0]["id"]) > ids[-1]


def test_several_connections_and_disconnect() -> None:
    h = hub()
    first, second = h.connect("a"), h.connect("a")
    assert h.connections == 2 and h.connected("a") == 2
    h.disconnect(first)
    assert first.closed and h.connected("a") == 1
    assert h.publish("release", {}, ["a"]) == (1, 1)
    assert first.buffer == [] and len(second.buffer) == 1
    h.disconnect(second)
    h.disconnect(second)  # twice is harmless
    assert h.connections == 0 and h.publish("release", {}, ["a"]) == (0, 1)


def test_replay_after_last_event_id_only_for_that_recipient() -> None:
    h = hub()
    watcher = h.connect("a")
    h.publish("release", {"n": 1}, ["a"])
    h.publish("release", {"n": 2}, ["b"])
    h.publish("release", {"n": 3}, ["a", "b"])
    h.publish("withdrawal", {"n": 4}, ["a"])
    seen = events(watcher.take())
    resumed = h.connect("a", seen[0]["id"])
    assert [e["data"]["n"] for e in events(resumed.take())] == [3, 4]
    assert h.connect("a", seen[-1]["id"]).buffer == []
    assert h.connect("a").buffer == []  # a new client starts from now
    assert [e["data"]["n"] for e in events(h.connect("b", seen[0]["id"]).take())] == [2, 3]


def test_too_old_or_foreign_id_gets_reset_then_everything_buffered() -> None:
    h = hub(stream_replay=3)
    for n in range(5):
        h.publish("release", {"n": n}, ["a"])
    for stale in ("1", "garbage", str(h.last_id + 10**9)):
        got = events(h.connect("a", stale).take())
        assert got[0]["event"] == "reset"
        assert [e["data"]["n"] for e in got[1:]] == [2, 3, 4]
        # the reset carries the id of the last event lost, so resuming from it loses nothing
        resumed = events(h.connect("a", got[0]["id"]).take())
        assert [e["data"]["n"] for e in resumed] == [2, 3, 4]


def test_id_from_before_a_restart_resets() -> None:
    old = hub()
    old.publish("release", {}, ["a"])
    time.sleep(0.002)
    new = hub()
    new.publish("release", {"n": 1}, ["a"])
    got = events(new.connect("a", str(old.last_id)).take())
    assert [e["event"] for e in got] == ["reset", "release"]


def test_replay_buffer_is_bounded() -> None:
    h = hub(stream_replay=10)
    first_id = None
    for n in range(100):
        h.publish("release", {"n": n}, ["a"])
        first_id = first_id or h.last_id
    assert len(h._ring) == 10
    got = events(h.connect("a", str(first_id)).take())
    assert got[0]["event"] == "reset" and [e["data"]["n"] for e in got[1:]] == list(range(90, 100))
    none = hub(stream_replay=0)
    none.publish("release", {}, ["a"])
    assert [e["event"] for e in events(none.connect("a", "1").take())] == ["reset"]


def test_slow_consumer_is_dropped_and_others_carry_on() -> None:
    h = StreamHub(SETTINGS, queue_limit=5)
    slow, fast = h.connect("a"), h.connect("a")
    for n in range(8):
        h.publish("release", {"n": n}, ["a"])
        fast.take()
    assert slow.closed and slow.reason == "slow consumer" and slow.buffer == []
    assert not fast.closed and h.connected("a") == 1
    assert h.publish("release", {}, ["a"]) == (1, 1)


def test_slow_consumer_on_a_direct_transport_is_dropped_and_others_carry_on() -> None:
    """The direct path: a desktop whose socket is not read fills its transport's buffer; past
    WRITE_LIMIT it is dropped (its writer then ends the response) while a desktop that reads gets
    every event."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        h = hub()
        stalled, stalled_peer = socket.socketpair()
        quick, quick_peer = socket.socketpair()
        quick_peer.setblocking(False)
        stalled_transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, stalled)
        quick_transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, quick)
        slow, fast = h.connect("a"), h.connect("a")
        slow.attach(stalled_transport)
        fast.attach(quick_transport)
        pad = "x" * 60_000
        received = bytearray()
        published = 0
        while not slow.closed and published < 400:  # 24 MB: far past the limit and any socket buffer
            h.publish("release", {"n": published, "pad": pad}, ["a"])
            published += 1
            await asyncio.sleep(0)
            with contextlib.suppress(BlockingIOError):
                while chunk := quick_peer.recv(1 << 20):
                    received += chunk
        assert slow.closed and slow.reason == "slow consumer"
        assert not fast.closed and h.connected("a") == 1
        waiting = stalled_transport.get_write_buffer_size()
        for _ in range(3):  # nothing more is written to the dropped one
            h.publish("release", {"n": published, "pad": pad}, ["a"])
            published += 1
        assert stalled_transport.get_write_buffer_size() == waiting
        deadline = time.monotonic() + 10
        while received.count(b"event: release") < published and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            with contextlib.suppress(BlockingIOError):
                while chunk := quick_peer.recv(1 << 20):
                    received += chunk
        assert received.count(b"event: release") == published
        for sock in (stalled_peer, quick_peer):
            sock.close()
        quick_transport.close()
        stalled_transport.abort()

    asyncio.run(main())


def test_heartbeat_only_on_idle_connections() -> None:
    h = hub()
    idle, busy = h.connect("a"), h.connect("b")
    h.beat()  # a fresh connection has just been written to
    assert idle.buffer == [] and busy.buffer == []
    h.publish("release", {}, ["b"])
    busy.take()
    assert h.beat() == 1
    assert idle.take() == HEARTBEAT and busy.buffer == []
    assert h.beat() == 2  # nothing since the last pass on either
    assert idle.take() == HEARTBEAT == busy.take()


def test_heartbeat_timer_and_writer_wakeups() -> None:
    async def scenario() -> list[bytes | None]:
        h = hub(stream_heartbeat=0.05)
        conn = h.connect("a")
        got: list[bytes | None] = []
        got.append(await asyncio.wait_for(conn.next(), 1))  # a heartbeat after one idle pass
        h.publish("release", {"n": 1}, ["a"])
        h.publish("release", {"n": 2}, ["a"])
        got.append(await asyncio.wait_for(conn.next(), 1))  # both frames in one piece
        waiting = asyncio.ensure_future(conn.next())
        await asyncio.sleep(0)
        h.close()
        got.append(await asyncio.wait_for(waiting, 1))
        return got

    # each step has a deadline of its own (1 s, twenty heartbeat periods): the writer is woken by the
    # heartbeat timer, by a publish and by the close, never left waiting for the next period
    heartbeat, frames, closed = asyncio.run(scenario())
    assert heartbeat == HEARTBEAT
    assert frames is not None and [e["data"]["n"] for e in events(frames)] == [1, 2]
    assert closed is None


# -- writes shared among threads -----------------------------------------------------------------


async def _attached(h: StreamHub, n: int) -> list[tuple[Connection, asyncio.Transport, socket.socket]]:
    """`n` connections of recipients r0…r{n-1}, each attached to a transport over a socket pair;
    with their peers (non-blocking), which read what the hub writes."""
    loop = asyncio.get_running_loop()
    out = []
    for i in range(n):
        ours, peer = socket.socketpair()
        peer.setblocking(False)
        transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
        conn = h.connect(f"r{i}")
        conn.attach(transport)  # type: ignore[arg-type]
        out.append((conn, transport, peer))
    return out


async def _read_all(
    peer: socket.socket, until: Callable[[bytes], bool], timeout: float = 10.0, already: bytes = b""
) -> bytes:
    """`already` (read before) and what `peer` reads next, once `until` holds for it all."""
    got = bytearray(already)
    deadline = time.monotonic() + timeout
    while not until(bytes(got)) and time.monotonic() < deadline:
        with contextlib.suppress(BlockingIOError):
            while data := peer.recv(1 << 20):
                got += data
        await asyncio.sleep(0.005)
    return bytes(got)


def _sse_of_chunks(data: bytes) -> list[dict[str, Any]]:
    """The events in an HTTP/1.1 chunked body (the direct path writes each frame as a chunk)."""
    body = bytearray()
    while data:
        size, _, rest = data.partition(b"\r\n")
        n = int(size, 16)
        body += rest[:n]
        assert rest[n : n + 2] == b"\r\n", "a chunk is whole"
        data = rest[n + 2 :]
    return events(bytes(body))


@pytest.mark.parametrize("writers", [1, 2])
def test_a_large_publish_is_written_straight_to_the_sockets(writers: int) -> None:
    """Past SHARED_WRITES connections the hub writes to the sockets itself, shared with a writer
    thread where there are two: every desktop still gets the event exactly once, whole; a desktop
    whose peer has gone away is found out by its transport and the others are not disturbed."""

    async def main() -> None:
        h = hub(stream_writers=writers)
        links = await _attached(h, 300)
        gone_conn, gone_transport, gone_peer = links[7]
        gone_peer.close()
        before = {t.ident for t in threading.enumerate() if t.name.startswith("warta-stream-writer")}
        assert h.publish("release", {"headline": "Serentak"}, [f"r{i}" for i in range(300)]) == (300, 300)
        threads = {t.ident for t in threading.enumerate() if t.name.startswith("warta-stream-writer")}
        assert len(threads - before) == writers - 1
        for conn, _, peer in links:
            if conn is gone_conn:
                continue
            got = await _read_all(peer, lambda b: b.endswith(b"\n\n\r\n"))
            [event] = _sse_of_chunks(got)
            assert event["event"] == "release" and event["data"] == {"headline": "Serentak"}
            assert int(event["id"]) == h.last_id
        await asyncio.sleep(0.05)
        assert gone_transport.is_closing()
        h.close()
        for _, transport, peer in links:
            transport.abort()
            peer.close()

    asyncio.run(main())


@pytest.mark.parametrize("block", [stream_hub.WRITE_BLOCK, 64])
def test_shared_writes_keep_each_desktops_order(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection with bytes still queued in its transport is written through the transport, and
    a socket that takes only part of a frame has the rest queued behind it: each desktop reads its
    events whole and in order (also when a publish is written in several blocks)."""
    monkeypatch.setattr(stream_hub, "WRITE_BLOCK", block)

    async def main() -> None:
        h = hub(stream_writers=2)
        links = await _attached(h, 300)
        ids = [f"r{i}" for i in range(300)]
        _, queued_transport, queued_peer = links[3]
        _, tight_transport, tight_peer = links[5]
        # r3: its transport holds a backlog (the peer reads nothing for now)
        h.publish("release", {"n": 0, "pad": "q" * 400_000}, ["r3"])
        assert queued_transport.get_write_buffer_size() > 0
        # the desktop reads a little while the event loop is busy: its socket has room again, but
        # the transport's backlog must still go before anything newer
        head3 = queued_peer.recv(65_536)
        # r5: its socket buffer is nearly full but its transport holds nothing, so the thread's
        # write of the next frame can only go part of the way
        tight = socket.socket(fileno=os.dup(tight_transport.get_extra_info("socket").fileno()))
        tight.setblocking(False)
        filler = bytearray()
        block = b": f\n\n" * 512
        try:
            with contextlib.suppress(BlockingIOError):
                while True:
                    filler += block[: tight.send(block)]
        finally:
            tight.close()
        head = tight_peer.recv(16_384)  # room for part of a frame, not all of it
        assert tight_transport.get_write_buffer_size() == 0
        pad = "p" * 50_000
        for n in (1, 2, 3):
            h.publish("release", {"n": n, "pad": pad}, ids)
        sent = sum(len(chunk(frame)) for _, frame, _ in list(h._ring)[-3:])
        # the thread wrote part of the first frame; the rest, and the next two, wait in the transport
        assert 0 < tight_transport.get_write_buffer_size() < sent
        expected = {i: [0, 1, 2, 3] if i == 3 else [1, 2, 3] for i in range(300)}
        already = {3: head3, 5: head}
        for i, numbers in expected.items():
            got = await _read_all(
                links[i][2],
                lambda b, k=len(numbers): b.count(b"event: release") == k and b.endswith(b"\n\n\r\n"),
                already=already.get(i, b""),
            )
            if i == 5:
                assert got.startswith(filler)
                got = got[len(filler) :]
            assert [e["data"]["n"] for e in _sse_of_chunks(got)] == numbers, i
        h.close()
        for _, transport, peer in links:
            transport.abort()
            peer.close()

    asyncio.run(main())


def test_fan_out_reaches_every_target() -> None:
    """One publish to 5,000 connections writes the event to each of them, once. What that costs per
    connection is measured by the hub benchmark (`bench/hub.py`), against a bare `os.write` loop."""
    h = hub()
    conns: list[Connection] = [h.connect(f"r{i}") for i in range(5000)]
    ids = [c.recipient_id for c in conns]
    written, targeted = h.publish("release", {"headline": "x" * 300}, ids)
    assert (written, targeted) == (5000, 5000)
    assert all(c.take().count(b"event: release\n") == 1 for c in conns)


# -- the channel ----------------------------------------------------------------------------------

RELEASED = datetime(2026, 11, 27, 1, 30, tzinfo=UTC)


def bundle(lang: str, embargo_until: datetime | None = None) -> RenderedEdition:
    settings = replace(SETTINGS, base_url="https://wire.example")
    org = Organisation(id="org_1", name="Syarikat Contoh Berhad", slug="contoh", about="", verified=True)
    release = Release(
        id="rel_1",
        org_id=org.id,
        submitted_by="usr_1",
        status="published",
        language="ms",
        dateline_city="Kuala Lumpur",
        dateline_country="MY",
        sectors=["technology"],
        release_at=RELEASED,
        embargo_until=embargo_until,
        public_at=embargo_until or RELEASED,
        version=1,
        created_at=RELEASED,
        updated_at=RELEASED,
    )
    version = ReleaseVersion(
        release_id=release.id, version=1, headline="H", body_html="<p>B</p>", contact={}, media=[]
    )
    edition = Edition(
        id=f"edn_{lang}",
        release_id=release.id,
        version=1,
        lang=lang,
        headline=f"Tajuk {lang}",
        summary="Ringkasan",
        body_html="<p>Badan</p>",
        about="",
        origin="original",
        status="published",
        created_at=RELEASED,
        updated_at=RELEASED,
    )
    text = wire_text(settings, release, version, edition, org)
    return RenderedEdition(settings, release, version, edition, org, text, [edition])


def job(b: RenderedEdition, rid: str, kind: str = "edition", embargoed: bool = False) -> Job:
    async def commit_point() -> None:
        raise AssertionError("the stream has no commit point")

    return Job(
        delivery_id=f"dlv_{rid}_{kind}",
        channel="stream",
        kind=kind,
        lane="stream",
        attempt=1,
        embargoed=embargoed,
        recipient=recipient(rid, rid),
        bundle=b,
        commit_point=commit_point,
    )


def test_channel_publishes_each_edition_once_to_all_its_recipients() -> None:
    assert CHANNELS["stream"] is StreamChannel
    channel = StreamChannel(SETTINGS)
    assert channel.applies_to(recipient("r1", "x"))
    assert not channel.applies_to(replace(recipient("r1", "x"), endpoints=()))
    assert not channel.applies_to(replace(recipient("r1", "x"), kind="outlet"))
    assert channel.lane(recipient("r1", "x").endpoints[0]) == "stream"
    hub = channel.hub
    conns = {rid: hub.connect(rid) for rid in ("r1", "r2", "r3", "r4")}
    ms, en = bundle("ms"), bundle("en")
    embargoed = bundle("ms", embargo_until=RELEASED + timedelta(hours=2))
    jobs = [
        job(ms, "r1"),
        job(ms, "r2"),
        job(en, "r3"),
        job(embargoed, "r4", embargoed=True),
        job(ms, "r1", kind="withdrawal"),
        job(ms, "r2", kind="digest"),
    ]
    results = asyncio.run(channel.send(jobs))
    assert [r.outcome for r in results] == ["delivered"] * 5 + ["failed"]
    assert len(hub._ring) == 4  # ms edition, en edition, embargoed copy, withdrawal
    one, two = events(conns["r1"].take()), events(conns["r2"].take())
    assert [e["event"] for e in one] == ["release", "withdrawal"] and two[0] == one[0]
    release = one[0]["data"]
    assert release == {
        "release_id": "rel_1",
        "edition_id": "edn_ms",
        "version": 1,
        "lang": "ms",
        "dir": "ltr",
        "headline": "Tajuk ms",
        "summary": "Ringkasan",
        "dateline": ms.text.dateline,
        "sectors": ms.text.sector_names,
        "url": "https://wire.example/releases/rel_1/ms",
        "ninjs_url": "https://wire.example/api/v1/releases/rel_1/editions/ms",
        "organisation": "Syarikat Contoh Berhad",
        "released_at": "2026-11-27T01:30:00Z",
        "embargoed": False,
        "embargoed_until": None,
    }
    assert [e["data"]["lang"] for e in events(conns["r3"].take())] == ["en"]
    [early] = events(conns["r4"].take())
    assert early["data"]["embargoed"] is True and early["data"]["embargoed_until"] == "2026-11-27T03:30:00Z"
    asyncio.run(channel.stop())
    assert all(conn.closed for conn in conns.values())


# -- over HTTP ------------------------------------------------------------------------------------


def recipient(rid: str, name: str) -> RecipientView:
    return RecipientView(
        id=rid,
        kind="desktop",
        name=name,
        country="MY",
        languages=("en",),
        sectors=(),
        embargo_trusted=False,
        locale="en",
        timezone="UTC",
        endpoints=(EndpointView(f"end-{rid}", "stream", None, None, f"tok-{rid}"),),
    )


@dataclass
class Served:
    url: str
    hub: StreamHub
    loop: asyncio.AbstractEventLoop
    direct: bool = False  # the hub writes to the connections' transports itself

    def attached(self) -> list[bool]:
        return self.call(
            lambda: [c.transport is not None for cs in self.hub._by_recipient.values() for c in cs]
        )

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the server's event loop (the hub belongs to it) and return its result."""
        done: concurrent.futures.Future[T] = concurrent.futures.Future()
        self.loop.call_soon_threadsafe(lambda: done.set_result(fn()))
        return done.result(timeout=5)

    def publish(self, event: str, data: dict[str, Any], targets: list[str]) -> tuple[int, int]:
        return self.call(lambda: self.hub.publish(event, data, targets))

    async def wait_connected(self, rid: str, count: int = 1) -> None:
        deadline = time.monotonic() + 5
        while self.call(lambda: self.hub.connected(rid)) != count:
            assert time.monotonic() < deadline, f"{rid} never had {count} connections"
            await asyncio.sleep(0.005)


@pytest.fixture(params=["router", "shortcut", "direct"])
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    """The endpoint through FastAPI's router, through the shortcut middleware, and served as
    `warta serve` serves it: with the protocol that lets the hub write to transports directly."""
    people = {f"tok-{rid}": recipient(rid, name) for rid, name in (("r1", "Desk One"), ("r2", "Desk Two"))}
    people["tok-r3"] = recipient("r3", "Desk Three")
    app = FastAPI()
    app.state.settings = SETTINGS
    app.state.stream_hub = StreamHub(replace(SETTINGS, stream_heartbeat=30))
    app.state.stream_auth = people.get
    app.include_router(stream_web.router)
    if request.param in ("shortcut", "direct"):  # `warta serve` and `warta gateway` add it
        app.add_middleware(stream_web.StreamShortcut)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    protocol = http_protocol() if request.param == "direct" else "auto"
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", http=protocol
    )
    config.timeout_graceful_shutdown = 1
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield Served(f"http://127.0.0.1:{port}", app.state.stream_hub, loop, request.param == "direct")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        hub = app.state.stream_hub

        async def close_hub() -> None:  # its heartbeat task ends with it, not pending in a closed loop
            hub.close()
            await asyncio.sleep(0)

        loop.run_until_complete(close_hub())
        loop.close()


class Reader:
    """One SSE client: a task reading the stream and queueing parsed events."""

    def __init__(self, client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None) -> None:
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.response: asyncio.Future[httpx.Response] = asyncio.get_running_loop().create_future()
        self.task = asyncio.ensure_future(self._run(client, url, headers or {}))

    async def _run(self, client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
        async with client.stream("GET", url, headers=headers) as response:
            self.response.set_result(response)
            fields: dict[str, Any] = {}
            async for line in response.aiter_lines():
                if line:
                    name, _, value = line.partition(":")
                    fields[name or "comment"] = value.removeprefix(" ")
                elif fields:
                    if "data" in fields:
                        fields["data"] = json.loads(fields["data"])
                    self.events.put_nowait(fields)
                    fields = {}

    async def next(self, timeout: float = 2) -> dict[str, Any]:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def test_sse_endpoint_heartbeats_idle_connections(served: Served) -> None:
    """An idle desktop gets heartbeat comments (so proxies keep it open) and events after them,
    whether the hub writes to its transport directly or through its writer."""

    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=httpx.Timeout(5, read=None)) as client:
            reader = Reader(client, f"{served.url}/api/v1/stream?token=tok-r1")
            try:
                assert (await reader.next())["event"] == "hello"
                await served.wait_connected("r1")
                assert served.attached() == [served.direct]
                assert served.call(served.hub.beat) == 0  # just written to: no heartbeat yet
                assert served.call(served.hub.beat) == 1
                assert await reader.next() == {"comment": "hb"}
                served.publish("release", {"headline": "after the beat"}, ["r1"])
                assert (await reader.next())["data"] == {"headline": "after the beat"}
            finally:
                await reader.close()

    asyncio.run(asyncio.wait_for(scenario(), 10))


def test_sse_endpoint_fans_out_and_resumes(served: Served) -> None:
    asyncio.run(asyncio.wait_for(fan_out_and_resume(served), 10))


async def fan_out_and_resume(served: Served) -> None:
    stream = f"{served.url}/api/v1/stream"
    async with httpx.AsyncClient(timeout=httpx.Timeout(5, read=None)) as client:
        one = Reader(client, stream, {"Authorization": "Bearer tok-r1"})
        two = Reader(client, f"{stream}?token=tok-r2")
        three = Reader(client, f"{stream}?token=tok-r3")
        readers = [one, two, three]
        try:
            response = await one.response
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            assert response.headers["x-accel-buffering"] == "no"
            hello = await one.next()
            assert hello["event"] == "hello" and hello["retry"] == "3000"
            assert hello["data"] == {"recipient": "Desk One"}
            assert (await two.next())["data"] == {"recipient": "Desk Two"}
            assert (await three.next())["event"] == "hello"
            for rid in ("r1", "r2", "r3"):
                await served.wait_connected(rid)
            assert served.attached() == [served.direct] * 3

            # pushed at once: the readers wait 2 s, the next heartbeat is 30 s away
            assert served.publish("release", {"headline": "Kenaikan harga"}, ["r1", "r2"]) == (2, 2)
            first, second = await one.next(), await two.next()
            assert first == second and first["event"] == "release"
            assert first["data"] == {"headline": "Kenaikan harga"}
            served.publish("release", {"headline": "only three"}, ["r3"])
            assert (await three.next())["data"] == {"headline": "only three"}  # not the one before it

            await one.close()
            await served.wait_connected("r1", 0)  # the server noticed the client leave
            served.publish("release", {"headline": "missed"}, ["r1"])
            served.publish("withdrawal", {"headline": "missed too"}, ["r1", "r2"])
            again = Reader(client, f"{stream}?token=tok-r1", {"Last-Event-ID": first["id"]})
            readers.append(again)
            assert (await again.next())["event"] == "hello"
            replayed = [await again.next(), await again.next()]
            assert [e["data"]["headline"] for e in replayed] == ["missed", "missed too"]
            assert replayed[1]["event"] == "withdrawal"
            by_query = Reader(client, f"{stream}?token=tok-r1&last_event_id={replayed[0]['id']}")
            readers.append(by_query)
            assert (await by_query.next())["event"] == "hello"
            assert (await by_query.next())["data"]["headline"] == "missed too"
            assert (await two.next())["event"] == "withdrawal"
            await served.wait_connected("r1", 2)  # two desks on one token
        finally:
            for reader in readers:
                await reader.close()


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("", {}),
        ("?token=nope", {}),
        ("", {"Authorization": "Bearer nope"}),
        ("", {"Authorization": "Basic x"}),
    ],
)
def test_sse_endpoint_refuses_bad_tokens(served: Served, query: str, headers: dict[str, str]) -> None:
    response = httpx.get(f"{served.url}/api/v1/stream{query}", headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.json()["error"]["status"] == 401
    assert response.json()["error"]["code"] == "unauthorised"


def test_desk_page_renders(served: Served) -> None:
    response = httpx.get(f"{served.url}/desk?token=abc", timeout=5)
    assert response.status_code == 200
    page = response.text
    assert '<script src="/static/desk.js" defer></script>' in page
    assert 'id="desk-items"' in page and 'id="desk-status"' in page
    assert "abc" not in page  # the token stays in the address bar, not in the page
