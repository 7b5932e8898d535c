"""A throwaway PostgreSQL for tests: one server per test session, one fresh database per test.

Uses the server binaries of the machine (Debian's `postgresql-15`, or whatever `PG_BIN` points at).
PostgreSQL refuses to run as root, so under root the data directory belongs to `nobody` and the
server runs as that user. Nothing is written outside a temporary directory, which is removed at
the end.

    from pg import pg_server, pg_url  # noqa: F401  (pytest finds the fixtures by name)
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CANDIDATES = ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin")
RUN_AS = "nobody"


def pg_bin() -> Path:
    """The directory holding initdb and pg_ctl, or a failure that says what to install."""
    wanted = [os.environ["PG_BIN"]] if os.environ.get("PG_BIN") else list(CANDIDATES)
    on_path = shutil.which("initdb")
    if on_path and not os.environ.get("PG_BIN"):
        wanted.append(str(Path(on_path).parent))
    for candidate in wanted:
        if (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    pytest.fail(
        "PostgreSQL server binaries not found (looked in "
        + ", ".join(wanted)
        + "). Install them with `apt-get install postgresql-15` or set PG_BIN to the directory "
        "holding initdb and pg_ctl.",
        pytrace=False,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    bin: Path
    root: Path
    port: int
    user: str = "postgres"
    _names: Iterator[int] = field(default_factory=itertools.count)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", RUN_AS, "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}\n{tail}"
            )
        return result

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, user=RUN_AS)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            self.user,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
            "--no-instructions",
        )
        self.start_again()

    def start_again(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options, "-w", "start"
        )

    def stop_fast(self) -> None:
        """Stop the way an operator's restart does: connections are cut, the data stays."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(sql)

    def create_database(self) -> str:
        name = f"warta_test_{next(self._names)}"
        self._admin(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    binaries = pg_bin()
    root = Path(tempfile.mkdtemp(prefix="warta-pg-"))
    server = PgServer(bin=binaries, root=root, port=_free_port())
    try:
        server.start()
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """The SQLAlchemy URL of an empty database that is dropped after the test."""
    name = pg_server.create_database()
    try:
        yield pg_server.url(name)
    finally:
        pg_server.drop_database(name)
