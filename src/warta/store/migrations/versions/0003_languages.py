"""languages

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("glossary", sa.JSON(), nullable=False, server_default="[]"))

    with op.batch_alter_table("releases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("language_source", sa.String(length=32), nullable=False, server_default="issuer")
        )
        batch_op.add_column(
            sa.Column("language_confidence", sa.Float(), nullable=False, server_default="1.0")
        )


def downgrade() -> None:
    with op.batch_alter_table("releases", schema=None) as batch_op:
        batch_op.drop_column("language_confidence")
        batch_op.drop_column("language_source")

    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_column("glossary")
