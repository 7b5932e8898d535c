"""postgres search

Revision ID: 0004
Revises: 0003

On PostgreSQL the search index of 0001 is a plain table; this adds the weighted tsvector it is
searched by (headline A, summary B, body C) and its GIN index. The text stored there is already
tokenised and folded by warta.store.search, so the `simple` configuration is the right one.
Nothing to do on SQLite, where the index is an FTS5 table.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if not _postgresql():
        return
    op.execute(
        "ALTER TABLE edition_search ADD COLUMN tsv tsvector GENERATED ALWAYS AS ("
        "setweight(to_tsvector('simple'::regconfig, coalesce(headline, '')), 'A') || "
        "setweight(to_tsvector('simple'::regconfig, coalesce(summary, '')), 'B') || "
        "setweight(to_tsvector('simple'::regconfig, coalesce(body, '')), 'C')"
        ") STORED"
    )
    op.execute("CREATE INDEX ix_edition_search_tsv ON edition_search USING gin (tsv)")


def downgrade() -> None:
    if not _postgresql():
        return
    op.execute("DROP INDEX IF EXISTS ix_edition_search_tsv")
    op.execute("ALTER TABLE edition_search DROP COLUMN IF EXISTS tsv")
