"""The stream hub's own cost per delivery, beside the bare system call it cannot avoid.

A live event reaches each desktop as one write of the same encoded chunk to its socket. On loopback
that write costs the kernel about ten microseconds (the receiving side's TCP work runs in the
sender's call), so what a server spends of its own per delivery is what is left above a loop that
does nothing but that write. This suite measures both on the same connections, in one process:

- `hub_publish_1_writer`: `StreamHub.publish` of one event to every connection, written from the
  event loop's thread alone (`WARTA_STREAM_WRITERS=1`);
- `hub_publish_N_writers`: the same with a writer thread per core (the default), where the machine
  has more than one;
- `os_write_loop`: the floor, `os.write` of a chunk of the same size to each socket in a Python
  loop, nothing else.

The connections are real TCP connections on 127.0.0.1 to this process's uvloop server, attached to
the hubs as a served desktop's connection is. Their other ends are held by client processes (up to
2,500 connections each) that read and discard what arrives, so the sockets never fill. The three
are timed in turn, round after round (`WARTA_BENCH_HUB_ROUNDS`, default 7), each round one publish
to `WARTA_BENCH_HUB` connections (default 10,000). The figures are per delivery: the median round's
time divided by the connections, in microseconds, and each round's; `own_us` is the hub's median
minus the floor's. A publish's wall time on a machine whose cores the client processes share is
noisy, so compare within one run.

    python -m bench hub
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import selectors
import socket
import statistics
import time
from pathlib import Path
from typing import Any

from bench.harness import save
from warta.config import Settings
from warta.delivery.stream import StreamHub, chunk, encode_frame, write_each

CONNECTIONS = 10_000
ROUNDS = 7
PER_CLIENT = 2_500  # connections per client process: a process may hold about 20,000 open files
EVENT = {"headline": "x" * 400, "summary": "y" * 150, "url": "https://wire.example/releases/rel_1/en"}


def _client(port: int, n: int, ready: Any) -> None:
    """Hold `n` connections to the server and read whatever arrives until they close."""
    selector = selectors.DefaultSelector()
    for _ in range(n):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    ready.set()
    while selector.get_map():
        for key, _ in selector.select(1.0):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                if not sock.recv(1 << 16):
                    selector.unregister(sock)
                    sock.close()
            except BlockingIOError:
                pass
            except OSError:
                selector.unregister(sock)
                sock.close()


class _Accepted(asyncio.Protocol):
    def __init__(self, transports: list[asyncio.Transport]) -> None:
        self.transports = transports

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transports.append(transport)  # type: ignore[arg-type]  # uvloop's TCPTransport


def _hub(writers: int, transports: list[asyncio.Transport]) -> tuple[StreamHub, list[str]]:
    settings = Settings(
        data_dir=Path("."), database_url="sqlite://", stream_heartbeat=0, stream_writers=writers
    )
    hub = StreamHub(settings)
    ids = []
    for i, transport in enumerate(transports):
        rid = f"rcp_{i:020d}"
        hub.connect(rid).attach(transport)
        ids.append(rid)
    return hub, ids


async def _measure(n: int, rounds: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    transports: list[asyncio.Transport] = []
    server = await loop.create_server(lambda: _Accepted(transports), "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    context = multiprocessing.get_context("spawn")
    clients = []
    for start in range(0, n, PER_CLIENT):
        ready = context.Event()
        proc = context.Process(target=_client, args=(port, min(PER_CLIENT, n - start), ready), daemon=True)
        proc.start()
        clients.append((proc, ready))
    try:
        while len(transports) < n or not all(ready.is_set() for _, ready in clients):
            await asyncio.sleep(0.05)
        cores = max(1, min(4, os.cpu_count() or 1))
        sides: dict[str, Any] = {"hub_publish_1_writer": _hub(1, transports)}
        if cores > 1:
            sides[f"hub_publish_{cores}_writers"] = _hub(cores, transports)
        fds = [t.get_extra_info("socket").fileno() for t in transports]
        floor = chunk(encode_frame(time.time_ns() // 1000, "release", EVENT))  # the hub's chunk, in size
        times: dict[str, list[float]] = {key: [] for key in [*sides, "os_write_loop"]}
        gc.collect()
        gc.freeze()
        for _ in range(rounds):
            for key, (hub, ids) in sides.items():
                await asyncio.sleep(0.3)  # the clients read what the last round wrote
                started = time.perf_counter()
                written, _ = hub.publish("release", EVENT, ids)
                times[key].append(time.perf_counter() - started)
                assert written == n, f"{key}: {written} of {n} connections written"
            await asyncio.sleep(0.3)
            started = time.perf_counter()
            write_each(fds, 0, n, floor)
            times["os_write_loop"].append(time.perf_counter() - started)
        for hub, _ in sides.values():
            hub.close()
    finally:
        for transport in transports:
            transport.abort()
        server.close()
        for proc, _ in clients:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
    results: dict[str, Any] = {}
    for key, samples in times.items():
        per = [s / n * 1e6 for s in samples]
        results[key] = {
            "n": n,
            "per_s": round(n / statistics.median(samples)),
            "p50_ms": round(statistics.median(samples) * 1000, 2),
            "max_ms": round(max(samples) * 1000, 2),
            "us_per_delivery": round(statistics.median(per), 2),
            "us_rounds": [round(x, 2) for x in per],
            "rounds": rounds,
            "chunk_bytes": len(floor),
        }
        if key in sides:
            results[key]["writer_threads"] = sides[key][0].writers.threads
    base = results["os_write_loop"]["us_per_delivery"]
    for key in sides:
        results[key]["own_us"] = round(results[key]["us_per_delivery"] - base, 2)
    return results


def run() -> dict[str, Any]:
    n = int(os.environ.get("WARTA_BENCH_HUB", CONNECTIONS))
    rounds = int(os.environ.get("WARTA_BENCH_HUB_ROUNDS", ROUNDS))
    import uvloop

    started = time.perf_counter()
    results = uvloop.run(_measure(n, rounds))
    for key, result in results.items():
        print(f"  {key}: {result}", flush=True)
    save("hub", {"results": results, "took_s": round(time.perf_counter() - started)})
    return results
