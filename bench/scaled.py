"""End to end, embedded against scaled mode: one release approved for the published reach — journalists
by email, outlets by webhook, desktops on the live stream, made by `bench.audience.published_reach`
(seeded; 90 countries, 15 languages; outlets share 500 webhook hosts, each a loopback address) —
and the time from the editor's approval to the last delivery at the receivers. Email goes into
Postfix's `smtp-sink` (`bench.anchors`), which costs the machine far less than a Python sink.

Embedded: one `warta serve` on SQLite. Scaled: PostgreSQL and NATS JetStream (throwaway servers on
free ports), `warta serve`, a worker running the scheduler, routing and digests, DELIVERY_WORKERS
workers running delivery, and GATEWAYS stream gateways holding the desktops' connections, every one
its own process. Receivers and clients are the helper processes of bench.distribution.

    WARTA_BENCH_E2E=86000,6500,15000 python -m bench scaled   # journalists, outlets, desktops
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench import anchors
from bench.audience import published_reach
from bench.distribution import (
    ROOT,
    SSE_PER_PROCESS,
    Child,
    Running,
    Wire,
    _arrivals,
    _env_ints,
    _log,
    child,
    countries90,
    server,
)
from bench.harness import free_port, save

AUDIENCE = (86_000, 6_500, 15_000)  # journalists, outlets, desktops: the published reach
DELIVERY_WORKERS = 2
GATEWAYS = 2


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(url)


@contextlib.contextmanager
def scaled(**env_extra: str) -> Iterator[tuple[Running, list[str]]]:
    """A scaled-mode wire; yields it and its gateways' URLs."""
    sys.path.insert(0, str(ROOT / "tests"))
    from natsserver import NatsServer
    from pg import PgServer, pg_bin

    with tempfile.TemporaryDirectory(prefix="warta-bench-scaled-") as tmp:
        root = Path(tmp)
        pg_root = Path(tempfile.mkdtemp(prefix="warta-bench-pg-"))  # its own: PostgreSQL runs as nobody
        pg = PgServer(bin=pg_bin(), root=pg_root, port=free_port())
        pg.start()
        nats = NatsServer(root / "nats")
        nats.start()
        procs: list[subprocess.Popen[bytes]] = []
        try:
            database = pg.create_database()
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            env = {k: v for k, v in os.environ.items() if not k.startswith("WARTA_")}
            env.update(
                {
                    "WARTA_DATA_DIR": str(root / "data"),
                    "WARTA_BASE_URL": url,
                    "WARTA_DATABASE_URL": pg.url(database),
                    "WARTA_BUS_URL": nats.url,
                    **env_extra,
                }
            )
            warta = [sys.executable, "-m", "warta"]

            def spawn(*args: str) -> subprocess.Popen[bytes]:
                p = subprocess.Popen(
                    [*warta, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
                procs.append(p)
                return p

            api = spawn("serve", "--port", str(port), "--log-level", "warning")
            _wait_http(f"{url}/openapi.json", api)
            spawn("worker", "--stage", "scheduler", "--stage", "routing", "--stage", "digests")
            for _ in range(DELIVERY_WORKERS):
                spawn("worker", "--stage", "delivery")
            gateways = []
            for _ in range(GATEWAYS):
                gport = free_port()
                g = spawn("gateway", "--port", str(gport), "--log-level", "warning")
                gateways.append((f"http://127.0.0.1:{gport}", g))
            for gurl, g in gateways:
                _wait_http(f"{gurl}/healthz", g)
            time.sleep(2)  # workers up
            yield Running(url=url, data_dir=root / "data", env=env), [g for g, _ in gateways]
        finally:
            for p in reversed(procs):
                p.terminate()
            for p in procs:
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
            nats.stop()
            pg.stop()
            shutil.rmtree(pg_root, ignore_errors=True)


SEED = 2026
WEBHOOK_HOSTS = 500  # published_reach puts outlet n on host n % 500


def _audience(journalists: int, outlets: int, desktops: int, hooks_port: int) -> list[dict[str, str]]:
    """The published reach from its seed; host h of the webhooks is loopback address `_host(h)`."""
    rows = published_reach(
        SEED, outlets, journalists, desktops, webhook_base=f"http://HOST{{host}}:{hooks_port}"
    )
    for row in rows:
        if row["webhook_url"]:
            row["webhook_url"] = re.sub(r"HOST(\d+)", lambda m: _host(int(m.group(1))), row["webhook_url"])
    return rows


def _host(i: int) -> str:
    return f"127.1.{i // 250}.{i % 250 + 1}"


def one_round(mode: str, journalists: int, outlets: int, desktops: int) -> dict[str, Any]:
    smtp_port, hooks_port = free_port(), free_port()
    env = {
        "WARTA_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "WARTA_WEBHOOK_ALLOW": "127.0.0.0/8",
    }
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "hooks.json"
        hosts = sorted({_host(h) for h in range(min(outlets, WEBHOOK_HOSTS))}) or ["127.0.0.1"]
        spec.write_text(json.dumps({"hosts": hosts, "port": hooks_port, "slow": [], "fail": [], "delay": 0}))
        wire_cm = server(**env) if mode == "embedded" else scaled(**env)
        with anchors.smtp_sink(smtp_port) as sink, child("hooks", str(spec)) as hooks, wire_cm as running:
            srv, gateways = (running, [running.url]) if mode == "embedded" else running  # type: ignore[misc]
            wire = Wire(srv)
            created, import_s = wire.import_rows(_audience(journalists, outlets, desktops, hooks_port))
            _log(f"{mode}: imported {created:,} recipients in {import_s:.1f} s")
            tokens = [r["stream_token"] for r in wire.recipients("desktop")]
            circuit = wire.circuit(countries90())
            procs = max(1, math.ceil(desktops / SSE_PER_PROCESS), len(gateways)) if desktops else 0
            clients = [Child("sse", gateways[k % len(gateways)]) for k in range(procs)]
            try:
                for k, c in enumerate(clients):
                    c.send(json.dumps(tokens[k::procs]))
                hello = [c.read() for c in clients]
                connected = sum(h["connected"] for h in hello)
                rid = wire.release(circuit, held=True)
                approved = time.time()
                wire.approve(rid)
                total = journalists + outlets
                ok = _wait_all(sink, hooks, journalists, outlets, timeout=max(180.0, total / 20))
                for c in clients:
                    c.send("collect 60")
                sse_times = sorted(t for c in clients for t in c.read()["times"] if t is not None)
            finally:
                for c in clients:
                    c.close()
            mail_times = sorted(sink.times())
            hook_times = sorted(
                min(at for at, status in v if status == 200)
                for v in hooks.ask("stats")["hits"].values()
                if any(status == 200 for _, status in v)
            )
            wire.close()
    everything = sorted(mail_times + hook_times + sse_times)
    result: dict[str, Any] = {
        **_arrivals(everything, approved),
        "journalists": journalists,
        "outlets": outlets,
        "desktops": desktops,
        "complete": ok and len(sse_times) == connected == desktops,
        "email_all_in_s": _arrivals(mail_times, approved)["all_in_s"],
        "webhook_all_in_s": _arrivals(hook_times, approved)["all_in_s"],
        "stream_all_in_s": _arrivals(sse_times, approved)["all_in_s"],
        "stream_p99_ms": _arrivals(sse_times, approved)["p99_ms"],
    }
    if mode == "scaled":
        span = _arrivals(mail_times, approved)["per_s_first_to_last"]
        result["delivery_workers"] = DELIVERY_WORKERS
        result["emails_per_s_per_delivery_worker"] = round(span / DELIVERY_WORKERS, 1) if span else None
        result["gateways"] = GATEWAYS
        result["connections_per_gateway"] = math.ceil(connected / GATEWAYS)
    _log(f"{mode}: approve to last delivery {result['all_in_s']} s ({result['n']:,} deliveries)")
    return result


def _wait_all(sink: anchors.SmtpSink, hooks: Child, journalists: int, outlets: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mails = sink.count()
        hooked = hooks.ask("progress")["ok_paths"]
        if mails >= journalists and hooked >= outlets:
            return True
        time.sleep(0.2)
    return False


def run() -> dict[str, Any]:
    started = time.perf_counter()
    journalists, outlets, desktops = _env_ints("WARTA_BENCH_E2E", AUDIENCE)
    results: dict[str, Any] = {}
    for mode in ("embedded", "scaled"):
        results[f"e2e_{mode}"] = one_round(mode, journalists, outlets, desktops)
    emb, sca = results["e2e_embedded"]["all_in_s"], results["e2e_scaled"]["all_in_s"]
    results["e2e_scaled"]["of_embedded"] = round(sca / emb, 2) if emb and sca else None
    save("scaled", {"results": results, "took_s": round(time.perf_counter() - started)})
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
