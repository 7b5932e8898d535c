"""an index on when each recipient last changed

Revision ID: 0007
Revises: 0006

Routing keeps the audience index in memory and checks, before every release and every few
seconds in the background, whether the recipients changed: their count and latest `updated_at`.
With this index the latest change is one index lookup instead of a scan of every recipient.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recipients") as batch:
        batch.create_index("ix_recipients_updated_at", ["updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("recipients") as batch:
        batch.drop_index("ix_recipients_updated_at")
