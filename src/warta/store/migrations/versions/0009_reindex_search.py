"""search terms rebuilt by the shared tokenizer

Revision ID: 0009
Revises: 0008

Search and saved alerts now cut text by one tokenizer (`warta.languages.tokens`): Thai keeps its
vowel and tone marks inside its syllables, Arabic words lose their harakat instead of falling apart
into letters, and on SQLite combining marks are stored as private-use characters so that FTS5 keeps
them inside the word. Rows written under the old rules would no longer be found by a query cut by
the new ones, so every row of the index is rebuilt from its edition.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from warta.store.search import reindex

    reindex(op.get_bind())


def downgrade() -> None:
    # the old rules are gone from the code; rows stay as the new rules wrote them
    pass
