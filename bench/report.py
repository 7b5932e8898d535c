"""Regenerate the measured tables of docs/benchmarks.md (and, through bench/sizing.py, the sizing table
of docs/operations.md) from bench/results/*.json."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from bench import sizing
from bench.harness import OUT, RESULTS

DOC = OUT / "benchmarks.md" if OUT else Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
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
    "live_plan_at_publish": "Routing: the live plan of one release for {desktops:,} desktops, decided at "
    "the publish (audience, alerts, {editions} editions rendered, desktops grouped by event)",
    "live_plan_rehearsed": "Routing: the same, rehearsed before the release time and checked at the publish",
    # distribution: a real server
    "email": "Email: approve → each message accepted by the SMTP sink, {recipients:,} journalists; "
    "per second: first to last message",
    "delivery_report": "Delivery report of the last email release ({rows:,} ledger rows): the issuer's "
    "`GET /api/v1/releases/‹id›/report`, one client, one read after another",
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
    # distribution: the anchors
    "email_postfix_ceiling": "Email ceiling: Postfix smtp-source → smtp-sink, the same message",
    "email_postfix_per_connection": "Email, for context: Postfix smtp-source → smtp-sink, the same message, "
    "a new connection for each (smtp-source's default), {sessions} sessions",
    # dkim
    "email_build_unsigned": "Email: build one {mean_bytes:,}-byte edition message for one journalist (shared "
    "parts cached), unsigned, one thread",
    "dkim_sign_rsa2048": "DKIM: sign one message as Warta does ({algorithm}, {key_bits}-bit key, "
    "{canonicalization}, RSA in OpenSSL), one thread",
    "dkimpy_sign_rsa2048": "DKIM anchor: dkimpy signs the same messages the same way, one thread",
    "email_build_and_sign_rsa2048": "Email: build and DKIM-sign one message, as the channel does, one thread",
    "os_write_loop": "For scale: `os.write` of a chunk of the same size to each of the same sockets, in a "
    "loop, nothing else",
    "openssl_rsa2048_sign": "For scale: the RSA 2048 private-key operation alone in OpenSSL "
    "(`openssl speed`), one thread",
}
PREFIX_LABELS = {
    "hub_publish_": "Stream hub: one event published to {n:,} loopback connections, writer threads: "
    "{writer_threads}",
    "stream_": "Stream: publish → receipt over SSE, {connections:,} open connections, writer threads: "
    "{writer_threads}",
    "nchan_": "Stream anchor: nginx + Nchan, publish → receipt, {connections:,} open connections, nginx "
    "workers: {workers}",
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
    # live stream
    "writer_threads": "Warta's writer threads",
    "us_per_delivery": "µs per delivery",
    "us_rounds": "µs per delivery, each round",
    "own_us": "µs of its own per delivery, above the bare write",
    "chunk_bytes": "chunk bytes",
    "workers": "nginx worker processes",
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
    "editions": "editions",
    "groups": "events",
    "live": "desktops sent the release",
    "cold_ms": "first one (cold) ms",
    "rehearsals_used": "rehearsals used",
    "server_cpu_us_per_email": "server CPU µs per email (its sending processes included)",
    "server_cpu_busy": "server CPU busy, sending processes included (1.0 = one core)",
    "sink_cpu_us_per_email": "sink CPU µs per email",
    "machine_cpu_busy": "machine CPU busy, every core (1.0 = one core)",
    "server_loop_thread_busy": "server's event-loop thread busy (1.0 = one core)",
    "server_other_threads_busy": "server's other threads busy (1.0 = one core)",
    "sending_processes": "sending processes",
    "sending_processes_busy": "sending processes busy (1.0 = one core)",
    "persistent": "sessions carry many messages",
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
    "rounds": "rounds (figures are their medians)",
    "p99_rounds_ms": "p99 ms of each round",
    "rate_rounds": "per second, first to last, of each round",
    "first_rounds_s": "first s of each round",
    "per_s_rounds": "per second, first to last, of each round",
    "server_cpu_us_rounds": "server CPU µs per email, each round",
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
    # dkim
    "key_bits": "key bits",
    "algorithm": "algorithm",
    "canonicalization": "canonicalisation",
    "signed_headers": "signed headers",
    "signature_bytes": "DKIM-Signature header bytes",
    "sign_share": "share of the time spent signing",
    "mean_ms": "mean ms",
    "wall_per_s": "per second by the wall clock",
    "version": "version",
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
    if isinstance(v, list):
        return " / ".join(_value(x) for x in v)
    return str(v)


def _details(result: dict[str, Any]) -> str:
    extra = [(k, v) for k, v in result.items() if k not in STATS]
    return "; ".join(f"{DETAILS.get(k, k)} {_value(v)}" for k, v in extra)


def _table(data: dict[str, Any]) -> str:
    m = data["machine"]
    took = f" The suite took {data['took_s']} s." if "took_s" in data else ""
    took += f" {data['note']}" if data.get("note") else ""
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
        lines.append(f"| {name} | {r.get('n', r.get('messages', '–'))} | {per_s} | {cells} |")
        extra = _details(r)
        if extra:
            details.append(f"| {name} | {extra} |")
    if details:
        lines += ["", "| what | details |", "|---|---|", *details]
    return "\n".join(lines)


# --- Warta against the anchors: a chart and a table of ratios ----------------------------------------

SVG = DOC.with_suffix(".svg")
CHART_ALT = "Warta against the best existing tools, same machine, same run"

EMAIL_TARGET_PER_S = 1500.0
STREAM_P99_TARGET_MS = 250.0
STREAM_TARGET_AT_K = 15  # the p99 target is set for 15,000 live connections
ALERTS_TARGET_MS = 20.0
E2E_TARGET_S = 60.0
# published figures, not measured here (other hardware, other data): match time per document
PUBLISHED_ALERTS = (
    ("Prospecter", 70.0, "< 70 ms", "945,000 queries"),
    ("Elasticsearch percolator", 1000.0, "≈ 1 s", "300,000 queries"),
)


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # the figure as written beside the bar
    kind: str = "warta"  # warta | anchor (measured here, same run) | published (other hardware)


@dataclass(frozen=True)
class Group:
    """One comparison, drawn on its own scale: Warta's bars first, then the anchors'."""

    title: str
    unit: str
    better: str  # "higher" | "lower"
    bars: tuple[Bar, ...]
    target: float | None = None
    target_text: str = ""
    note: str = ""

    @property
    def warta(self) -> list[Bar]:
        return [b for b in self.bars if b.kind == "warta"]

    @property
    def anchors(self) -> list[Bar]:
        return [b for b in self.bars if b.kind != "warta"]

    def met(self, value: float) -> bool | None:
        if self.target is None:
            return None
        return value >= self.target if self.better == "higher" else value <= self.target


def _num(v: float) -> str:
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}".removesuffix(".0")
    return f"{v:.2f}".rstrip("0").rstrip(".")


def _ratio(warta: float, anchor: float) -> str:
    if anchor <= 0:
        return "–"
    r = warta / anchor
    if r >= 10:
        return f"{r:,.0f}×"
    if r >= 1:
        return f"{r:.2f}×"
    return f"{r:.2g}×"


def _load() -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = {}
    for path in sorted(RESULTS.glob("*.json")):
        loaded = json.loads(path.read_text())
        data[loaded.get("suite", path.stem)] = loaded
    return data


def _results(data: dict[str, dict[str, Any]], suite: str) -> dict[str, Any]:
    results: dict[str, Any] = data.get(suite, {}).get("results", {})
    return results


def _figure(result: dict[str, Any] | None, key: str) -> float | None:
    if not result:
        return None
    v = result.get(key)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def comparisons(data: dict[str, dict[str, Any]] | None = None) -> list[Group]:
    """Every comparison the results hold; one that lacks Warta's figure (or, where there is no target,
    an anchor's) is left out."""
    data = _load() if data is None else data
    groups: list[Group] = []
    dist = _results(data, "distribution")

    # email: Warta's channel against the best sender into the same sink
    email = _figure(dist.get("email"), "per_s")
    anchor_key, anchor_label = "email_postfix_ceiling", "Postfix smtp-source → smtp-sink"
    if anchor_key not in dist:
        anchor_key, anchor_label = "email_smtplib_baseline", "smtplib, {threads} threads"
    anchor = _figure(dist.get(anchor_key), "per_s")
    if email is not None:
        bars = [Bar("Warta, pooled SMTP channel", email, f"{_num(email)} emails/s")]
        if anchor is not None:
            label = anchor_label.format_map(dist[anchor_key]) if "{" in anchor_label else anchor_label
            bars.append(Bar(label, anchor, f"{_num(anchor)} emails/s", "anchor"))
        per_connection = _figure(dist.get("email_postfix_per_connection"), "per_s")
        if per_connection is not None:
            label = f"smtp-source, a connection per message ({dist['email_postfix_per_connection']['sessions']} sessions)"
            bars.append(Bar(label, per_connection, f"{_num(per_connection)} emails/s", "anchor"))
        recipients = dist["email"].get("recipients")
        # the target is both: 1,500/s, and half of what the best sender pushes into the same sink
        target, target_text = EMAIL_TARGET_PER_S, f"target {_num(EMAIL_TARGET_PER_S)}/s"
        if anchor is not None and anchor_key == "email_postfix_ceiling":
            target = max(target, anchor / 2)
            target_text += f" and half the ceiling ({_num(anchor / 2)}/s)"
        groups.append(
            Group(
                "Email into an SMTP sink" + (f", {recipients:,} messages" if recipients else ""),
                "emails/s, first to last",
                "higher",
                tuple(bars),
                target,
                target_text,
            )
        )

    # live stream, at each size measured: Warta's hub against nginx + Nchan, given the same cores
    keys = [m for key in dist if (m := re.fullmatch(r"stream_(\d+)k(_cores\d+)?", key)) is not None]
    for k, suffix in sorted((int(m.group(1)), m.group(2) or "") for m in keys):
        ours, theirs = dist[f"stream_{k}k{suffix}"], dist.get(f"nchan_{k}k{suffix}")
        threads = ours.get("writer_threads", 1)
        cores = "one core each" if threads == 1 else f"{threads} cores each"
        mine = "Warta, one writer thread" if threads == 1 else f"Warta, {threads} writer threads (default)"
        anchor = "nginx + Nchan, one worker" if threads == 1 else f"nginx + Nchan, {threads} workers"
        p99 = _figure(ours, "p99_ms")
        if p99 is not None:
            bars = [Bar(mine, p99, f"{_num(p99)} ms")]
            nchan_p99 = _figure(theirs, "p99_ms")
            if nchan_p99 is not None:
                bars.append(Bar(anchor, nchan_p99, f"{_num(nchan_p99)} ms", "anchor"))
            target = f"target {_num(STREAM_P99_TARGET_MS)} ms"
            title = f"Live stream, {k:,}k connections, {cores}: publish → receipt, p99"
            if k == STREAM_TARGET_AT_K:
                groups.append(Group(title, "ms", "lower", tuple(bars), STREAM_P99_TARGET_MS, target))
            else:
                note = (
                    f"the {target.removeprefix('target ')} target is set at {STREAM_TARGET_AT_K}k connections"
                )
                groups.append(Group(title, "ms", "lower", tuple(bars), note=note))
        rate = _figure(ours, "per_s_first_to_last")
        if rate is not None:
            bars = [Bar(mine, rate, f"{_num(rate)} deliveries/s")]
            nchan_rate = _figure(theirs, "per_s_first_to_last")
            if nchan_rate is not None:
                bars.append(Bar(anchor, nchan_rate, f"{_num(nchan_rate)} deliveries/s", "anchor"))
            groups.append(
                Group(
                    f"Live stream, {k:,}k connections, {cores}: deliveries per second",
                    "deliveries/s, first to last",
                    "higher",
                    tuple(bars),
                    nchan_rate,
                    "target: at least Nchan's" if nchan_rate is not None else "",
                )
            )

    # alerts: Warta's matcher against published figures for other systems
    match = _results(data, "alerts").get("match_1m_alerts")
    p50 = _figure(match, "p50_ms")
    if match and p50 is not None:
        alerts = match.get("alerts", 1_000_000)
        bars = [Bar("Warta, alert index", p50, f"{_num(p50)} ms ({alerts:,} alerts)")]
        bars += [
            Bar(f"{name} (published)", value, f"{text} ({size})", "published")
            for name, value, text, size in PUBLISHED_ALERTS
        ]
        groups.append(
            Group(
                "Alerts: match one edition against saved queries, p50",
                "ms per edition",
                "lower",
                tuple(bars),
                ALERTS_TARGET_MS,
                f"target {_num(ALERTS_TARGET_MS)} ms",
                "published figures: other hardware and data, not measured here",
            )
        )

    # languages: per engine, Warta's warm pipeline against the raw engine on its own
    langs = _results(data, "languages")
    for key in sorted(langs):
        m = re.fullmatch(r"([a-z0-9]+)_engine_(\d+)_words", key)
        ours_wps = _figure(langs[key], "words_per_s")
        if m is None or ours_wps is None:
            continue
        engine, words = m.group(1), int(m.group(2))
        raws = sorted(
            (int(r.group(1)), other)
            for other in langs
            if (r := re.fullmatch(rf"{engine}_raw_(\d+)_words", other)) is not None
        )
        bars = [Bar(f"Warta, {engine} pipeline", ours_wps, f"{_num(ours_wps)} words/s ({words:,} words)")]
        for n, other in raws:
            wps = _figure(langs[other], "words_per_s")
            if wps is not None:
                how = "start-up each call" if n == words else "start-up amortised"
                bars.append(Bar(f"raw {engine}, {n:,} words", wps, f"{_num(wps)} words/s ({how})", "anchor"))
        if len(bars) > 1:
            groups.append(
                Group(
                    f"Translation, {engine}: Warta's pipeline and the raw engine",
                    "words/s",
                    "higher",
                    tuple(bars),
                )
            )

    # DKIM: Warta's signing against dkimpy (the usual Python library) and OpenSSL's bare RSA operation
    dkim = _results(data, "dkim")
    signed = _figure(dkim.get("dkim_sign_rsa2048"), "per_s")
    if signed is not None:
        bars = [Bar("Warta, rsa-sha256", signed, f"{_num(signed)} signatures/s")]
        dkimpy_rate = _figure(dkim.get("dkimpy_sign_rsa2048"), "per_s")
        if dkimpy_rate is not None:
            bars.append(
                Bar("dkimpy, the same messages", dkimpy_rate, f"{_num(dkimpy_rate)} signatures/s", "anchor")
            )
        ssl_rate = _figure(dkim.get("openssl_rsa2048_sign"), "per_s")
        if ssl_rate is not None:
            bars.append(
                Bar("OpenSSL, RSA 2048 sign alone", ssl_rate, f"{_num(ssl_rate)} signatures/s", "anchor")
            )
        groups.append(
            Group(
                "DKIM signing, RSA 2048, one core",
                "messages/s",
                "higher",
                tuple(bars),
                note=f"at {_num(EMAIL_TARGET_PER_S)} emails/s signing alone would need "
                f"{_num(EMAIL_TARGET_PER_S / signed)} cores",
            )
        )

    # end to end: both modes against the target; no anchor runs the whole path
    scaled = _results(data, "scaled")
    bars = []
    for key, name in (("e2e_embedded", "Warta embedded"), ("e2e_scaled", "Warta scaled")):
        total = _figure(scaled.get(key), "all_in_s")
        if total is not None:
            bars.append(Bar(name, total, f"{_num(total)} s"))
    if bars:
        first = scaled.get("e2e_embedded") or scaled.get("e2e_scaled") or {}
        who = ", ".join(
            f"{first[k]:,} {k}"
            for k in ("journalists", "outlets", "desktops")
            if isinstance(first.get(k), int)
        )
        groups.append(
            Group(
                "End to end: approve → every delivery" + (f" ({who})" if who else ""),
                "s, approve to the last delivery",
                "lower",
                tuple(bars),
                E2E_TARGET_S,
                f"target {_num(E2E_TARGET_S)} s",
                "no existing tool runs the whole path: measured against the target",
            )
        )
    return groups


