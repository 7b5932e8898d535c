"""Sending from processes of their own.

One Python process runs on one core at a time. Sending an email (building the message, the SMTP
conversation) costs the server about as much as the ledger's work for it (the claim, the outcome),
so on a machine with more than one core a channel marked `own_process` sends from child processes
(`WARTA_SENDING_PROCESSES`, one by default where there are two cores or more). The engine keeps
the ledger: it claims the jobs and hands them over in batches, and writes the outcomes.

Parent and child speak over the child's stdin and stdout in frames (a 4-byte length, then a pickled
list of messages: both ends are this program, started by the parent itself):

    parent -> child   ("start", settings, channel name)
                      ("send", batch, [(row id, kind, lane, attempt, embargoed, recipient fields,
                                        endpoint fields, extra, edition id, edition version,
                                        commit mode)])
                      ("committed", batch, index, None or why the commit point was refused)
                      ("clear",)  nothing in flight: empty the commit journal
    child -> parent   ("commit", batch, index)
                      ("results", batch, [(outcome, error, retry after)])

A job's commit point (see `warta.delivery.base`) is passed by the child itself in a commit journal
of its own when the parent is the only delivery worker (`warta.delivery.journal`), or asked of the
parent, who writes the ledger's `committing` mark, among many workers.

A child that dies takes its batches with it: a job whose commit point it passed is settled as
delivered (its final bytes may have left, the same rule as for a crash of the whole server), the
others are retried; the next batch starts a new child. A child whose parent is gone (its stdin
closes) passes no more commit points, finishes the messages that passed, and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import operator
import os
import pickle
import signal
import sys
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, cast

from warta.config import Settings
from warta.delivery.base import (
    CHANNELS,
    Channel,
    EndpointView,
    Job,
    RecipientView,
    Result,
    send_safely,
    unchecked,
)
from warta.delivery.channels import load_channels
from warta.delivery.journal import CommitJournal, Journaled, entries_of, files_of, journal_dir
from warta.editions.rendered import RenderedEdition, RenderedEditions
from warta.gc_tuning import tune_gc
from warta.store import Store

log = logging.getLogger(__name__)

_HEADER = 4  # bytes of a frame's length
STOP_GRACE = 15.0  # seconds a child gets to finish what it has in hand when the parent stops


def pack(messages: list[Any]) -> bytes:
    """One frame: a 4-byte length, then the messages pickled together."""
    body = pickle.dumps(messages, protocol=pickle.HIGHEST_PROTOCOL)
    return len(body).to_bytes(_HEADER, "big") + body


class Frames:
    """Cuts a byte stream into the messages a `FrameWriter` wrote (each frame a list of them)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        buffer = self._buffer
        buffer += data
        out: list[Any] = []
        at, end = 0, len(buffer)
        while end - at >= _HEADER:
            size = int.from_bytes(buffer[at : at + _HEADER], "big")
            if end - at - _HEADER < size:
                break
            out += pickle.loads(buffer[at + _HEADER : at + _HEADER + size])
            at += _HEADER + size
        if at:
            del buffer[:at]
        return out


class FrameWriter:
    """Messages for one pipe, written together once per turn of the event loop, in one frame: the
    commit points of many connections answered in the same moment cost one pickle and one write."""

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self._write = write
        self._messages: list[Any] = []

    def put(self, message: Any) -> None:
        if not self._messages:
            asyncio.get_running_loop().call_soon(self._flush)
        self._messages.append(message)

    def _flush(self) -> None:
        messages, self._messages = self._messages, []
        if messages:
            with contextlib.suppress(Exception):  # a pipe already closed: its end is handled elsewhere
                self._write(pack(messages))


# --- the parent's side ----------------------------------------------------------------------------


@dataclass
class _Batch:
    jobs: list[Job]
    done: asyncio.Future[list[Result]]
    passed: set[int] = field(default_factory=set)  # jobs whose commit point was answered


