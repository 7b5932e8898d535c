"""an index for claiming due rows per channel

Revision ID: 0006
Revises: 0005

The delivery engine claims due rows channel by channel, each within its own budget of jobs in
flight, so a channel with a long queue (86,000 emails) does not hold back the others (6,500
webhooks). This index serves that claim in order without reading the other channels' rows.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.create_index("ix_deliveries_channel_due", ["channel", "state", "next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index("ix_deliveries_channel_due")
