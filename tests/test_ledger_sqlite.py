"""The ledger on SQLite: the planner finds rows by id, whatever their state.

Without statistics SQLite guesses that `state = ?` picks out about ten rows, and for a list of a few
dozen ids it then reads every row in that state instead: at the published reach that is tens of
thousands of `pending` or `sending` rows read for each claim and each batch of commit points.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update

from warta.delivery import ledger
from warta.store import Store
from warta.store.db import LEDGER_STATS

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop

D = ledger.DELIVERIES.c


def plan(store: Store, stmt: object, params: dict[str, object]) -> str:
    """SQLite's query plan for `stmt` with `params`, as one string."""
    with store.engine.connect() as conn:
        compiled = stmt.compile(conn, compile_kwargs={"render_postcompile": True})  # type: ignore[attr-defined]
        values = compiled.construct_params(params)
        args = tuple(values[name] for name in compiled.positiontup)
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled.string}", args).all()
    return " | ".join(str(row[-1]) for row in rows)


def test_rows_are_found_by_id_in_any_state(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'warta.db'}")
    store.migrate()
    ids = [f"dlv_{i:04d}" for i in range(200)]
    statements = [
        # what a claim changes, and what the engine reads back or settles
        update(ledger.DELIVERIES)
        .where(D.id.in_(ids), D.state.in_(ledger.DUE_STATES))
        .values(state="sending"),
        select(D.id).where(D.id.in_(ids), D.state == "committing"),
        select(D.id).where(D.id.in_(ids), D.state == "sending"),
    ]
    for stmt in statements:
        found = plan(store, stmt, {})
        assert "sqlite_autoindex_deliveries_1 (id=?)" in found, found
        assert "ix_deliveries_due" not in found, found
    # the claim's own query still reads due rows in the order of their index
    due = plan(store, ledger._due_query("email", "pending", False), {"now": "2026-11-27", "budget": 10})
    assert "ix_deliveries_channel_due" in due, due
    store.close()


def test_measured_statistics_are_kept(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'warta.db'}")
    store.migrate()
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE sqlite_stat1 SET stat = '42 21 1' WHERE idx = 'ix_deliveries_due'")
    store.migrate()  # a restart
    with store.engine.connect() as conn:
        stat = conn.exec_driver_sql("SELECT stat FROM sqlite_stat1 WHERE idx = 'ix_deliveries_due'").scalar()
        count = conn.exec_driver_sql("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'deliveries'").scalar()
    assert stat == "42 21 1"
    assert count == len([s for s in LEDGER_STATS if s[0] == "deliveries"])
    store.close()
