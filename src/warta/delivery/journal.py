"""The commit journal: points of no return on local disk, for the only delivery worker.

A message passes its commit point just before its final, irreversible bytes (the "." that ends
SMTP DATA); after a crash, a row that passed it must not be sent again. Among many delivery
workers the point is a `committing` mark in the ledger, written in the same moment as the claim is
checked (another worker may have taken the row over). The only worker of an embedded server cannot
lose a claim, so it writes the point to a journal instead: one line appended to a local file, a
single system call that outlives the process the moment it returns, where a ledger write is a
transaction and a wait of a millisecond or more for the message.

Each process that sends (the server, each of its sending processes) appends to a file of its own,
locked while it is open. At start the engine reads every journal left behind, marks the rows they
name `committing` if they are still `sending` under that attempt, and settles them as the channel
says (an email: delivered, never sent twice), then deletes the files. A sending process whose
server died stops passing commit points at once, finishes the messages that passed, and exits;
the new server waits for its lock before reading its journal. While nothing is in flight every
journal is emptied: every row it names has its outcome in the ledger by then.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import logging
import os
import time
from collections.abc import Awaitable, Generator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_names = itertools.count()


def journal_dir(data_dir: Path) -> Path:
    return data_dir / "commits"


class CommitJournal:
    """This process's journal: open, locked, appended to."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{os.getpid()}-{next(_names)}-{time.time_ns()}.log"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)  # held while this process may still write
        self.written = 0  # lines since the journal was last emptied
        self._torn = False  # a write failed part-way: its piece must never read as a line

    def mark(self, delivery_id: str, attempt: int) -> None:
        """Record that a delivery's attempt passed its commit point; raises if it could not be
        (a full disk), and then the message is not sent."""
        line = f"{delivery_id} {attempt}\n".encode("ascii")
        if self._torn:
            line = b"#\n" + line  # spoils the piece a failed write left, so it never counts
        self._torn = True
        if os.write(self._fd, line) != len(line):
            raise OSError(f"commit journal {self.path.name}: short write")
        self._torn = False
        self.written += 1

    def clear(self) -> None:
        """Empty the journal: every row it names has its outcome in the ledger."""
        if self.written:
            os.ftruncate(self._fd, 0)
            self.written = 0

    def close(self) -> None:
        """Let go of the file; it stays for the next start to read (outcomes may still be unwritten)."""
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                if self.written == 0:
                    self.path.unlink()  # nothing in it worth reading back
            os.close(self._fd)
            self._fd = -1


class _Passed:
    """Awaiting it returns at once."""

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # a generator that ends at once


PASSED = _Passed()


class Journaled:
    """The commit point of the only worker: a line in its commit journal, written when called."""

    __slots__ = ("attempt", "delivery_id", "journal")

    def __init__(self, journal: CommitJournal, delivery_id: str, attempt: int) -> None:
        self.journal, self.delivery_id, self.attempt = journal, delivery_id, attempt

    def __call__(self) -> Awaitable[None]:
        self.journal.mark(self.delivery_id, self.attempt)
        return PASSED


def files_of(directory: Path, pid: int) -> list[Path]:
    """The journals a process wrote."""
    return sorted(directory.glob(f"{pid}-*.log")) if directory.is_dir() else []


def entries_of(data: bytes) -> list[tuple[str, int]]:
    """The (delivery id, attempt) of each whole line: a line without its newline at the end is
    the piece of a write that failed or was cut off, and never passed its point."""
    out = []
    for line in data.split(b"\n")[:-1]:
        parts = line.split(b" ")
        # a line cut short (a process killed in the middle of writing it) never passed its point
        if len(parts) == 2 and parts[1].isdigit() and parts[0]:
            out.append((parts[0].decode("ascii", "replace"), int(parts[1])))
    return out


def read_back(directory: Path, wait: float = 30.0) -> tuple[list[tuple[str, int]], list[Path]]:
    """Every (delivery id, attempt) in the journals left in `directory`, and their files. A journal
    still locked by a process that is finishing (a sending process whose server died) is read once
    that process lets go, or after `wait` seconds; this process's own open journals are not waited on."""
    if not directory.is_dir():
        return [], []
    entries: list[tuple[str, int]] = []
    files: list[Path] = []
    mine = f"{os.getpid()}-"
    for path in sorted(directory.glob("*.log")):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            if not path.name.startswith(mine):
                deadline = time.monotonic() + wait
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            log.warning(
                                "commit journal %s is still locked after %g s; reading it", path.name, wait
                            )
                            break
                        time.sleep(0.05)
            data = b""
            while chunk := os.read(fd, 1 << 20):
                data += chunk
        finally:
            os.close(fd)
        entries += entries_of(data)
        files.append(path)
    return entries, files