class _Child(asyncio.SubprocessProtocol):
    """One sending process, seen from the parent."""

    def __init__(self, settings: Settings, channel: str) -> None:
        self.settings, self.channel = settings, channel
        self.batches: dict[int, _Batch] = {}
        self.frames = Frames()
        self.pipe: FrameWriter | None = None
        self.transport: asyncio.SubprocessTransport | None = None
        self.alive = False
        self.journaled = False  # sent jobs since its journal was last emptied
        self.dead_journals: list[Path] = []  # its journals, once it died
        self.exited: asyncio.Future[None] | None = None
        self._numbers = itertools.count()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.exited = loop.create_future()
        await loop.subprocess_exec(
            lambda: self,
            sys.executable,
            "-m",
            "warta.delivery.sender",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,
        )

    @property
    def pid(self) -> int | None:
        return self.transport.get_pid() if self.transport is not None else None

    # the protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio's classes, only alike
        self.transport = cast(asyncio.SubprocessTransport, transport)
        stdin = cast(asyncio.WriteTransport, self.transport.get_pipe_transport(0))
        self.pipe = FrameWriter(stdin.write)
        self.alive = True
        self.pipe.put(("start", self.settings, self.channel))

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        for message in self.frames.feed(data):
            kind = message[0]
            if kind == "commit":
                self._commit(message[1], message[2])
            elif kind == "results":
                batch = self.batches.pop(message[1], None)
                if batch is not None and not batch.done.done():
                    batch.done.set_result(
                        [Result.ok() if r == ("delivered", None, None) else Result(*r) for r in message[2]]
                    )

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self._gone()

    def process_exited(self) -> None:
        # the batches are settled when its stdout closes (`pipe_connection_lost`): results it wrote
        # just before exiting may still be in the pipe now
        if self.exited is not None and not self.exited.done():
            self.exited.set_result(None)

    def _gone(self) -> None:
        if not self.alive:
            return
        self.alive = False
        code = self.transport.get_returncode() if self.transport is not None else None
        if self.batches:
            log.warning(
                "sending process %s ended (exit %s) with %d batches in hand",
                self.pid,
                code,
                len(self.batches),
            )
        batches, self.batches = self.batches, {}
        # the commit points it passed in its own journal; the files stay until every outcome is
        # written (`clear_journal`), for a restart to read should the server die before that
        journaled: set[tuple[str, int]] = set()
        if self.pid is not None:
            self.dead_journals = files_of(journal_dir(self.settings.data_dir), self.pid)
            for path in self.dead_journals:
                with contextlib.suppress(OSError):
                    journaled.update(entries_of(path.read_bytes()))
        for batch in batches.values():
            if batch.done.done():
                continue
            batch.done.set_result(
                [
                    Result("delivered", "the sending process ended after the commit point")
                    if index in batch.passed or (job.delivery_id, job.attempt) in journaled
                    else Result("retry", "the sending process ended")
                    for index, job in enumerate(batch.jobs)
                ]
            )

    def _commit(self, number: int, index: int) -> None:
        batch = self.batches.get(number)
        if batch is None:
            return  # a batch already settled (its child was given up on): the final bytes never go
        # the engine's commit points answer with the ledger write's own future: no task for each
        passing = batch.jobs[index].commit_point()
        future = passing if asyncio.isfuture(passing) else asyncio.ensure_future(passing)
        future.add_done_callback(lambda done: self._committed(batch, number, index, done))

    def _committed(self, batch: _Batch, number: int, index: int, task: asyncio.Future[None]) -> None:
        error = None
        if task.cancelled():
            error = "cancelled"
        elif task.exception() is not None:
            exc = task.exception()
            error = f"{type(exc).__name__}: {exc}"
        if error is None:
            if not self.alive:
                return  # its batches are settled already, this one as not sent
            # passed, even if the engine no longer waits for the batch (it is stopping): the child
            # writes the final bytes, and the row's `committing` mark says they may have left
            batch.passed.add(index)
        if self.alive and self.pipe is not None:
            self.pipe.put(("committed", number, index, error))

    # sending

    def clear_journal(self) -> None:
        if self.alive and self.pipe is not None:
            self.pipe.put(("clear",))
        for path in self.dead_journals:
            with contextlib.suppress(OSError):
                path.unlink()
        self.dead_journals = []
        self.journaled = False

    async def send(self, jobs: list[Job]) -> list[Result]:
        if not self.alive or self.pipe is None:
            return [Result("retry", "the sending process ended")] * len(jobs)
        number = next(self._numbers)
        self.journaled = True
        batch = _Batch(jobs, asyncio.get_running_loop().create_future())
        self.batches[number] = batch
        self.pipe.put(
            (
                "send",
                number,
                [
                    (
                        job.delivery_id,
                        job.kind,
                        job.lane,
                        job.attempt,
                        job.embargoed,
                        _view_values(job.recipient),
                        _endpoint_values(job.endpoint),
                        job.extra or None,
                        job.bundle.edition.id,
                        job.bundle.key,
                        _commit_mode(job),
                    )
                    for job in jobs
                ],
            )
        )
        return await batch.done

    async def close(self, grace: float = STOP_GRACE) -> None:
        """Let the child finish what it holds (its stdin closes), then end it."""
        if self.transport is None:
            return
        with contextlib.suppress(Exception):
            stdin = self.transport.get_pipe_transport(0)
            if stdin is not None:
                stdin.close()
        if self.exited is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self.exited), timeout=grace)
            except TimeoutError:
                log.warning("sending process %s did not stop within %g s; killed", self.pid, grace)
                with contextlib.suppress(ProcessLookupError):
                    self.transport.kill()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self.exited), timeout=5)
        self.transport.close()


