"""delivery leases

Revision ID: 0005
Revises: 0004

Many delivery workers share one ledger in scaled mode. A claimed row records which worker holds it
and until when; the holder renews the lease while it works, and the others settle rows whose lease
ran out (their worker died) instead of all rows in flight.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("claimed_by")
