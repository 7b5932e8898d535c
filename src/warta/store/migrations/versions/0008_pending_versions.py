"""versions and editions that wait for an editor

Revision ID: 0008
Revises: 0007

A correction or an issuer's edition goes through the review chain again. What the chain would
not pass waits for an editor beside the approved text, which stays the one readers and recipients
get: a release's `pending_version` names the corrected version waiting, each version records its
own review (`state`: approved, pending or rejected, and the rules' verdicts), and an edition keeps
a held replacement in `pending` until an editor decides.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("releases") as batch:
        batch.add_column(sa.Column("pending_version", sa.Integer(), nullable=True))
    with op.batch_alter_table("release_versions") as batch:
        batch.add_column(sa.Column("state", sa.String(length=16), nullable=False, server_default="approved"))
        batch.add_column(sa.Column("review", sa.JSON(), nullable=True))
    with op.batch_alter_table("editions") as batch:
        batch.add_column(sa.Column("pending", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("editions") as batch:
        batch.drop_column("pending")
    with op.batch_alter_table("release_versions") as batch:
        batch.drop_column("review")
        batch.drop_column("state")
    with op.batch_alter_table("releases") as batch:
        batch.drop_column("pending_version")
