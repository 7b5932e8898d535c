"""Migration 0010: a wire's recipients' addresses become endpoints and its ledger keeps every row.

The database is built at revision 0009 as a running wire left it (recipients of every kind with
every kind of address, a disabled webhook, a deleted recipient whose addresses were erased, ledger
rows in several states), upgraded, and read back, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from pg import pg_server, pg_url  # noqa: F401  (pytest finds the fixtures by name)
from warta.store.db import alembic_config, database_url

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
_serial = itertools.count()

# (external id, kind, status, email, webhook url, secret, format, disabled, feed token, stream token)
RECIPIENTS = [
    ("j1", "journalist", "active", "siti@berita.example", None, None, "ninjs", None, "feed-j1", None),
    (
        "o1",
        "outlet",
        "active",
        "desk@harian.example",
        "https://hooks.harian.example/w",
        "whsec_o1",
        "newsml",
        None,
        "feed-o1",
        None,
    ),
    (
        "o2",
        "outlet",
        "paused",
        None,
        "https://hooks.kabar.example/w",
        "whsec_o2",
        "ninjs",
        "410 Gone",
        "feed-o2",
        None,
    ),
    ("d1", "desktop", "active", None, None, None, "ninjs", None, "feed-d1", "stream-d1"),
    # deleted: its email, webhook and stream token were erased, its feed token kept
    ("x1", "journalist", "deleted", None, None, None, "ninjs", None, "feed-x1", None),
]
# (recipient, channel, state)
LEDGER = [
    ("j1", "email", "delivered"),
    ("j1", "feed", "delivered"),
    ("o1", "email", "failed"),
    ("o1", "webhook", "retrying"),
    ("o1", "feed", "pending"),
    ("o2", "webhook", "failed"),
    ("o2", "feed", "delivered"),
    ("d1", "stream", "delivered"),
    ("d1", "feed", "committing"),
    ("x1", "email", "delivered"),  # its address is gone: the row keeps a stand-in endpoint
    ("x1", "feed", "cancelled"),
]


def _row(conn: sa.Connection, table: str, **given: Any) -> dict[str, Any]:
    """Insert a row into `table` as it is at this revision: every required column the test does
    not care about gets a plain value of its type."""
    values = dict(given)
    for column in sa.inspect(conn).get_columns(table):
        name = column["name"]
        if name in values or column["nullable"] or column.get("autoincrement") is True:
            continue
        kind = column["type"]
        if isinstance(kind, sa.Boolean):
            values[name] = False
        elif isinstance(kind, sa.Integer):
            values[name] = 1
        elif isinstance(kind, sa.Float | sa.Numeric):
            values[name] = 1.0
        elif isinstance(kind, sa.DateTime):
            values[name] = NOW
        elif isinstance(kind, sa.JSON):
            values[name] = []
        else:
            length = getattr(kind, "length", None) or 32
            values[name] = f"{name[:3]}{next(_serial)}"[-length:]
    meta = sa.MetaData()
    conn.execute(sa.Table(table, meta, autoload_with=conn).insert().values(**values))
    return values


def _build_at_0009(url: str) -> dict[str, str]:
    """A database at 0009 with RECIPIENTS and LEDGER; returns external id -> recipient id."""
    command.upgrade(alembic_config(url), "0009")
    engine = sa.create_engine(database_url(url))
    ids: dict[str, str] = {}
    with engine.begin() as conn:
        org = _row(conn, "organisations", id="org_1", slug="kumo", name="Kumo")["id"]
        user = _row(conn, "users", id="usr_1", org_id=org, name="Ana", role="issuer")["id"]
        release = _row(
            conn, "releases", id="rel_1", org_id=org, submitted_by=user, status="published", version=1
        )["id"]
        edition = _row(conn, "editions", id="edi_1", release_id=release, version=1, lang="en")["id"]
        for ext, kind, status, email, url_, secret, fmt, disabled, feed, stream in RECIPIENTS:
            ids[ext] = _row(
                conn,
                "recipients",
                id=f"rcp_{ext}",
                external_id=ext,
                kind=kind,
                status=status,
                country="MY",
                languages=["en"],
                sectors=[],
                email=email,
                webhook_url=url_,
                webhook_secret=secret,
                webhook_format=fmt,
                webhook_disabled=disabled,
                feed_token=feed,
                stream_token=stream,
            )["id"]
        _row(conn, "alerts", id="alr_1", recipient_id=ids["j1"], query="solar", mode="realtime")
        for n, (ext, channel, state) in enumerate(LEDGER):
            _row(
                conn,
                "deliveries",
                id=f"dlv_{n:02d}",
                release_id=release,
                edition_id=edition,
                version=1,
                lang="en",
                recipient_id=ids[ext],
                channel=channel,
                kind="edition",
                destination=f"{channel}:lane",
                state=state,
                attempts=n,
                matched_by="target",
            )
    engine.dispose()
    return ids


def _check_upgrade(url: str) -> None:
    ids = _build_at_0009(url)
    command.upgrade(alembic_config(url), "0010")
    engine = sa.create_engine(database_url(url))
    try:
        with engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("recipients")}
            assert not columns & {"email", "webhook_url", "webhook_secret", "feed_token", "stream_token"}
            endpoints = conn.execute(
                sa.text(
                    "SELECT id, recipient_id, channel, address, format, secret, state, disabled_reason"
                    " FROM endpoints"
                )
            ).all()
            by_key = {(e.recipient_id, e.channel): e for e in endpoints}
            # every address is an endpoint, with its secret, format and state
            for ext, _kind, status, email, url_, secret, fmt, disabled, feed, stream in RECIPIENTS:
                rid = ids[ext]
                gone = "removed" if status == "deleted" else None
                if email:
                    e = by_key[(rid, "email")]
                    assert (e.address, e.state) == (email, gone or "active")
                if url_:
                    e = by_key[(rid, "webhook")]
                    assert (e.address, e.secret, e.format) == (url_, secret, fmt)
                    assert (e.state, e.disabled_reason) == (
                        (gone or "disabled", disabled) if disabled else (gone or "active", None)
                    )
                e = by_key[(rid, "feed")]
                assert (e.secret, e.state) == (feed, gone or "active")
                if stream:
                    assert by_key[(rid, "stream")].secret == stream
            addresses = sum(
                bool(r[3]) + bool(r[4]) + bool(r[8]) + bool(r[9]) for r in RECIPIENTS
            )  # email, webhook, feed, stream
            stand_ins = [e for e in endpoints if e.recipient_id == ids["x1"] and e.channel == "email"]
            assert len(endpoints) == addresses + len(stand_ins)
            assert [(e.address, e.state) for e in stand_ins] == [(None, "removed")]
            # every ledger row is there, in its state, pointing at its recipient's endpoint of its channel
            rows = conn.execute(
                sa.text(
                    "SELECT d.id, d.recipient_id, d.channel, d.state, d.attempts, e.recipient_id, e.channel"
                    " FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id ORDER BY d.id"
                )
            ).all()
            assert len(rows) == len(LEDGER)
            for n, ((ext, channel, state), row) in enumerate(zip(LEDGER, rows, strict=True)):
                assert (row[0], row[1], row[2], row[3], row[4]) == (
                    f"dlv_{n:02d}",
                    ids[ext],
                    channel,
                    state,
                    n,
                )
                assert (row[5], row[6]) == (ids[ext], channel)
            # the saved search outlived the recipients table being rebuilt
            assert conn.scalar(sa.text("SELECT count(*) FROM alerts")) == 1
        # the unique key now decides "once" per endpoint: a second webhook of o1 gets its own row
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO endpoints (id, recipient_id, channel, address, format, state, created_at,"
                    " updated_at) VALUES ('end_2nd', :r, 'webhook', 'https://b.example/w', 'ninjs', 'active',"
                    " :t, :t)"
                ),
                {"r": ids["o1"], "t": NOW + timedelta(minutes=1)},  # added after the first
            )
            _row(
                conn,
                "deliveries",
                id="dlv_2nd",
                release_id="rel_1",
                edition_id="edi_1",
                version=1,
                lang="en",
                recipient_id=ids["o1"],
                endpoint_id="end_2nd",
                channel="webhook",
                kind="edition",
                destination="webhook:lane",
                state="pending",
                matched_by="target",
            )
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            first = by_key[(ids["o1"], "webhook")].id
            _row(
                conn,
                "deliveries",
                id="dlv_dup",
                release_id="rel_1",
                edition_id="edi_1",
                version=1,
                lang="en",
                recipient_id=ids["o1"],
                endpoint_id=first,
                channel="webhook",
                kind="edition",
                destination="webhook:lane",
                state="pending",
                matched_by="target",
            )
    finally:
        engine.dispose()
    # and back: the first endpoint of each channel returns to its column
    command.downgrade(alembic_config(url), "0009")
    engine = sa.create_engine(database_url(url))
    try:
        with engine.connect() as conn:
            back = {
                r.id: r
                for r in conn.execute(
                    sa.text(
                        "SELECT id, email, webhook_url, webhook_secret, feed_token, stream_token FROM recipients"
                    )
                )
            }
            assert back[ids["o1"]].webhook_url == "https://hooks.harian.example/w"
            assert back[ids["o1"]].webhook_secret == "whsec_o1"
            assert back[ids["d1"]].stream_token == "stream-d1"
            assert back[ids["j1"]].email == "siti@berita.example"
            assert conn.scalar(sa.text("SELECT count(*) FROM deliveries")) == len(LEDGER)
    finally:
        engine.dispose()


def test_sqlite_upgrade_moves_every_address_and_keeps_every_ledger_row(tmp_path: Path) -> None:
    _check_upgrade(f"sqlite:///{tmp_path / 'warta.db'}")


def test_postgresql_upgrade_moves_every_address_and_keeps_every_ledger_row(pg_url: str) -> None:  # noqa: F811
    _check_upgrade(pg_url)
