"""Core path on one embedded-mode server: intake, the newsroom, feeds, search and release-time precision."""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench.harness import save, summary, warta_server

BODY = (
    "Syarikat Contoh Berhad hari ini mengumumkan pelaburan sebanyak RM250 juta untuk membina pusat data hijau "
    "di Cyberjaya. Pusat data itu akan menggunakan tenaga solar dan sistem penyejukan air kitar semula, serta "
    "mewujudkan 400 peluang pekerjaan mahir untuk rakyat tempatan.\n\n"
) * 6


def payload(i: int, release_at: datetime | None = None) -> dict[str, Any]:
    p: dict[str, Any] = {
        "headline": f"Syarikat Contoh Berhad umum pelaburan baharu nombor {i}",
        "summary": "Pusat data di Cyberjaya akan mewujudkan 400 pekerjaan.",
        "body": BODY + f"Rujukan {i}.",
        "language": "ms",
        "dateline": {"city": "Kuala Lumpur", "country": "MY"},
        "sectors": ["top-story", "medtop:04000000"],
        "contact": {"name": "Nur Aina", "email": "media@contoh.example"},
        "about": "Syarikat Contoh Berhad ialah pengendali pusat data.",
    }
    if release_at:
        p["release_at"] = release_at.isoformat()
    return p


def timed_requests(fn: Any, n: int, workers: int) -> tuple[list[float], float]:
    samples: list[float] = []

    def one(i: int) -> None:
        t = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - t)

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(n)))
    return samples, time.perf_counter() - start


def run() -> None:
    results: dict[str, Any] = {}
    with warta_server() as srv:
        org = srv.cli_json(
            "admin", "create-org", "--name", "Syarikat Contoh Berhad", "--verified", "--auto-approve"
        )
        auth = {"Authorization": f"Bearer {org['api_key']}"}
        with httpx.Client(base_url=srv.url, headers=auth, timeout=60) as client:

            def submit(i: int) -> None:
                r = client.post("/api/v1/releases", json=payload(i))
                assert r.status_code == 201, r.text

            for workers in (1, 8):
                samples, wall = timed_requests(submit, 300, workers)
                results[f"intake_{workers}_clients"] = {
                    **summary(samples),
                    "per_s": round(len(samples) / wall, 1),
                }
                print(f"intake, {workers} client(s): {results[f'intake_{workers}_clients']}", flush=True)
            time.sleep(1.0)

            for name, path, params in (
                ("newsroom_page", "/", {}),
                ("release_page", None, {}),
                ("atom_feed", "/feeds/atom.xml", {"lang": "ms"}),
                ("search", "/api/v1/search", {"q": "Cyberjaya pelaburan"}),
            ):
                if path is None:
                    rid = client.get("/api/v1/releases").json()["items"][0]["id"]
                    path = f"/releases/{rid}/ms"

                def get(_: int, path: str = path, params: dict[str, str] = params) -> None:
                    r = client.get(path, params=params)
                    assert r.status_code == 200, r.text

                samples, wall = timed_requests(get, 400, 8)
                results[name] = {**summary(samples), "per_s": round(len(samples) / wall, 1)}
                print(f"{name}: {results[name]}", flush=True)

            # release-time precision: releases due every 0.25 s; lateness = published_at - release_at
            start = datetime.now(UTC) + timedelta(seconds=3)
            ids = []
            for i in range(40):
                r = client.post(
                    "/api/v1/releases", json=payload(10_000 + i, start + timedelta(seconds=0.25 * i))
                )
                ids.append(r.json()["id"])
            time.sleep(3 + 0.25 * 40 + 2)
        db = sqlite3.connect(srv.data_dir / "warta.db")
        marks = ",".join("?" * len(ids))
        rows = db.execute(
            f"SELECT release_at, published_at FROM releases WHERE id IN ({marks})", ids
        ).fetchall()
        late = [
            (
                datetime.fromisoformat(p).replace(tzinfo=UTC) - datetime.fromisoformat(r).replace(tzinfo=UTC)
            ).total_seconds()
            for r, p in rows
            if p
        ]
        results["release_lateness"] = {**summary(late), "released": len(late), "scheduled": len(ids)}
        print(f"release lateness: {results['release_lateness']}", flush=True)
    save("core", {"results": results})
