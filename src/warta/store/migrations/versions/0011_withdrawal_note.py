"""a withdrawal's note in a column of its own

Revision ID: 0011
Revises: 0010

`releases.reject_reason` held two things: why a release was rejected and, once withdrawn, the
note every withdrawal notice carries. A withdrawn release's note moves to `withdrawal_note`; the
reject reason keeps only rejections.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("releases") as batch:
        batch.add_column(sa.Column("withdrawal_note", sa.Text(), nullable=True))
    op.execute(
        "UPDATE releases SET withdrawal_note = reject_reason, reject_reason = NULL WHERE status = 'withdrawn'"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE releases SET reject_reason = withdrawal_note "
        "WHERE status = 'withdrawn' AND withdrawal_note IS NOT NULL"
    )
    with op.batch_alter_table("releases") as batch:
        batch.drop_column("withdrawal_note")
