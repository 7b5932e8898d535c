"""Alembic environment: runs against the URL the Store hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from warta.model import Base
from warta.store.db import database_url

config = context.config
target_metadata = Base.metadata


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    # the search index is created by hand (FTS5 on SQLite, a table with a tsvector on PostgreSQL);
    # autogenerate must not touch it
    if type_ == "table" and name is not None and name.startswith("edition_search"):
        return False
    table = getattr(obj, "table", None)
    return not (type_ == "index" and table is not None and str(table.name).startswith("edition_search"))


def run_migrations_offline() -> None:
    url = database_url(config.get_main_option("sqlalchemy.url") or "")
    context.configure(url=url, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = database_url(config.get_main_option("sqlalchemy.url") or "")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=url.startswith("sqlite"),
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
