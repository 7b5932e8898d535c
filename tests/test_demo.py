"""`warta serve --demo` (what `make run` starts): demo data, printed URLs and working keys."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from conftest import WARTA
from test_outbox import start_demo


def test_serve_demo_prints_urls_and_keys_and_serves_a_multilingual_newsroom(tmp_path: Path) -> None:
    wire = start_demo(tmp_path / "data")
    env, keys, base = wire.env, wire.keys, wire.url
    try:
        assert f"{base}/" in wire.out and f"{base}/docs" in wire.out
        assert {"admin", "editor", "issuer"} <= set(keys), wire.out
        listed = httpx.get(f"{base}/api/v1/releases").json()["items"]
        assert len({item["lang"] for item in listed}) >= 5
        page = httpx.get(f"{base}/").text
        assert "Pelabuhan Selatan" in page
        assert httpx.get(f"{base}/docs").status_code == 200
        editor = httpx.get(f"{base}/api/v1/review", headers={"Authorization": f"Bearer {keys['editor']}"})
        assert editor.status_code == 200
        held = editor.json()["items"]
        assert [r["organisation"]["name"] for r in held] == ["Atelier Lumière SAS"]
        # the scheduled demo release is approved but not yet out
        upcoming = httpx.get(
            f"{base}/api/v1/releases",
            params={"status": "approved"},
            headers={"Authorization": f"Bearer {keys['editor']}"},
        ).json()["items"]
        assert len(upcoming) == 1 and upcoming[0]["visible"] is False
        assert (tmp_path / "data" / "demo-recipients.csv").exists()
    finally:
        wire.stop()

    # a second start keeps the data (no duplicates) and issues fresh keys
    again = subprocess.run([*WARTA, "demo"], env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "wk_" in again.stdout
    import sqlite3

    db = sqlite3.connect(tmp_path / "data" / "warta.db")
    assert db.execute("select count(*) from organisations").fetchone()[0] == 4
