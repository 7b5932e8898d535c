"""`make bench` on a tiny audience: the harness runs end to end against the real anchors (Postfix's
smtp-source and smtp-sink, nginx with Nchan), measures real deliveries and regenerates the report,
its ratios and its chart, in a folder of its own. The figures themselves are not checked: benchmarks
measure, they do not gate."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_runs_on_a_tiny_audience(tmp_path: Path) -> None:
    shutil.copy(ROOT / "docs" / "benchmarks.md", tmp_path / "benchmarks.md")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("WARTA_")},
        "WARTA_BENCH_OUT": str(tmp_path),
        "WARTA_BENCH_ROUTING": "1500,1500",
        "WARTA_BENCH_EMAILS": "60",
        "WARTA_BENCH_WEBHOOKS": "40",
        "WARTA_BENCH_SSE": "60",
        "WARTA_BENCH_SSE_ROUNDS": "2",
        "WARTA_BENCH_EMAIL_ROUNDS": "2",
        "WARTA_BENCH_PLAN_DESKTOPS": "300",
        "WARTA_BENCH_DKIM": "5",
        "WARTA_BENCH_RELEASE_IN": "0.5",
        "WARTA_BENCH_HUB": "300",
        "WARTA_BENCH_HUB_ROUNDS": "2",
    }
    run = subprocess.run(
        [sys.executable, "-m", "bench", "distribution", "dkim", "hub"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads((tmp_path / "results" / "distribution.json").read_text())["results"]
    # every message, webhook and live event of the tiny audience arrived, through Warta and the anchors
    assert results["email"]["arrived"] == results["email"]["recipients"] == 60
    assert results["email_postfix_ceiling"]["per_s"] > 0
    assert results["email"]["of_ceiling"] > 0
    assert results["webhooks_own_hosts_all_healthy"]["reached"] == 40
    assert results["stream_60"]["received"] == results["stream_60"]["connections"] == 60
    assert results["nchan_60"]["received"] == 60
    assert results["stream_60"]["p99_vs_nchan"] > 0
    assert len(results["stream_60"]["p99_rounds_ms"]) == len(results["nchan_60"]["p99_rounds_ms"]) == 2
    assert results["email"]["server_cpu_us_per_email"] > 0
    # the issuer's report of the last email release counts its rows (the 60 journalists, by email)
    assert results["delivery_report"]["n"] == 10 and results["delivery_report"]["rows"] >= 60
    assert results["email"]["rounds"] == 2 and len(results["email"]["per_s_rounds"]) == 2
    # the sink's CPU is read in clock ticks (10 ms): on 60 emails it may round to nothing
    assert isinstance(results["email"]["sink_cpu_us_per_email"], float)
    assert results["email"]["sink_cpu_us_per_email"] >= 0
    assert results["email"]["server_loop_thread_busy"] is not None
    assert results["email_postfix_per_connection"]["persistent"] is False
    assert results["email_postfix_per_connection"]["arrived"] == 60
    # the live plan, decided at the publish and rehearsed: every rehearsal was used
    assert results["live_plan_at_publish"]["live"] == results["live_plan_rehearsed"]["live"] > 0
    assert results["live_plan_rehearsed"]["rehearsals_used"] == "6 of 6"
    assert results["route_release"]["rows"] > 0
    dkim = json.loads((tmp_path / "results" / "dkim.json").read_text())
    assert dkim["suite"] == "dkim"
    # the hub's own cost per delivery, beside the bare write to the same 300 sockets
    hub = json.loads((tmp_path / "results" / "hub.json").read_text())["results"]
    assert hub["os_write_loop"]["n"] == hub["hub_publish_1_writer"]["n"] == 300
    assert hub["hub_publish_1_writer"]["us_per_delivery"] > 0 and "own_us" in hub["hub_publish_1_writer"]
    # the report: the published doc untouched, the copy regenerated with the ratios and the chart
    doc = (tmp_path / "benchmarks.md").read_text()
    assert "![" in doc and "benchmarks.svg" in doc
    assert doc != (ROOT / "docs" / "benchmarks.md").read_text()
    chart = ET.parse(tmp_path / "benchmarks.svg").getroot()
    assert chart.tag.endswith("svg")