def ratios_table(groups: list[Group]) -> str:
    lines = [
        "| comparison | Warta | anchor | Warta ÷ anchor | target | met? |",
        "|---|---:|---|---:|---|---|",
    ]

    def met(group: Group, bar: Bar) -> str:
        ok = group.met(bar.value)
        return "—" if ok is None else ("yes" if ok else "no")

    for g in groups:
        target_text = g.target_text.removeprefix("target: ").removeprefix("target ") if g.target else "—"
        if g.anchors:
            ours = g.warta[0]
            for a in g.anchors:
                lines.append(
                    f"| {g.title} ({g.better} is better) | {ours.text} | {a.label}: {a.text} | "
                    f"{_ratio(ours.value, a.value)} | {target_text} | {met(g, ours)} |"
                )
        else:
            for ours in g.warta:
                lines.append(
                    f"| {g.title}, {ours.label} ({g.better} is better) | {ours.text} | — | — | "
                    f"{target_text} | {met(g, ours)} |"
                )
    return "\n".join(lines)


# chart geometry, in px; the width grows when a figure's text would run into its ratio
_MIN_W = 960
_LABEL_END = 230  # labels end here (right-aligned)
_BAR_X = 240
_BAR_W = 320
_CHAR_W = 7.0  # a generous average advance at 12 px, to keep texts apart
_ROW = 22
_BAR_H = 14
_FONT = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"
_COLOURS = {"warta": "#1f6feb", "anchor": "#8c959f", "published": "url(#hatch)", "target": "#cf222e"}


