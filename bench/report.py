"""Regenerate the measured tables of docs/benchmarks.md from bench/results/*.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.harness import RESULTS

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"

LABELS = {
    "intake_1_clients": "Submit a release (JSON, sanitise, review, edition, index), 1 client",
    "intake_8_clients": "Submit a release, 8 concurrent clients",
    "newsroom_page": "Newsroom front page, 8 clients",
    "release_page": "Release page (one edition), 8 clients",
    "atom_feed": "Atom feed filtered by language, 8 clients",
    "search": "Full-text search API (two words), 8 clients",
    "release_lateness": "Release-time lateness (published_at − release_at), 40 releases 0.25 s apart",
}


def _table(data: dict[str, Any]) -> str:
    m = data["machine"]
    lines = [
        f"Measured {data['measured_at']} on {m['cores']} cores, {m['memory_gib']} GiB, {m['cpu']}, "
        f"Python {m['python']}.",
        "",
        "| what | n | per second | p50 ms | p95 ms | p99 ms | max ms | IQR ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, r in data["results"].items():
        lines.append(
            f"| {LABELS.get(key, key)} | {r['n']} | {r.get('per_s', '')} | {r['p50_ms']} | {r['p95_ms']} | "
            f"{r['p99_ms']} | {r['max_ms']} | {r['iqr_ms']} |"
        )
    return "\n".join(lines)


def write() -> None:
    parts = []
    for path in sorted(RESULTS.glob("*.json")):
        data = json.loads(path.read_text())
        parts.append(f"### {data['suite']}\n\n{_table(data)}\n")
    text = DOC.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.write_text(f"{head}{BEGIN}\n{chr(10).join(parts)}{END}{tail}")
