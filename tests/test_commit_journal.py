"""The commit journal of the only delivery worker: it outlives its process, is read back at the
next start (rows that passed their commit point are never sent again), and is emptied whenever
nothing is in flight."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from dataclasses import fields
from pathlib import Path

import pytest
from sqlalchemy import func, select

from test_embargo_property import release, world
from test_sending_processes import mailing
from warta.bus import MemoryBus
from warta.delivery.base import Job
from warta.delivery.engine import Engine
from warta.delivery.journal import CommitJournal, Journaled, journal_dir, read_back
from warta.model import Delivery
from warta.routing.stage import Router
from warta.runtime import load_channels

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop

WRITER = """
import sys, time
from pathlib import Path
from warta.delivery.journal import CommitJournal
journal = CommitJournal(Path(sys.argv[1]))
for i in range(3):
    journal.mark(f"dlv_{i}", i + 1)
print("ready", flush=True)
time.sleep(float(sys.argv[2]))
journal.mark("dlv_late", 1)
"""


def test_a_journal_is_read_once_its_process_lets_go(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path), "1.0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        started = time.monotonic()
        entries, files = read_back(tmp_path, wait=20)
        # it waited for the writer to finish, and so saw its last line too
        assert time.monotonic() - started > 0.5
        assert entries == [("dlv_0", 1), ("dlv_1", 2), ("dlv_2", 3), ("dlv_late", 1)]
        assert len(files) == 1
    finally:
        proc.wait(10)


def test_a_torn_line_never_passed(tmp_path: Path) -> None:
    (tmp_path / "1-0-0.log").write_bytes(b"dlv_a 1\ndlv_b 2\ndlv_c 7")  # the last write cut off
    # a write that failed part-way, spoiled by the next one's "#"; a line that is not one
    (tmp_path / "2-0-0.log").write_bytes(b"dlv_d x\n\ndlv_f 3#\ndlv_e 1\n")
    entries, files = read_back(tmp_path)
    assert entries == [("dlv_a", 1), ("dlv_b", 2), ("dlv_e", 1)] and len(files) == 2


def test_an_empty_journal_leaves_nothing_behind(tmp_path: Path) -> None:
    journal = CommitJournal(tmp_path)
    journal.mark("dlv_a", 1)
    journal.clear()
    assert journal.path.stat().st_size == 0
    journal.close()
    assert not list(tmp_path.iterdir())
    kept = CommitJournal(tmp_path)
    kept.mark("dlv_b", 1)
    kept.close()
    assert read_back(tmp_path)[0] == [("dlv_b", 1)]


def test_a_restart_settles_what_passed_and_sends_the_rest_again() -> None:
    """A crash after some messages passed their commit point: at the next start those rows are
    settled as delivered (never sent twice), the others go back to the queue."""
    load_channels()
    with tempfile.TemporaryDirectory() as tmp:
        store, cfg = world(Path(tmp), [False, False, False] * 4)
        rid = release(store, cfg, -5, None)
        engine = Engine(store, cfg)
        Router(store, cfg, MemoryBus(), engine.channels, on_rows=lambda: None).route_release(rid)
        engine.journal = CommitJournal(journal_dir(cfg.data_dir))
        jobs = [job for job in engine._claim(100) if job.channel == "email"]
        assert len(jobs) == 4 and all(isinstance(job.commit_point, Journaled) for job in jobs)
        # the claim makes its jobs without the dataclass's __init__: every field is there
        assert all(set(vars(job)) == {f.name for f in fields(Job)} for job in jobs)

        async def pass_points() -> None:
            for job in jobs[:2]:
                await job.commit_point()

        asyncio.run(pass_points())
        # the process "dies" here: the journal stays as it is, nothing more is written
        again = Engine(store, cfg)
        counts = again._recover()
        assert counts["sending->committing (journal)"] == 2
        with store.session() as s:
            rows = {d.id: d for d in s.scalars(select(Delivery).where(Delivery.channel == "email"))}
        for job in jobs[:2]:
            assert rows[job.delivery_id].state == "delivered"
            assert rows[job.delivery_id].last_error == "settled as delivered after a restart"
        for job in jobs[2:]:
            assert rows[job.delivery_id].state == "pending"
        assert read_back(journal_dir(cfg.data_dir)) == ([], [])  # read into the ledger, then deleted
        engine.journal.close()


@pytest.mark.parametrize("processes", [0, 1])
def test_journals_are_emptied_when_nothing_is_in_flight(processes: int) -> None:
    with mailing(10, processes) as (store, cfg, rid, sink):

        async def run() -> list[int]:
            engine = Engine(store, cfg, idle_poll=0.2)
            router = Router(store, cfg, MemoryBus(), engine.channels, on_rows=engine.notify)
            await engine.start()
            try:
                await asyncio.to_thread(router.route_release, rid)
                engine.notify()
                deadline = time.monotonic() + 60
                while len(sink.snapshot()) < 10 and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                sizes: list[int] = []
                while time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                    files = list(journal_dir(cfg.data_dir).glob("*.log"))
                    sizes = [path.stat().st_size for path in files]
                    if sizes and not any(sizes):
                        break
                return sizes
            finally:
                await engine.stop()

        sizes = asyncio.run(run())
        assert len(sink.snapshot()) == 10
        assert len(sizes) == 1 + processes and not any(sizes), sizes
        with store.session() as s:
            left = s.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.channel == "email", Delivery.state != "delivered")
            )
        assert left == 0
        # stopped with nothing to read back: no journal left behind
        assert read_back(journal_dir(cfg.data_dir)) == ([], [])


def test_a_write_that_fails_part_way_never_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk that fills in the middle of a line: that mark raises (its message is not sent), and
    the piece it left never reads as a line, whatever is written after it."""
    import os

    journal = CommitJournal(tmp_path)
    journal.mark("dlv_a", 1)
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[:7]))  # "dlv_b 2", no newline
    with pytest.raises(OSError, match="short write"):
        journal.mark("dlv_b", 2)
    monkeypatch.setattr(os, "write", real_write)
    journal.mark("dlv_c", 3)
    assert read_back(tmp_path)[0] == [("dlv_a", 1), ("dlv_c", 3)]
    journal.close()
