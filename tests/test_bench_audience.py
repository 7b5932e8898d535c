"""The benchmark audience: a seed in, the same published reach out, and importable as it is."""

from __future__ import annotations

import dataclasses
import sys
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the bench package sits beside src/

from bench.audience import published_reach, saved_alerts, write_csv  # noqa: E402

from warta.config import Settings  # noqa: E402
from warta.routing.alerts import AlertIndex, AlertSpec  # noqa: E402
from warta.routing.importer import import_csv  # noqa: E402
from warta.store import Store  # noqa: E402


def test_the_same_seed_gives_the_same_audience_and_another_seed_another(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    write_csv(published_reach(7, 50, 300, 80), a)
    write_csv(published_reach(7, 50, 300, 80), b)
    write_csv(published_reach(8, 50, 300, 80), c)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_the_published_reach_in_full() -> None:
    rows = published_reach(42)
    kinds = Counter(r["kind"] for r in rows)
    assert kinds == Counter({"journalist": 86_000, "outlet": 6_500, "desktop": 15_000})
    assert len({r["country"] for r in rows}) == 90
    primary = Counter(r["languages"].split(";")[0] for r in rows)
    assert len(primary) == 15 and primary.most_common(1)[0][0] == "en"
    assert len({r["external_id"] for r in rows}) == len(rows)
    assert all(r["email"] for r in rows if r["kind"] == "journalist")
    assert all(
        r["webhook_url"].endswith(f"/hooks/{r['external_id'][1:]}") for r in rows if r["kind"] == "outlet"
    )


def test_a_small_audience_imports_without_a_single_error(tmp_path: Path) -> None:
    path = tmp_path / "audience.csv"
    # the benchmark's receivers listen on loopback, which webhook targets may be only when allowed
    write_csv(published_reach(3, 10, 60, 20, webhook_base="http://127.0.0.1:9"), path)
    settings = dataclasses.replace(Settings.from_env(), webhook_allow=("127.0.0.0/8",))
    store = Store(f"sqlite:///{tmp_path / 'w.db'}")
    store.migrate()
    try:
        summary = import_csv(store, settings, path, progress=False)
    finally:
        store.close()
    assert summary["errors"] == [] and summary["created"] == 90


def test_saved_alerts_are_deterministic_and_valid() -> None:
    first, again = list(saved_alerts(5, 2_000)), list(saved_alerts(5, 2_000))
    assert first == again
    index = AlertIndex.build(first)
    assert isinstance(first[0], AlertSpec) and index is not None
