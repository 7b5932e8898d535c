"""Small shared pieces: a server process, timing statistics, the machine's description, results files."""

from __future__ import annotations

import csv
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

# WARTA_BENCH_OUT sends results (and the regenerated report) to another folder: the harness check
# in the tests runs every suite on a tiny audience without touching the published figures
OUT = Path(os.environ["WARTA_BENCH_OUT"]) if os.environ.get("WARTA_BENCH_OUT") else None
RESULTS = OUT / "results" if OUT else Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


def summary(samples: list[float]) -> dict[str, float]:
    """Median, p95, p99, max and spread (interquartile range) of samples in seconds, as milliseconds."""
    ordered = sorted(samples)

    def q(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(q(0.95), 2),
        "p99_ms": round(q(0.99), 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "iqr_ms": round(q(0.75) - q(0.25), 2),
    }


def save(name: str, data: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {
        "suite": name,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        **data,
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Running:
    url: str
    data_dir: Path
    env: dict[str, str]

    def cli_json(self, *args: str) -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, "-m", "warta", *args, "--json"],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        result: dict[str, Any] = json.loads(out.stdout)
        return result


@contextmanager
def warta_server(**env_extra: str) -> Iterator[Running]:
    with tempfile.TemporaryDirectory(prefix="warta-bench-") as tmp:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("WARTA_")}
        env.update({"WARTA_DATA_DIR": tmp, "WARTA_BASE_URL": url, **env_extra})
        proc = subprocess.Popen(
            [sys.executable, "-m", "warta", "serve", "--port", str(port), "--log-level", "warning"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{url}/openapi.json", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            yield Running(url=url, data_dir=Path(tmp), env=env)
        finally:
            proc.terminate()
            proc.wait(10)


def write_csv(rows: Iterable[dict[str, str]], path: Path, fields: Sequence[str]) -> Path:
    """`rows` as a CSV file for `warta recipients import`, under a header of `fields` (a row leaves the
    columns it lacks empty). The benchmarks and the tests write every audience file through here."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(fields), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path
