"""Regenerate the sizing table of docs/operations.md from bench/results/*.json.

python -m bench.sizing     # rewrite the table between the markers (`make bench` does it too)

The table states what one process did in the latest run of each suite and what that implies for the
published reach; every figure in it is read from the results, so the operator's guide cannot drift
from the benchmarks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.harness import OUT, RESULTS

DOC = OUT / "operations.md" if OUT else Path(__file__).resolve().parents[1] / "docs" / "operations.md"
BEGIN, END = "<!-- sizing:begin -->", "<!-- sizing:end -->"

# the published reach of a commercial wire, and the target: everyone reached within a minute
JOURNALISTS, OUTLETS, DESKTOPS = 86_000, 6_500, 3_500_000
TARGET_S = 60


def load(results: Path = RESULTS) -> dict[str, dict[str, Any]]:
    """Each suite's results by suite name."""
    data: dict[str, dict[str, Any]] = {}
    for path in sorted(results.glob("*.json")):
        loaded = json.loads(path.read_text())
        data[loaded.get("suite", path.stem)] = loaded.get("results", {})
    return data


def _n(v: float) -> str:
    """A figure as the prose writes it: thousands separated, small ones with two significant digits."""
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.0f}"
    return f"{v:.2g}"


def _s(v: float) -> str:
    """Seconds, one decimal under a minute's worth of precision."""
    return f"{v:.1f}" if v < 100 else f"{v:,.0f}"


class _Results:
    """One suite's results, where a missing result is an error naming it."""

    def __init__(self, data: dict[str, dict[str, Any]], suite: str) -> None:
        self.suite = suite
        self.results = data.get(suite, {})

    def __getitem__(self, key: str) -> dict[str, Any]:
        try:
            result: dict[str, Any] = self.results[key]
        except KeyError:
            raise KeyError(f"bench/results/{self.suite}.json has no {key!r}: run `make bench`") from None
        return result


def _end_to_end(scaled: _Results) -> str:
    emb, sc = scaled["e2e_embedded"], scaled["e2e_scaled"]
    return (
        f"| end to end | one release to the published reach ({emb['journalists']:,} journalists, "
        f"{emb['outlets']:,} outlets, {emb['desktops']:,} live desktops): every delivery "
        f"{_s(emb['all_in_s'])} s after approval embedded and {_s(sc['all_in_s'])} s scaled "
        f"({sc['delivery_workers']} delivery workers, {sc['gateways']} gateways, all on the same cores); "
        f"desktops within {_s(emb['stream_all_in_s'])} s embedded and {_s(sc['stream_all_in_s'])} s scaled, "
        f"outlets within {_s(emb['webhook_all_in_s'])} s and {_s(sc['webhook_all_in_s'])} s, email last | — |"
    )


def _email(dist: _Results, dkim: _Results) -> str:
    email, ceiling = dist["email"], dist["email_postfix_ceiling"]
    needed = JOURNALISTS / TARGET_S
    sign_ms = dkim["dkim_sign_rsa2048"]["p50_ms"]
    return (
        f"| email | {_n(email['per_s'])} emails/s from one process (the median of {email['rounds']} "
        f"rounds) into Postfix's `smtp-sink` over {email['smtp_pool']} pipelined connections, "
        f"{email['of_ceiling']:.2f}× of what Postfix's own `smtp-source` pushes into the same sink over as "
        f"many connections in the same run ({_n(ceiling['per_s'])}/s); {_n(email['server_cpu_us_per_email'])} "
        f"µs of the server's CPU per message, its sending processes included (the server busy "
        f"{email['server_cpu_busy']:.2f} of a core, the machine {email['machine_cpu_busy']:.2f} of its "
        f"cores) | {JOURNALISTS:,} emails in {TARGET_S} s is {_n(needed)}/s: one process has room for "
        f"{email['per_s'] / needed:.1f}× that; more delivery workers (scaled mode) on more cores for more, "
        f"and relays that accept that much. DKIM costs about {sign_ms:.2g} ms of a core per message more |"
    )


def _webhooks(dist: _Results) -> str:
    own, own_slow = dist["webhooks_own_hosts_all_healthy"], dist["webhooks_own_hosts_with_slow"]
    shared, shared_slow = dist["webhooks_shared_host_all_healthy"], dist["webhooks_shared_host_with_slow"]
    needed = OUTLETS / TARGET_S
    return (
        f"| webhooks | {own['outlets']:,} outlets on their own hosts: all in {_s(own['all_in_s'])} s (about "
        f"{_n(own['per_s_first_to_last'])}/s first to last, our own HTTP/1.1 client); the healthy ones all in "
        f"{_s(own_slow['all_in_s'])} s with 10% slow and 5% failing ones beside them; on one shared host "
        f"({shared['outlets']:,} outlets) {_s(shared['all_in_s'])} s, {_s(shared_slow['all_in_s'])} s with "
        f"slow neighbours | {OUTLETS:,} outlets in {TARGET_S} s is about {_n(needed)}/s: one delivery worker "
        f"has room to spare |"
    )


