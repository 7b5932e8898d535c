"""Regenerate the measured tables of docs/benchmarks.md from bench/results/*.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.harness import RESULTS

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"

# what each result measured; `{key}` is filled from the result itself (its size, say)
LABELS = {
    # core
    "intake_1_clients": "Submit a release (JSON, sanitise, review, edition, index), 1 client",
    "intake_8_clients": "Submit a release, 8 concurrent clients",
    "newsroom_page": "Newsroom front page, 8 clients",
    "release_page": "Release page (one edition), 8 clients",
    "atom_feed": "Atom feed filtered by language, 8 clients",
    "search": "Full-text search API (two words), 8 clients",
    "release_lateness": "Release-time lateness (published_at − release_at), 40 releases 0.25 s apart",
    # alerts
    "document_1000_words": "Tokenise one 1,000-word edition for matching",
    "match_100k_alerts": "Match one edition against {alerts:,} alerts",
    "match_1m_alerts": "Match one edition against {alerts:,} alerts",
    # distribution: routing, in process
    "audience_index": "Routing: read {recipients:,} recipients from SQLite and build the audience index",
    "alert_index": "Routing: read {alerts:,} alerts from SQLite and build the alert index",
    "audience_select": "Routing: select one circuit's audience from the index ({selected:,} recipients)",
    "route_release": "Routing: route one release (audience, alerts, editions, ledger insert); per second: "
    "ledger rows",
    # distribution: a real server
    "email": "Email: approve → each message accepted by the SMTP sink, {recipients:,} journalists; "
    "per second: first to last message",
    "email_smtplib_baseline": "Email ceiling: smtplib from {threads} threads, the same message to the same sink",
    "webhooks_own_hosts_all_healthy": "Webhooks: publish → receipt, {outlets:,} outlets each on its own host, "
    "all healthy",
    "webhooks_own_hosts_with_slow": "Webhooks: publish → receipt at the {measured:,} healthy outlets, own "
    "hosts, 10% slow (2 s) and 5% failing (500)",
    "webhooks_shared_host_all_healthy": "Webhooks: publish → receipt, {outlets:,} outlets on one host, all "
    "healthy",
    "webhooks_own_hosts_cold": "Webhooks: first release, {outlets:,} outlets each on its own host (timed out)",
    "webhooks_shared_host_cold": "Webhooks: first release, {outlets:,} outlets on one host (timed out)",
    "webhooks_shared_host_with_slow": "Webhooks: publish → receipt at the {measured:,} healthy outlets, one "
    "host, 10% slow (2 s) and 5% failing (500)",
    # end to end, both modes
    "e2e_embedded": "End to end, embedded (one process, SQLite): approve → every delivery at the receivers, "
    "{journalists:,} journalists + {outlets:,} outlets + {desktops:,} live desktops",
    "e2e_scaled": "End to end, scaled (PostgreSQL, NATS, {delivery_workers} delivery workers, {gateways} "
    "gateways): approve → every delivery, the same audience",
}
PREFIX_LABELS = {
    "stream_": "Stream: publish → receipt over SSE, {connections:,} open connections",
}

# the other keys a result may carry, shown under the table
DETAILS = {
    # core
    "released": "released",
    "scheduled": "scheduled",
    # alerts
    "distinct_terms": "distinct terms",
    "alerts": "alerts",
    "build_s": "index build s",
    "index_mib": "index MiB",
    "specs_mib": "specs MiB",
    "matches_per_doc": "matches per edition",
    "fire_rate": "fire rate",
    "verified_share": "share verified",
    "postings": "postings",
    "buckets": "buckets",
    "rejected": "rejected",
    # routing
    "recipients": "recipients",
    "active": "active",
    "build_only_ms": "build alone ms",
    "selected": "selected",
    "share": "share of all",
    "countries": "circuit countries",
    "rows": "ledger rows per release",
    "by_channel": "by channel",
    "cold_s": "first route, both indexes built on the way, s",
    "cold_rows": "its rows",
    "ledger_rows": "ledger rows at the end",
    # email
    "arrived": "arrived",
    "published_after_approve_ms": "approve → published ms",
    "first_after_approve_s": "approve → first email s",
    "last_after_approve_s": "approve → last email s",
    "mean_bytes": "mean message bytes",
    "smtp_pool": "SMTP connections",
    "of_baseline": "share of the smtplib ceiling",
    "messages": "messages",
    "threads": "threads",
    "import_s": "CSV import s",
    # webhooks and stream
    "outlets": "outlets",
    "measured": "measured",
    "reached": "reached",
    "first_s": "first s",
    "all_in_s": "all in s",
    "per_s_first_to_last": "per second, first to last",
    "requests_500": "500 answers",
    "cold_all_in_s": "all in s, first release (cold connections)",
    "connections": "connections",
    "connected": "connected",
    "received": "received",
    "client_processes": "client processes",
    "connect_s": "connecting all s",
    "timed_out": "timed out",
    # end to end
    "journalists": "journalists",
    "desktops": "desktops",
    "complete": "everyone reached",
    "email_all_in_s": "last email s",
    "webhook_all_in_s": "last webhook s",
    "stream_all_in_s": "last stream event s",
    "stream_p99_ms": "stream p99 ms",
    "delivery_workers": "delivery workers",
    "emails_per_s_per_delivery_worker": "emails per second per delivery worker",
    "gateways": "gateways",
    "connections_per_gateway": "connections per gateway",
    "of_embedded": "all in, scaled ÷ embedded",
}
STATS = ("n", "per_s", "p50_ms", "p95_ms", "p99_ms", "max_ms", "iqr_ms")


def label(key: str, result: dict[str, Any]) -> str:
    text = LABELS.get(key)
    if text is None:
        text = next((v for prefix, v in PREFIX_LABELS.items() if key.startswith(prefix)), key)
    try:
        return text.format_map(result)
    except (KeyError, ValueError, IndexError):
        return text


def _value(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 10_000 else f"{v:g}"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_value(x)}" for k, x in v.items())
    return str(v)


def _details(result: dict[str, Any]) -> str:
    extra = [(k, v) for k, v in result.items() if k not in STATS]
    return "; ".join(f"{DETAILS.get(k, k)} {_value(v)}" for k, v in extra)


def _table(data: dict[str, Any]) -> str:
    m = data["machine"]
    took = f" The suite took {data['took_s']} s." if "took_s" in data else ""
    lines = [
        f"Measured {data['measured_at']} on {m['cores']} cores, {m['memory_gib']} GiB, {m['cpu']}, "
        f"Python {m['python']}.{took}",
        "",
        "| what | n | per second | p50 ms | p95 ms | p99 ms | max ms | IQR ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    details = []
    for key, r in data["results"].items():
        name = label(key, r)
        per_s = _value(r["per_s"]) if "per_s" in r else ""
        cells = " | ".join("–" if r.get(k) is None else str(r[k]) for k in STATS if k not in ("n", "per_s"))
        lines.append(f"| {name} | {r['n']} | {per_s} | {cells} |")
        extra = _details(r)
        if extra:
            details.append(f"| {name} | {extra} |")
    if details:
        lines += ["", "| what | details |", "|---|---|", *details]
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
