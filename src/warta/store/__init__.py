"""Persistence: the database engine, sessions, migrations and search."""

from warta.store.db import Store

__all__ = ["Store"]
