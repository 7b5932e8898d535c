"""Stream gateways in scaled mode: a desktop may connect to any gateway and resume on another one."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cluster import Cluster
from receivers import SseClient
from test_distribution import Wire, wait_until, write_audience

pytestmark = pytest.mark.parametrize("mode", ["scaled"], indirect=True)


def test_a_desktop_resumes_on_another_gateway_and_after_a_gateway_restart(
    server_factory: Any, tmp_path: Path
) -> None:
    server: Cluster = server_factory()
    wire = Wire(server)
    audience = tmp_path / "audience.csv"
    write_audience(audience, journalists=0, outlets=[], desktops=6, extra=[])
    assert wire.import_csv(audience)["created"] == 6
    circuit = wire.circuit()
    people = {r["external_id"]: r for r in wire.recipients()}
    token = people["d0"]["stream_token"]
    other = people["d1"]["stream_token"]
    g0, g1 = server.stream_url(0), server.stream_url(1)

    # first release: d0 on gateway 0, d1 on gateway 1; each sees it once, under the same event id
    a, b = SseClient(g0, token).start(), SseClient(g1, other).start()
    first = wire.release(circuit, datetime.now(UTC) + timedelta(seconds=1))
    wait_until(lambda: a.of("release") and b.of("release"), 30, "the first release on both gateways")
    assert [e["release_id"] for e in a.of("release")] == [first]
    assert [e["release_id"] for e in b.of("release")] == [first]
    resume_from = a.last_id
    assert resume_from is not None and resume_from.isdigit()
    a.stop()

    # second release while d0 is away; d0 comes back on the OTHER gateway with Last-Event-ID
    second = wire.release(circuit, datetime.now(UTC) + timedelta(seconds=1))
    wait_until(lambda: len(b.of("release")) == 2, 30, "the second release on gateway 1")
    back = SseClient(g1, token, last_event_id=resume_from).start()
    wait_until(lambda: back.of("release"), 10, "the missed release after resuming")
    time.sleep(0.5)
    assert [e["release_id"] for e in back.of("release")] == [second], "missed once, and nothing older"
    back.stop()

    # a gateway killed and started again rebuilds its replay ring from the live stream
    server.kill(server.gateways[0])
    server.spawn(server.gateways[0])
    again = SseClient(g0, token, last_event_id=resume_from).start()
    wait_until(lambda: again.of("release"), 10, "the replay from a restarted gateway")
    time.sleep(0.5)
    assert [e["release_id"] for e in again.of("release")] == [second]
    health = httpx.get(f"{g0}/healthz").json()
    assert health["connections"] == 1 and health["last_event_id"] >= int(resume_from) + 1
    again.stop()
    b.stop()
