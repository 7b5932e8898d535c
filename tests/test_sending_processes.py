"""Email sent from a child process: the engine keeps the ledger and each commit point, the child
builds the messages and speaks SMTP; a child that dies loses nothing and sends nothing twice."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from conftest import free_port
from receivers import SmtpSink
from test_distribution import Wire, assert_every_email_arrived_or_is_flagged, wait_until, write_audience
from test_embargo_property import release, world
from warta.bus import MemoryBus
from warta.config import Settings
from warta.delivery import ledger
from warta.delivery.engine import Engine
from warta.delivery.sender import Frames, SentFromProcesses, pack
from warta.model import Delivery, Endpoint
from warta.routing.stage import Router
from warta.runtime import load_channels
from warta.store import Store


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                args = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid and b"warta.delivery.sender" in args:
                found.append(int(entry.name))
    return found


def test_frames_cut_a_stream_anywhere() -> None:
    messages = [("send", 1, ["a" * 300, None]), ("commit", 1, 0), ("results", 7, [("delivered", None, None)])]
    stream = pack(messages[:2]) + pack(messages[2:])
    for step in (1, 3, 7, len(stream)):
        frames = Frames()
        got = []
        for at in range(0, len(stream), step):
            got += frames.feed(stream[at : at + step])
        assert got == messages


@contextlib.contextmanager
def mailing(per_kind: int, processes: int) -> Iterator[tuple[Store, Settings, str, SmtpSink]]:
    """A world of `per_kind` journalists, outlets and desktops (none embargo-trusted) whose email
    goes to a real SMTP sink from `processes` sending processes, with a release out 5 s ago."""
    load_channels()
    sink = SmtpSink().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store, cfg = world(Path(tmp), [False, False, False] * per_kind)
            cfg = replace(cfg, smtp_url=sink.url, smtp_pool=4, sending_processes=processes)
            yield store, cfg, release(store, cfg, -5, None), sink
    finally:
        sink.stop()


@pytest.mark.parametrize("processes", [1, 2])
def test_a_release_through_sending_processes_with_a_commit_point_refused(processes: int) -> None:
    """Every message once, built and sent by the children (batches taking turns between them); a
    job whose commit point the engine refuses (its claim lost) never gets its final dot, and the
    message never arrives."""
    with mailing(14, processes) as (store, cfg, rid, sink):
        engine = Engine(store, cfg)
        channel = engine.channels["email"]
        assert isinstance(channel, SentFromProcesses)
        Router(store, cfg, MemoryBus(), engine.channels, on_rows=lambda: None).route_release(rid)

        async def send() -> tuple[list[Any], list[Any], list[int]]:
            jobs = [job for job in engine._claim(100) if job.channel == "email"]
            refused = {job.delivery_id for job in jobs[::5]}
            for job in jobs:
                if job.delivery_id in refused:

                    async def lost(delivery_id: str = job.delivery_id) -> None:
                        raise ledger.LostClaim(delivery_id)

                    job.commit_point = lost
            await channel.start()
            try:
                results = await asyncio.gather(
                    *(channel.send(jobs[i : i + 5]) for i in range(0, len(jobs), 5))
                )
                pids = channel.child_pids()
            finally:
                await channel.stop()
            return jobs, [r for batch in results for r in batch], pids

        jobs, results, pids = asyncio.run(send())
        assert len(jobs) == 14 and len(set(pids)) == processes and os.getpid() not in pids
        assert not _children(os.getpid()), "the sending process outlived stop()"
        mails = sink.snapshot()
        arrived = {m.message_id.strip("<>").split("@")[0] for m in mails}
        assert len(arrived) == len(mails) == 14 - len(jobs[::5])
        for i, (job, result) in enumerate(zip(jobs, results, strict=True)):
            if i % 5 == 0:
                assert result.outcome == "retry" and "commit point" in (result.error or "")
                assert job.delivery_id not in arrived
            else:
                assert result.outcome == "delivered" and job.delivery_id in arrived
        # the messages are the engine's: its edition, to each recipient's address
        assert {m.message["X-Warta-Kind"] for m in mails} == {"edition"}
        assert all("Pelabuhan Selatan opens a solar terminal" in str(m.message["Subject"]) for m in mails)
        with store.session() as s:
            emails = dict(
                s.execute(
                    select(Delivery.id, Endpoint.address).join(Endpoint, Endpoint.id == Delivery.endpoint_id)
                ).all()
            )
        assert all(m.rcpt == [emails[m.message_id.strip("<>").split("@")[0]]] for m in mails)


class SlowDot(SmtpSink):
    """Holds each final dot's reply for a moment, so that batches are in flight when the child dies."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        handler = self.controller.handler
        original = handler.handle_DATA

        async def handle_DATA(server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            await asyncio.sleep(delay)
            return str(await original(server, session, envelope))

        handler.handle_DATA = handle_DATA


def test_a_killed_sending_process_loses_nothing_and_sends_nothing_twice(
    server_factory: Any, tmp_path: Path
) -> None:
    sink = SlowDot(0.005).start()
    try:
        server = server_factory(WARTA_SMTP_URL=sink.url, WARTA_SMTP_POOL="8", WARTA_SENDING_PROCESSES="1")
        wire = Wire(server)
        audience = tmp_path / "audience.csv"
        write_audience(audience, journalists=1500, outlets=[], desktops=0, extra=[])
        assert wire.import_csv(audience)["created"] == 1500
        rid = wire.release(wire.circuit(), datetime.now(UTC) + timedelta(seconds=1))
        wait_until(lambda: len(sink.snapshot()) >= 200, 60, "the fan-out to be under way", every=0.01)
        assert server.proc is not None
        (first,) = _children(server.proc.pid)
        os.kill(first, signal.SIGKILL)
        at_kill = len(sink.snapshot())
        assert at_kill < 1500, "the fan-out finished before the kill; nothing was tested"
        wait_until(lambda: wire.settled(rid), 120, "the fan-out to finish after the kill")
        assert server.proc.poll() is None, "the server went down with its sending process"
        rows = wire.ledger(rid, channel="email")
        assert len(rows) == 1500 and {d["state"] for d in rows} == {"delivered"}
        mails = sink.snapshot()
        assert not sink.duplicates(), f"duplicates by Message-ID: {list(sink.duplicates().items())[:5]}"
        assert_every_email_arrived_or_is_flagged(rows, mails, connections=8)
        # the rest went through a new sending process
        assert _children(server.proc.pid) and first not in _children(server.proc.pid)
        assert len(mails) > at_kill
    finally:
        sink.stop()


def test_no_sending_process_when_set_to_none(server_factory: Any, tmp_path: Path) -> None:
    sink = SmtpSink(free_port()).start()
    try:
        server = server_factory(WARTA_SMTP_URL=sink.url, WARTA_SENDING_PROCESSES="0")
        wire = Wire(server)
        audience = tmp_path / "audience.csv"
        write_audience(audience, journalists=20, outlets=[], desktops=0, extra=[])
        wire.import_csv(audience)
        rid = wire.release(wire.circuit(), datetime.now(UTC))
        wait_until(lambda: wire.settled(rid), 60, "the release to go out")
        assert len(sink.snapshot()) == 20
        assert server.proc is not None and not _children(server.proc.pid)
    finally:
        sink.stop()


def test_a_channel_that_raises_has_every_job_retried(tmp_path: Path) -> None:
    """The guard the engine and a sending process both put around a channel: a bug in a channel
    must not lose rows."""
    from warta.delivery.base import Channel, Job, Result, send_safely

    class Broken(Channel):
        name = "broken"

        async def send(self, jobs: list[Job]) -> list[Result]:
            raise KeyError("bundle")

    jobs: list[Any] = [object(), object(), object()]
    results = asyncio.run(send_safely(Broken(), jobs))
    assert [r.outcome for r in results] == ["retry"] * 3
    assert all(r.error == "KeyError: 'bundle'" for r in results)