def _x(v: float) -> str:
    return f"{v:.1f}".removesuffix(".0")


def _text(x: float, y: float, content: str, **attrs: str) -> str:
    extra = "".join(f' {k.rstrip("_").replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<text x="{_x(x)}" y="{_x(y)}"{extra}>{escape(content)}</text>'


def _scale(g: Group) -> float:
    top = max([b.value for b in g.bars] + ([g.target] if g.target is not None else []))
    return top if top > 0 else 1.0


def _ratio_text(g: Group, b: Bar) -> str:
    ours = g.warta[0] if len(g.warta) == 1 else None
    if ours is None or b.kind == "warta":
        return ""
    return f"Warta ÷ this = {_ratio(ours.value, b.value)}"


def _width(groups: list[Group]) -> int:
    widest = float(_MIN_W)
    for g in groups:
        for b in g.bars:
            end = _BAR_X + max(1.0, _BAR_W * b.value / _scale(g)) + 6 + _CHAR_W * len(b.text)
            ratio = _ratio_text(g, b)
            if ratio:
                end += 16 + _CHAR_W * len(ratio)
            widest = max(widest, end + 12)
    return int(widest + 0.999)


def svg(groups: list[Group], machine: dict[str, Any] | None = None) -> str:
    """The chart as SVG text: the same groups give the same bytes."""
    width_px = _width(groups)
    ratio_end = width_px - 12
    body: list[str] = []
    y = 30.0
    body.append(_text(12, y, CHART_ALT, font_size="17", font_weight="bold"))
    y += 20
    body.append(
        _text(
            12,
            y,
            "Each group has its own scale: bars are drawn against the largest figure in the group, "
            "or its target where that is larger.",
            font_size="12",
            fill="#59636e",
        )
    )
    if machine:
        y += 16
        where = f"Measured on {machine.get('cores')} cores, {machine.get('memory_gib')} GiB, {machine.get('cpu')}."
        body.append(_text(12, y, where, font_size="12", fill="#59636e"))
    y += 22
    # legend
    x = 12.0
    for kind, name in (
        ("warta", "Warta"),
        ("anchor", "existing tool, same machine, same run"),
        ("published", "published figure, other hardware"),
    ):
        stroke = ' stroke="#6e7781"' if kind == "published" else ""
        body.append(
            f'<rect x="{_x(x)}" y="{_x(y - 10)}" width="14" height="12" fill="{_COLOURS[kind]}"{stroke}/>'
        )
        body.append(_text(x + 20, y, name, font_size="12"))
        x += 20 + 6.6 * len(name) + 18
    body.append(
        f'<line x1="{_x(x + 7)}" y1="{_x(y - 12)}" x2="{_x(x + 7)}" y2="{_x(y + 3)}" '
        f'stroke="{_COLOURS["target"]}" stroke-width="2" stroke-dasharray="3 2"/>'
    )
    body.append(_text(x + 16, y, "target", font_size="12"))
    y += 14

    if not groups:
        y += 30
        body.append(_text(12, y, "No results yet: run python -m bench.", font_size="13"))

    for g in groups:
        y += 26
        body.append(_text(12, y, g.title, font_size="14", font_weight="bold"))
        y += 17
        sub = f"{g.unit}; {g.better} is better" + (f"; {g.note}" if g.note else "")
        body.append(_text(12, y, sub, font_size="12", fill="#59636e"))
        y += 8
        scale = _scale(g)
        top = y
        bottom = y + _ROW * len(g.bars)
        if g.target is not None:  # drawn first, so that the figures' text lies over it
            tx = _BAR_X + _BAR_W * g.target / scale
            body.append(
                f'<line x1="{_x(tx)}" y1="{_x(top)}" x2="{_x(tx)}" y2="{_x(bottom + 2)}" '
                f'stroke="{_COLOURS["target"]}" stroke-width="2" stroke-dasharray="3 2"/>'
            )
        for b in g.bars:
            width = max(1.0, _BAR_W * b.value / scale)
            mid = y + _ROW / 2
            body.append(_text(_LABEL_END, mid + 4, b.label, font_size="12", text_anchor="end"))
            stroke = ' stroke="#6e7781" stroke-width="1"' if b.kind == "published" else ""
            body.append(
                f'<rect x="{_BAR_X}" y="{_x(mid - _BAR_H / 2)}" width="{_x(width)}" height="{_BAR_H}" '
                f'fill="{_COLOURS[b.kind]}"{stroke}><title>{escape(f"{b.label}: {b.text}")}</title></rect>'
            )
            weight = {"font_weight": "bold"} if b.kind == "warta" else {}
            halo = {"stroke": "#ffffff", "stroke_width": "3", "paint_order": "stroke"}
            body.append(_text(_BAR_X + width + 6, mid + 4, b.text, font_size="12", **weight, **halo))
            ratio = _ratio_text(g, b)
            if ratio:
                body.append(
                    _text(ratio_end, mid + 4, ratio, font_size="12", text_anchor="end", font_weight="bold")
                )
            y += _ROW
        if g.target is not None:
            anchor = "end" if tx > _BAR_X + _BAR_W * 0.75 else "start"
            body.append(
                _text(
                    tx + (-4 if anchor == "end" else 4),
                    y + 12,
                    g.target_text,
                    font_size="11",
                    fill=_COLOURS["target"],
                    text_anchor=anchor,
                )
            )
            y += 12
    y += 26
    body.append(
        _text(
            12,
            y,
            "Source: bench/results/*.json, drawn by bench/report.py. Ratios are Warta's figure ÷ the other's.",
            font_size="11",
            fill="#59636e",
        )
    )
    height = int(y + 14)

    desc = " ".join(_describe(g) for g in groups) or "No results yet."
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width_px}" height="{height}" '
        f'viewBox="0 0 {width_px} {height}" role="img" aria-labelledby="chart-title chart-desc" '
        f'font-family="{_FONT}" fill="#1f2328">',
        f'<title id="chart-title">{escape(CHART_ALT)}</title>',
        f'<desc id="chart-desc">{escape(desc)}</desc>',
        "<defs>",
        '<pattern id="hatch" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)">'
        '<rect width="6" height="6" fill="#ffffff"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#8c959f" stroke-width="2.5"/></pattern>',
        "</defs>",
        f'<rect width="{width_px}" height="{height}" fill="#ffffff"/>',
    ]
    return "\n".join([*head, *body, "</svg>"]) + "\n"


def _describe(g: Group) -> str:
    parts = [f"{b.label} {b.text}" for b in g.bars]
    text = f"{g.title} ({g.unit}, {g.better} is better): " + "; ".join(parts)
    if g.target is not None:
        text += f"; {g.target_text}"
    return text + "."


def write() -> None:
    data = _load()
    groups = comparisons(data)
    machine = next((d["machine"] for d in data.values() if "machine" in d), None)
    SVG.write_text(svg(groups, machine))
    parts = [
        "### Against the best existing tools\n\n"
        f"![{CHART_ALT}]({SVG.name})\n\n"
        "Ratios are Warta's figure divided by the other's; whether higher or lower is better is given "
        "per comparison. Published figures come from other hardware and data and were not measured "
        f"here.\n\n{ratios_table(groups)}\n"
    ]
    for d in data.values():
        parts.append(f"### {d['suite']}\n\n{_table(d)}\n")
    text = DOC.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.write_text(f"{head}{BEGIN}\n{chr(10).join(parts)}{END}{tail}")
    sizing.write()