def _routing(dist: _Results) -> str:
    route, at_publish, rehearsed = (
        dist["route_release"],
        dist["live_plan_at_publish"],
        dist["live_plan_rehearsed"],
    )
    rows = JOURNALISTS + OUTLETS
    return (
        f"| routing | about {_n(route['per_s'])} ledger rows/s (one release to {route['rows']:,} rows in "
        f"{_s(route['p50_ms'] / 1000)} s); the live plan for {at_publish['desktops']:,} desktops "
        f"{_n(at_publish['p50_ms'])} ms decided at the publish, {_n(rehearsed['p50_ms'])} ms for a release "
        f"rehearsed before its release time; desktops are published before any row is built, feed items due "
        f"at once are written as delivered, other rows are written 1,000 in the first transaction and 2,000 "
        f"in each after, and delivery starts on the first | outlets and journalists: {rows:,} rows, about "
        f"{_s(rows / route['per_s'])} s of one routing worker per release |"
    )


def _live(dist: _Results) -> str:
    s5, s15, n5, n15 = dist["stream_5k"], dist["stream_15k"], dist["nchan_5k"], dist["nchan_15k"]
    first_ms = sorted(1000 * f for f in s15["first_rounds_s"])
    return (
        f"| live desktops | one process, the median of {s15['rounds']} rounds: p99 {_n(s5['p99_ms'])} ms at "
        f"{s5['connections']:,} connections and {_n(s15['p99_ms'])} ms at {s15['connections']:,}, against "
        f"nginx + Nchan on the same clients in the same run ({_n(n5['p99_ms'])} ms and {_n(n15['p99_ms'])} "
        f"ms); {_n(s15['per_s_first_to_last'])} deliveries/s first to last at {s15['connections']:,}, "
        f"{s15['rate_vs_nchan']:.2f}× Nchan's; the first desktop has a scheduled release "
        f"{_n(first_ms[0])}–{_n(first_ms[-1])} ms after it is published | see below |"
    )


def _nats(nats: _Results) -> str:
    publish, consume = nats["publish_many_20k_per_256"], nats["consume_ack_1_worker_per_1000"]
    return (
        f"| NATS | {_n(publish['per_s'])} pipelined publishes/s, {_n(consume['per_s'])} acked consumes/s per "
        f"consumer | a few events per release: one server (or a 3-node cluster for availability) |"
    )


def _desktops(dist: _Results) -> str:
    """The paragraph under the table: what the per-desktop work comes to at the published reach."""
    plan, route = dist["live_plan_at_publish"], dist["route_release"]
    us_each = 1000 * plan["p50_ms"] / plan["desktops"]
    return (
        "Desktops are the hard part. Every desktop gets a ledger row per release. Routing publishes the\n"
        "desktops' event before it builds or writes their rows, grouped per event, but it still decides each\n"
        f"desktop (about {us_each:.2g} µs each: the plan for {plan['desktops']:,} desktops takes "
        f"{_n(plan['p50_ms'])} ms in process, some\n{_s(us_each * DESKTOPS / 1e6)} s for "
        f"{DESKTOPS / 1e6:g} million; a scheduled release's plan is rehearsed before its release time, but "
        f"that only\nmoves the work earlier) and writes a row for each ({DESKTOPS / 1e6:g} million rows, about "
        f"{_n(DESKTOPS / route['per_s'])} s at the measured rate)."
    )


def table(data: dict[str, dict[str, Any]]) -> str:
    """The text between the markers, from every suite's results."""
    dist, scaled = _Results(data, "distribution"), _Results(data, "scaled")
    lines = [
        "| work | measured per process | for the published reach |",
        "|---|---|---|",
        _end_to_end(scaled),
        _email(dist, _Results(data, "dkim")),
        _webhooks(dist),
        _routing(dist),
        _live(dist),
        "| PostgreSQL | each process holds up to 15 connections (SQLAlchemy's pool: 5 + 10 overflow) | "
        "20 processes: `max_connections` ≥ 300 |",
        _nats(_Results(data, "nats")),
    ]
    return "\n".join(lines) + "\n\n" + _desktops(dist)


def render(doc: str, data: dict[str, dict[str, Any]]) -> str:
    """`doc` with the text between the markers replaced by what the results say."""
    head, begin, rest = doc.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"the document has no {BEGIN} … {END} markers")
    return f"{head}{BEGIN}\n{table(data)}\n{END}{tail}"


def write(doc: Path = DOC, results: Path = RESULTS) -> bool:
    """Rewrite the table in `doc` (where it exists); whether anything changed."""
    if not doc.exists():
        return False
    text = doc.read_text()
    new = render(text, load(results))
    if new != text:
        doc.write_text(new)
    return new != text


if __name__ == "__main__":
    print("rewrote" if write() else "unchanged", DOC)
