"""Shared fixtures: a real `warta serve` process on a free port, and the `warta` CLI beside it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from browser import browser  # noqa: F401  (a fixture, found by name: one Chromium per module)
from pg import pg_server  # noqa: F401  (a fixture, found by name)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the bench package (the harness, its audience files) sits beside src/
WARTA = [sys.executable, "-m", "warta"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """Ask a process to stop (SIGTERM), and kill it if it has not within ten seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def wait_until_serving(url: str, deadline: float) -> bool:
    """Whether `url` answers its OpenAPI document before `deadline` (a `time.monotonic()` value)."""
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/openapi.json", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            time.sleep(0.1)
    return False


@dataclass
class Server:
    url: str
    data_dir: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(default_factory=Path)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*WARTA, *args], env=self.env, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"warta {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def cli_json(self, *args: str) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.cli(*args, "--json").stdout)
        return out

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def database_dump(self) -> str:
        """Every value in every table, as text (SQLite's dump, or PostgreSQL's rows)."""
        url = self.env.get("WARTA_DATABASE_URL")
        if not url:
            import sqlite3

            db = sqlite3.connect(self.data_dir / "warta.db")
            try:
                return "\n".join(db.iterdump())
            finally:
                db.close()
        from sqlalchemy import MetaData, create_engine, select

        engine = create_engine(url)
        try:
            meta = MetaData()
            meta.reflect(engine)
            with engine.connect() as conn:
                return "\n".join(
                    repr(tuple(row)) for table in meta.sorted_tables for row in conn.execute(select(table))
                )
        finally:
            engine.dispose()

    def stream_url(self, i: int = 0) -> str:
        """Where desktop number `i` connects for its live stream."""
        return self.url

    def start(self) -> None:
        port = int(self.url.rsplit(":", 1)[1])
        self.env["WARTA_BASE_URL"] = self.url
        logfile = self.log.open("ab")
        self.proc = subprocess.Popen(
            [*WARTA, "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env=self.env,
            stdout=logfile,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"warta serve exited:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/openapi.json", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"warta serve did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc:
            stop_process(self.proc)


def make_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARTA_")}
    env.update({"WARTA_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", **extra})
    return env


@pytest.fixture
def mode(request: pytest.FixtureRequest) -> str:
    """How the wire runs: "embedded" (one `warta serve`) unless a module asks for both with
    `pytestmark = pytest.mark.parametrize("mode", MODES, indirect=True)`."""
    return str(getattr(request, "param", "embedded"))


MODES = ["embedded", "scaled"]


@pytest.fixture
def server_factory(tmp_path: Path, mode: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Start a wire: `warta serve` alone (embedded), or in scaled mode `warta serve` on PostgreSQL
    and NATS JetStream with 3 stage workers and 2 stream gateways, each its own process."""
    started: list[Server] = []

    def start(**extra_env: str) -> Server:
        n = len(started)
        data_dir = tmp_path / f"data{n}"
        srv: Server
        if mode == "scaled":
            from cluster import Cluster

            pg = request.getfixturevalue("pg_server")
            nats = request.getfixturevalue("nats_session")
            database = pg.create_database()
            env = make_env(
                data_dir,
                WARTA_DATABASE_URL=pg.url(database),
                WARTA_BUS_URL=nats.url,
                WARTA_BUS_NAMESPACE=f"t{os.getpid()}x{n}x{free_port()}",
                WARTA_LEASE="5",
                **extra_env,
            )
            srv = Cluster(
                url=f"http://127.0.0.1:{free_port()}",
                data_dir=data_dir,
                env=env,
                log=tmp_path / f"server{n}.log",
            )
        else:
            srv = Server(
                url=f"http://127.0.0.1:{free_port()}",
                data_dir=data_dir,
                env=make_env(data_dir, **extra_env),
                log=tmp_path / f"server{n}.log",
            )
        started.append(srv)
        srv.start()
        return srv

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture(scope="session")
def nats_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One nats-server with JetStream for the whole session; each wire uses its own namespace."""
    from natsserver import NatsServer

    server = NatsServer(tmp_path_factory.mktemp("nats"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def server(server_factory: Any) -> Server:
    srv: Server = server_factory()
    return srv


@dataclass
class Desk:
    """An issuer (unverified unless asked), its key, and an editor's key on one server."""

    server: Server
    org_id: str
    issuer_key: str
    editor_key: str

    def issuer(self) -> httpx.Client:
        return self.server.client(self.issuer_key)

    def editor(self) -> httpx.Client:
        return self.server.client(self.editor_key)


@pytest.fixture
def desk(server: Server) -> Desk:
    org = server.cli_json(
        "admin", "create-org", "--name", "Syarikat Contoh Berhad", "--domain", "contoh.example"
    )
    editor = server.cli_json("admin", "create-user", "--role", "editor", "--name", "Desk Editor")
    return Desk(server=server, org_id=org["id"], issuer_key=org["api_key"], editor_key=editor["api_key"])


def release_payload(**overrides: Any) -> dict[str, Any]:
    """A release that passes every review rule except the issuer-verified one."""
    body = (
        "Syarikat Contoh Berhad hari ini mengumumkan pelaburan sebanyak RM250 juta untuk membina pusat data "
        "hijau di Cyberjaya. Pusat data itu akan menggunakan tenaga solar dan sistem penyejukan air kitar "
        "semula, serta mewujudkan 400 peluang pekerjaan mahir untuk rakyat tempatan.\n\n"
        "Pembinaan dijangka bermula pada suku pertama tahun depan dan siap dalam tempoh dua tahun."
    )
    payload: dict[str, Any] = {
        "headline": "Syarikat Contoh Berhad melabur RM250 juta dalam pusat data hijau",
        "summary": "Pusat data di Cyberjaya akan mewujudkan 400 pekerjaan.",
        "body": body,
        "body_format": "markdown",
        "language": "ms",
        "dateline": {"city": "Kuala Lumpur", "country": "MY"},
        "sectors": ["Top Story", "medtop:04000000"],
        "contact": {"name": "Nur Aina", "email": "media@contoh.example", "phone": "+60 3 1234 5678"},
        "about": "Syarikat Contoh Berhad ialah pengendali pusat data terkemuka di Malaysia.",
        "targets": {"countries": ["MY"], "languages": ["ms", "en"]},
    }
    payload.update(overrides)
    return payload


def with_editions(
    client: httpx.Client, release: dict[str, Any], langs: list[str] | None = None, timeout: float = 60.0
) -> dict[str, Any]:
    """The release as the API shows it once the editions stage has made an edition in each of
    `langs` (default: its target languages): a submission is answered before the engines run."""
    wanted = set(release["targets"]["languages"] if langs is None else langs) - {release["language"]}
    deadline = time.monotonic() + timeout
    while True:
        resp = client.get(f"/api/v1/releases/{release['id']}")
        assert resp.status_code == 200, resp.text
        out: dict[str, Any] = resp.json()
        if wanted <= {e["lang"] for e in out["editions"]}:
            return out
        assert time.monotonic() < deadline, f"no {sorted(wanted)} editions of {release['id']} yet"
        time.sleep(0.05)
