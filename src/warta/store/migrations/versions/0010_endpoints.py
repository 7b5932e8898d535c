"""endpoints in their own table

Revision ID: 0010
Revises: 0009

A recipient's addresses were columns of the recipient (`email`, `webhook_url` with its secret,
format and disabled note, `feed_token`, `stream_token`), one of each. They become rows of
`endpoints` (recipient, channel, address, format, secret, state), so a recipient may have several
of a kind. Every address moves to an endpoint; every ledger row is given the endpoint of its
recipient and channel (a row whose address was erased since, a deleted recipient's, gets a
`removed` endpoint standing for it), and the ledger's unique key becomes (release, version,
recipient, endpoint, kind).

Downgrading puts each recipient's first endpoint of a channel back into the columns and drops the
ledger rows of its other endpoints (the old key allowed one per channel).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from warta.clock import utcnow
from warta.ids import new_ids

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BATCH = 2_000
OLD_KEY = ("release_id", "version", "recipient_id", "channel", "kind")
NEW_KEY = ("release_id", "version", "recipient_id", "endpoint_id", "kind")

_endpoints = sa.table(
    "endpoints",
    sa.column("id", sa.String),
    sa.column("recipient_id", sa.String),
    sa.column("channel", sa.String),
    sa.column("address", sa.String),
    sa.column("format", sa.String),
    sa.column("secret", sa.String),
    sa.column("state", sa.String),
    sa.column("disabled_reason", sa.Text),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
# the columns the addresses move from (typed, so that their times are read back as times)
_ADDRESSES = ("email", "webhook_url", "webhook_secret", "webhook_format", "webhook_disabled")
_recipients = sa.table(
    "recipients",
    sa.column("id", sa.String),
    sa.column("status", sa.String),
    *(sa.column(name, sa.String) for name in _ADDRESSES),
    sa.column("feed_token", sa.String),
    sa.column("stream_token", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    op.create_table(
        "endpoints",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("recipient_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=2000), nullable=True),
        sa.Column("format", sa.String(length=16), nullable=True),
        sa.Column("secret", sa.String(length=100), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["recipient_id"], ["recipients.id"], name="fk_endpoints_recipient_id"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("secret", name="uq_endpoints_secret"),
    )
    op.create_index("ix_endpoints_recipient_id", "endpoints", ["recipient_id"])
    conn = op.get_bind()
    _move_addresses(conn)
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("endpoint_id", sa.String(length=32), nullable=True))
    _stand_ins_for_erased(conn)
    conn.execute(
        sa.text(
            "UPDATE deliveries SET endpoint_id = (SELECT e.id FROM endpoints e"
            " WHERE e.recipient_id = deliveries.recipient_id AND e.channel = deliveries.channel"
            " ORDER BY e.created_at, e.id LIMIT 1)"
        )
    )
    with op.batch_alter_table("deliveries") as batch:
        batch.alter_column("endpoint_id", existing_type=sa.String(length=32), nullable=False)
        batch.create_foreign_key("fk_deliveries_endpoint_id", "endpoints", ["endpoint_id"], ["id"])
        batch.drop_constraint("uq_delivery_once", type_="unique")
        batch.create_unique_constraint("uq_delivery_once", list(NEW_KEY))
    with op.batch_alter_table("recipients") as batch:
        if conn.dialect.name != "sqlite":  # SQLite's copy of the table leaves them out with their columns
            batch.drop_constraint("recipients_feed_token_key", type_="unique")
            batch.drop_constraint("recipients_stream_token_key", type_="unique")
        for column in _ADDRESSES:
            batch.drop_column(column)
        batch.drop_column("feed_token")
        batch.drop_column("stream_token")


def _move_addresses(conn: sa.Connection) -> None:
    """One endpoint per address a recipient has, in batches (an audience can be large)."""
    r = _recipients.c
    rows = conn.execute(
        sa.select(
            r.id, r.status, *(r[name] for name in _ADDRESSES), r.feed_token, r.stream_token, r.created_at
        ).order_by(r.id)
    )
    now = utcnow()
    while chunk := rows.fetchmany(BATCH):
        values: list[dict[str, Any]] = []
        for rid, status, email, url, secret, fmt, disabled, feed, stream, created in chunk:
            gone = status == "deleted"
            made = {"recipient_id": rid, "created_at": created or now, "updated_at": now}
            if email:
                values.append(_endpoint(made, gone, "email", email))
            if url:
                values.append(_endpoint(made, gone, "webhook", url, secret, fmt or "ninjs", disabled))
            if feed:
                values.append(_endpoint(made, gone, "feed", None, feed))
            if stream:
                values.append(_endpoint(made, gone, "stream", None, stream))
        for value, new in zip(values, new_ids("end_", len(values)), strict=True):
            value["id"] = new
        if values:
            conn.execute(sa.insert(_endpoints), values)


def _endpoint(
    common: dict[str, Any],
    gone: bool,
    channel: str,
    address: str | None,
    secret: str | None = None,
    fmt: str | None = None,
    disabled: str | None = None,
) -> dict[str, Any]:
    """An endpoint row: `removed` for a deleted recipient, `disabled` for a webhook that was."""
    state = "removed" if gone else ("disabled" if disabled else "active")
    return {
        **common,
        "channel": channel,
        "address": address,
        "format": fmt,
        "secret": secret,
        "state": state,
        "disabled_reason": disabled,
    }


def _stand_ins_for_erased(conn: sa.Connection) -> None:
    """A `removed` endpoint for each (recipient, channel) the ledger names but no address is left
    for (a deleted recipient's erased email, a webhook URL taken away), so every row keeps one."""
    missing = conn.execute(
        sa.text(
            "SELECT DISTINCT d.recipient_id, d.channel FROM deliveries d WHERE NOT EXISTS"
            " (SELECT 1 FROM endpoints e WHERE e.recipient_id = d.recipient_id AND e.channel = d.channel)"
        )
    ).all()
    now = utcnow()
    values = [
        {
            "id": made,
            "recipient_id": rid,
            "channel": channel,
            "address": None,
            "format": "ninjs" if channel == "webhook" else None,
            "secret": None,
            "state": "removed",
            "disabled_reason": None,
            "created_at": now,
            "updated_at": now,
        }
        for (rid, channel), made in zip(missing, new_ids("end_", len(missing)), strict=True)
    ]
    for i in range(0, len(values), BATCH):
        conn.execute(sa.insert(_endpoints), values[i : i + BATCH])


def downgrade() -> None:
    conn = op.get_bind()
    with op.batch_alter_table("recipients") as batch:
        batch.add_column(sa.Column("email", sa.String(length=320), nullable=True))
        batch.add_column(sa.Column("webhook_url", sa.String(length=2000), nullable=True))
        batch.add_column(sa.Column("webhook_secret", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("webhook_format", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("webhook_disabled", sa.Text(), nullable=True))
        batch.add_column(sa.Column("feed_token", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("stream_token", sa.String(length=64), nullable=True))
    first = (
        "(SELECT e.{col} FROM endpoints e WHERE e.recipient_id = recipients.id AND e.channel = '{ch}'"
        " ORDER BY e.created_at, e.id LIMIT 1)"
    )
    conn.execute(
        sa.text(
            "UPDATE recipients SET"
            f" email = {first.format(col='address', ch='email')},"
            f" webhook_url = {first.format(col='address', ch='webhook')},"
            f" webhook_secret = {first.format(col='secret', ch='webhook')},"
            f" webhook_format = COALESCE({first.format(col='format', ch='webhook')}, 'ninjs'),"
            f" webhook_disabled = {first.format(col='disabled_reason', ch='webhook')},"
            f" feed_token = {first.format(col='secret', ch='feed')},"
            f" stream_token = {first.format(col='secret', ch='stream')}"
        )
    )
    # every recipient had a feed token
    for rid in conn.execute(sa.text("SELECT id FROM recipients WHERE feed_token IS NULL")).scalars().all():
        conn.execute(
            sa.text("UPDATE recipients SET feed_token = :t WHERE id = :id"),
            {"t": new_ids("feed_", 1)[0], "id": rid},
        )
    # the old key allows one row per channel: the rows of a recipient's other endpoints go
    conn.execute(
        sa.text(
            "DELETE FROM deliveries WHERE endpoint_id <> (SELECT e.id FROM endpoints e"
            " WHERE e.recipient_id = deliveries.recipient_id AND e.channel = deliveries.channel"
            " ORDER BY e.created_at, e.id LIMIT 1)"
        )
    )
    with op.batch_alter_table("recipients") as batch:
        batch.alter_column("webhook_format", existing_type=sa.String(length=16), nullable=False)
        batch.alter_column("feed_token", existing_type=sa.String(length=64), nullable=False)
        batch.create_unique_constraint("recipients_feed_token_key", ["feed_token"])
        batch.create_unique_constraint("recipients_stream_token_key", ["stream_token"])
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint("uq_delivery_once", type_="unique")
        batch.create_unique_constraint("uq_delivery_once", list(OLD_KEY))
        batch.drop_constraint("fk_deliveries_endpoint_id", type_="foreignkey")
        batch.drop_column("endpoint_id")
    op.drop_index("ix_endpoints_recipient_id", table_name="endpoints")
    op.drop_table("endpoints")
