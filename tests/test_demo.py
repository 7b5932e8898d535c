"""`warta serve --demo` (what `make run` starts): demo data, printed URLs and working keys."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import httpx

from conftest import WARTA, free_port, make_env


def test_serve_demo_prints_urls_and_keys_and_serves_a_multilingual_newsroom(tmp_path: Path) -> None:
    port = free_port()
    env = make_env(tmp_path / "data")
    proc = subprocess.Popen(
        [*WARTA, "serve", "--demo", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines: list[str] = []
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("───") and len(lines) > 3:
                break
        out = "".join(lines)
        base = f"http://127.0.0.1:{port}"
        assert f"{base}/" in out and f"{base}/docs" in out
        keys = dict(re.findall(r"^\s+(\w+): .*?(wk_\S+)$", out, re.MULTILINE)[::-1])
        assert {"admin", "editor", "issuer"} <= set(keys), out
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)

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
        proc.terminate()
        proc.wait(10)

    # a second start keeps the data (no duplicates) and issues fresh keys
    again = subprocess.run([*WARTA, "demo"], env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "wk_" in again.stdout
    import sqlite3

    db = sqlite3.connect(tmp_path / "data" / "warta.db")
    assert db.execute("select count(*) from organisations").fetchone()[0] == 4