class SentFromProcesses:
    """Mixed into a channel class by `in_processes`: `send` hands the jobs to child processes (one
    after another, batch by batch); everything else (lanes, breakers, settings) stays the channel's."""

    settings: Settings
    name: str

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)  # type: ignore[call-arg]
        self.processes = max(1, settings.sending_processes)
        self._children: list[_Child | None] = [None] * self.processes
        self._starting = [asyncio.Lock() for _ in range(self.processes)]
        self._turn = itertools.count()
        self._known: list[_Child] = []  # the children started since the journals were last emptied

    async def _child(self, slot: int) -> _Child:
        async with self._starting[slot]:
            child = self._children[slot]
            if child is None or not child.alive:
                # the child's pool takes its share of the relay's connections
                share = -(-self.settings.smtp_pool // self.processes)
                child = _Child(replace(self.settings, smtp_pool=share, sending_processes=0), self.name)
                await child.start()
                self._children[slot] = child
                self._known.append(child)
            return child

    async def send(self, jobs: list[Job]) -> list[Result]:
        try:
            child = await self._child(next(self._turn) % self.processes)
        except OSError as exc:
            return [Result("retry", f"could not start a sending process: {exc}")] * len(jobs)
        return await child.send(jobs)

    async def stop(self) -> None:
        children, self._children = self._children, [None] * self.processes
        await asyncio.gather(*(child.close() for child in children if child is not None))
        await super().stop()  # type: ignore[misc]

    @property
    def journaled(self) -> bool:
        """Whether a sending process may have written its commit journal since it was last emptied."""
        return any(c.journaled or c.dead_journals for c in self._known)

    def clear_journals(self) -> None:
        """Nothing is in flight and every outcome is written: the children empty their journals,
        and those of children that died are deleted."""
        for child in self._known:
            child.clear_journal()
        self._known = [c for c in self._children if c is not None]

    def child_pids(self) -> list[int]:
        return [c.pid for c in self._children if c is not None and c.alive and c.pid is not None]


_NONE, _LEDGER, _JOURNAL = 0, 1, 2  # how a job passes its commit point, as the child is told


def _commit_mode(job: Job) -> int:
    """The only worker's journal is written by the child itself, into a journal of its own; any
    other commit point (a `committing` mark in the ledger) is asked of the parent."""
    if job.commit_point is unchecked:
        return _NONE
    if isinstance(job.commit_point, Journaled):
        return _JOURNAL
    return _LEDGER


def in_processes(cls: type[Channel]) -> type[Channel]:
    """The channel class `cls`, sending from child processes."""
    return type(cls.__name__, (SentFromProcesses, cls), {"__doc__": cls.__doc__})


def make_channel(cls: type[Channel], settings: Settings) -> Channel:
    """A channel for the engine: in child processes where the channel and the settings ask for it."""
    if cls.own_process and settings.sending_processes > 0:
        return in_processes(cls)(settings)  # type: ignore[call-arg]
    return cls(settings)  # type: ignore[call-arg]


# --- the child's side -----------------------------------------------------------------------------


class _Sender:
    """The child: sends the batches it is given with the real channel, asking the parent for each
    job's commit point."""

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self.pipe = FrameWriter(write)
        self.frames = Frames()
        self.channel: Channel | None = None
        self.journal: CommitJournal | None = None
        self.ready: asyncio.Future[Channel] = asyncio.get_running_loop().create_future()
        self.store: Any = None
        self.cache: Any = None
        self.bundles: OrderedDict[tuple[str, str], RenderedEdition] = OrderedDict()
        self.commits: dict[tuple[int, int], asyncio.Future[None]] = {}
        self.sending: set[asyncio.Task[None]] = set()
        self.orphaned = asyncio.get_running_loop().create_future()  # the parent's end closed

    async def begin(self, settings: Settings, channel: str) -> None:
        try:
            load_channels()
            self.journal = CommitJournal(journal_dir(settings.data_dir))
            self.store = Store(settings.database_url)
            self.cache = RenderedEditions(settings)
            self.channel = CHANNELS[channel](settings)  # type: ignore[call-arg]
            await self.channel.start()
        except Exception as exc:
            log.exception("the sending process could not start")
            self.ready.set_exception(exc)
            self.orphan()  # nothing to do here: the batches are answered, then the process ends
            return
        self.ready.set_result(self.channel)

    def received(self, data: bytes) -> None:
        for message in self.frames.feed(data):
            kind = message[0]
            if kind == "committed":
                fut = self.commits.pop((message[1], message[2]), None)
                if fut is not None and not fut.done():
                    if message[3] is None:
                        fut.set_result(None)
                    else:
                        fut.set_exception(CommitRefused(message[3]))
            elif kind == "send":
                task = asyncio.ensure_future(self._send(message[1], message[2]))
                self.sending.add(task)
                task.add_done_callback(self.sending.discard)
            elif kind == "clear":
                if self.journal is not None:
                    self.journal.clear()
            elif kind == "start":
                task = asyncio.ensure_future(self.begin(message[1], message[2]))
                self.sending.add(task)
                task.add_done_callback(self.sending.discard)

    def orphan(self) -> None:
        """The parent is gone: no commit point can be answered any more."""
        for fut in self.commits.values():
            if not fut.done():
                fut.set_exception(CommitRefused("the server has gone"))
        self.commits.clear()
        if not self.orphaned.done():
            self.orphaned.set_result(None)

    async def _bundle(self, edition_id: str, key: tuple[str, str]) -> RenderedEdition | None:
        hit = self.bundles.get(key)
        if hit is not None:
            return hit

        def load() -> RenderedEdition | None:
            with self.store.session() as session:
                return self.cache.get(session, edition_id)

        bundle = await asyncio.to_thread(load)
        if bundle is not None:
            self.bundles[key] = bundle
            while len(self.bundles) > 256:
                self.bundles.popitem(last=False)
        return bundle

    def _journaled(self, delivery_id: str, attempt: int) -> Callable[[], Any]:
        async def commit_point() -> None:
            if self.orphaned.done() or self.journal is None:
                raise CommitRefused("the server has gone")  # its restart may be reading the journal
            self.journal.mark(delivery_id, attempt)

        return commit_point

    def _commit_point(self, number: int, index: int) -> Callable[[], Any]:
        async def commit_point() -> None:
            if self.orphaned.done():
                raise CommitRefused("the server has gone")
            fut = asyncio.get_running_loop().create_future()
            self.commits[(number, index)] = fut
            self.pipe.put(("commit", number, index))
            await fut

        return commit_point

    async def _send(self, number: int, wired: list[tuple[Any, ...]]) -> None:
        results: list[tuple[str, str | None, float | None] | None] = [None] * len(wired)
        jobs, positions = [], []
        try:
            channel = await self.ready
        except Exception as exc:
            results = [("retry", f"the sending process could not start: {exc}", None)] * len(wired)
            channel = None
        for index, wire in enumerate(wired):
            if channel is None:
                break
            delivery_id, kind, lane, attempt, embargoed, recipient, endpoint, extra, edition_id, key, mode = (
                wire
            )
            try:
                bundle = await self._bundle(edition_id, key)
            except Exception as exc:
                results[index] = ("retry", f"loading the edition: {type(exc).__name__}: {exc}", None)
                continue
            if bundle is None:
                results[index] = ("failed", "edition no longer exists", None)
                continue
            jobs.append(
                Job(
                    delivery_id=delivery_id,
                    channel=channel.name,
                    kind=kind,
                    lane=lane,
                    attempt=attempt,
                    embargoed=embargoed,
                    recipient=_view(recipient),
                    endpoint=_endpoint(endpoint),
                    bundle=bundle,
                    commit_point=(
                        self._journaled(delivery_id, attempt)
                        if mode == _JOURNAL
                        else self._commit_point(number, index)
                        if mode == _LEDGER
                        else unchecked
                    ),
                    extra=extra or {},
                )
            )
            positions.append(index)
        if jobs and channel is not None:
            sent = await send_safely(channel, jobs)
            for index, result in zip(positions, sent, strict=True):
                results[index] = (result.outcome, result.error, result.retry_after)
        self.pipe.put(("results", number, results))


_VIEW_FIELDS = tuple(f.name for f in fields(RecipientView))
_view_values = operator.attrgetter(*_VIEW_FIELDS)  # a recipient's fields, in field order


def _view(values: tuple[Any, ...]) -> RecipientView:
    """A recipient from the values the parent sent, in field order (made as `view_of` makes them)."""
    view = object.__new__(RecipientView)
    view.__dict__.update(zip(_VIEW_FIELDS, values, strict=True))
    return view


_endpoint_values = tuple  # an endpoint is its fields, in field order
_endpoint = EndpointView._make  # an endpoint from the values the parent sent


class CommitRefused(Exception):
    """The parent did not pass a job's commit point (the claim was lost, or the parent is gone)."""


class _StdinProtocol(asyncio.Protocol):
    def __init__(self, sender: _Sender) -> None:
        self.sender = sender

    def data_received(self, data: bytes) -> None:
        self.sender.received(data)

    def eof_received(self) -> bool | None:
        self.sender.orphan()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.sender.orphan()


async def _child_main() -> None:
    loop = asyncio.get_running_loop()
    # frames go to a private copy of stdout; stdout itself becomes stderr, so that nothing printed
    # by accident can corrupt them
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    writer, _ = await loop.connect_write_pipe(asyncio.Protocol, out)
    sender = _Sender(writer.write)
    await loop.connect_read_pipe(lambda: _StdinProtocol(sender), os.fdopen(0, "rb", buffering=0))
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, sender.orphan)  # the parent's turn to stop it
    await sender.orphaned
    # what was past its commit point is finished; the rest gives up at its commit point
    if sender.sending:
        await asyncio.wait(set(sender.sending), timeout=STOP_GRACE - 1)
    if sender.channel is not None:
        await sender.channel.stop()
    if sender.journal is not None:
        sender.journal.close()  # left for the next start to read, unless empty
    await asyncio.sleep(0)  # the last results leave
    writer.close()


def main() -> None:
    logging.basicConfig(
        level=logging.WARNING,  # what needs saying: a channel that failed, a start that failed
        format="%(asctime)s %(levelname)s %(name)s[sender]: %(message)s",
    )
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    tune_gc()
    try:
        import uvloop

        uvloop.run(_child_main())
    except ImportError:
        asyncio.run(_child_main())


if __name__ == "__main__":
    main()
