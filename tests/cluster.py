"""A wire in scaled mode for tests: `warta serve`, stage workers and stream gateways as processes.

It stands in for `conftest.Server`: `url`, `cli`, `client` and `start`/`stop` behave the same, and
desktops connect to the gateways in turn (`stream_url`). Workers and gateways can be killed and
started again one by one, as the fault suite does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from conftest import WARTA, Server, free_port

# three workers: every stage runs at least twice except the scheduler and digests, and two of the
# workers deliver; routing and delivery copies share their work through NATS and PostgreSQL
WORKER_STAGES = (
    ("editions", "scheduler", "routing", "digests", "delivery"),
    ("editions", "routing", "delivery"),
    ("delivery",),
)
GATEWAYS = 2


@dataclass
class Proc:
    name: str
    args: list[str]
    log: Path
    url: str | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Cluster(Server):
    workers: list[Proc] = field(default_factory=list)
    gateways: list[Proc] = field(default_factory=list)

    def __post_init__(self) -> None:
        folder = self.log.parent
        stem = self.log.stem
        for i, stages in enumerate(WORKER_STAGES):
            args = ["worker", "--log-level", "info"]
            for stage in stages:
                args += ["--stage", stage]
            self.workers.append(Proc(f"worker{i}", args, folder / f"{stem}-worker{i}.log"))
        for i in range(GATEWAYS):
            port = free_port()
            self.gateways.append(
                Proc(
                    f"gateway{i}",
                    ["gateway", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                    folder / f"{stem}-gateway{i}.log",
                    url=f"http://127.0.0.1:{port}",
                )
            )

    def stream_url(self, i: int = 0) -> str:
        url = self.gateways[i % len(self.gateways)].url
        assert url is not None
        return url

    def delivery_workers(self) -> list[Proc]:
        return [w for w, stages in zip(self.workers, WORKER_STAGES, strict=True) if "delivery" in stages]

    # -- processes ---------------------------------------------------------------------------------

    def start(self) -> None:
        super().start()  # `warta serve` migrates the database first
        for p in self.workers + self.gateways:
            self.spawn(p, wait=False)
        for p in self.workers + self.gateways:
            self.wait_ready(p)

    def spawn(self, p: Proc, wait: bool = True) -> None:
        self.env["WARTA_BASE_URL"] = self.url
        with p.log.open("ab") as log:
            p.proc = subprocess.Popen([*WARTA, *p.args], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready(p)

    def wait_ready(self, p: Proc, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert p.proc is not None
            if p.proc.poll() is not None:
                raise AssertionError(f"{p.name} exited:\n{p.log.read_text(errors='replace')[-3000:]}")
            if p.url is not None:
                try:
                    if httpx.get(f"{p.url}/healthz", timeout=1).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            elif "started" in p.log.read_text(errors="replace"):
                return
            time.sleep(0.1)
        raise AssertionError(f"{p.name} did not start:\n{p.log.read_text(errors='replace')[-3000:]}")

    def kill(self, p: Proc) -> None:
        """SIGKILL: no shutdown code runs."""
        if p.alive():
            os.kill(p.pid, signal.SIGKILL)
            assert p.proc is not None
            p.proc.wait(10)
        # the next start must not take the old process's "started" line for its own
        p.log.write_text(p.log.read_text(errors="replace").replace(" started", " (was) started"))

    def kill_all(self) -> None:
        for p in self.workers + self.gateways:
            self.kill(p)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        for p in self.gateways + self.workers:
            if p.alive():
                assert p.proc is not None
                p.proc.terminate()
        for p in self.gateways + self.workers:
            if p.proc is not None:
                try:
                    p.proc.wait(10)
                except subprocess.TimeoutExpired:
                    p.proc.kill()
                    p.proc.wait(5)
        super().stop()
