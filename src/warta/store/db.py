"""The Store: one engine, a session factory, migrations to head on open."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x5741_5254_41  # "WARTA": the advisory lock migrations run under on PostgreSQL


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


# What SQLite's query planner is told about the ledger (its sqlite_stat1 rows), so that it never
# prefers the state index to the primary key: without statistics it guesses that `state = ?` picks
# out about ten rows and so reads every `sending` or `pending` row to claim or settle a few dozen by
# id. The figures describe a large ledger: a million rows, a handful of states, many per release.
# https://www.sqlite.org/optoverview.html#manual_control_of_query_plans_using_sqlite_stat_tables
LEDGER_STATS = (
    ("deliveries", None, "1000000"),
    ("deliveries", "sqlite_autoindex_deliveries_1", "1000000 1"),  # id
    ("deliveries", "sqlite_autoindex_deliveries_2", "1000000 50000 50000 2 1 1"),  # one per recipient
    ("deliveries", "ix_deliveries_due", "1000000 200000 2"),
    ("deliveries", "ix_deliveries_channel_due", "1000000 250000 50000 2"),
    ("deliveries", "ix_deliveries_release_id", "1000000 50000"),
    ("deliveries", "ix_deliveries_recipient_id", "1000000 20"),
)


def _steer_sqlite_planner(engine: Engine) -> None:
    """Write LEDGER_STATS unless the ledger has statistics already (its own, from ANALYZE, are kept)."""
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE sqlite_schema")  # creates sqlite_stat1, reads no table
        known = conn.exec_driver_sql("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'deliveries'").scalar()
        if not known:
            conn.exec_driver_sql(
                "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)", list(LEDGER_STATS)
            )
    engine.dispose()  # a connection reads the statistics when it opens


def database_url(url: str) -> str:
    """The URL with a driver SQLAlchemy can load: plain PostgreSQL URLs go through psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    url = database_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url(url).replace("%", "%%"))
    return cfg


class Store:
    """What every stage sees of the database, whichever database it is."""

    def __init__(self, url: str) -> None:
        self.url = database_url(url)
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time, and a writer that finds the database locked sleeps for
        # 1, 2, 5, 10 ms and longer before it looks again: the big writers of one process (routing
        # writing a release's rows, delivery's claims and outcomes) take turns on this lock instead,
        # each starting the moment the one before ends
        self._write_turn = threading.Lock() if self.dialect == "sqlite" else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        """Bring the schema to head. On PostgreSQL, processes starting together take turns."""
        if self.dialect != "postgresql":
            command.upgrade(alembic_config(self.url), "head")
            if self.dialect == "sqlite":
                _steer_sqlite_planner(self.engine)
            return
        with self.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            conn.commit()
            try:
                command.upgrade(alembic_config(self.url), "head")
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                conn.commit()

    def writing(self) -> AbstractContextManager[Any]:
        """Hold while writing a batch in this process: a turn among this process's writers on
        SQLite, nothing on PostgreSQL (whose writers wait on row locks, not on one lock)."""
        return self._write_turn or nullcontext()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back if it raises."""
        with self.sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()
