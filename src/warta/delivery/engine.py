"""The delivery engine: works the ledger through the channels.

It claims due rows in batches, hands each destination (lane) its own queue and a fixed number of
workers, so one slow or dead destination only ever holds its own queue; a circuit breaker per
lane stops hammering a destination that keeps failing. Outcomes are written back in batches.
Nothing is sent to an untrusted recipient before the embargo lifts, whatever the row says: the
engine checks the release's embargo when it claims a row (withdrawal notices, which go only to
holders of a copy, excepted), and never sends an edition of a withdrawn release.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from warta.clock import aware, utcnow
from warta.config import Settings
from warta.delivery import ledger
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
from warta.delivery.journal import CommitJournal, Journaled, journal_dir, read_back
from warta.delivery.ledger import disable_endpoint
from warta.delivery.sender import SentFromProcesses, make_channel
from warta.editions import embargo
from warta.editions.embargo import Access
from warta.editions.rendered import RenderedEdition, RenderedEditions
from warta.model import DigestItem, Edition, Endpoint, Organisation, Recipient, Release
from warta.model.states import DeliveryState, EndpointState, RecipientStatus, ReleaseStatus
from warta.routing.audience import ENDPOINT_COLUMNS, VIEW_COLUMNS, endpoint_of, view_of
from warta.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")
DRY_PAUSE = 0.5  # seconds before a channel that had nothing due is asked again, unless woken


def worker_name(stage: str) -> str:
    """A name for this process that is unique across machines and restarts."""
    return f"{stage}@{socket.gethostname()}:{os.getpid()}:{time.monotonic_ns() % 1_000_000:06d}"


@dataclass
class Breaker:
    """Opens after `threshold` consecutive failures; stays open for a cool-down that doubles."""

    threshold: int = 5
    cooldown: float = 5.0  # a relay back after an outage is found within seconds, not minutes
    max_cooldown: float = 300.0
    failures: int = 0
    open_until: float = 0.0
    current: float = 0.0

    def is_open(self) -> bool:
        return time.monotonic() < self.open_until

    def reopens_in(self) -> float:
        return max(0.0, self.open_until - time.monotonic())

    def record(self, ok: bool) -> None:
        """A destination's answer. A failure while open is not counted: it was sent before the
        breaker opened, with the failures that opened it (a batch to a relay that is away), and
        counting it would reopen the breaker at once with its cool-down doubled."""
        if ok:
            self.failures, self.current = 0, 0.0
            return
        if self.is_open():
            return
        self.failures += 1
        if self.failures >= self.threshold:
            self.current = min(self.max_cooldown, self.current * 2 if self.current else self.cooldown)
            self.open_until = time.monotonic() + self.current
            self.failures = 0


@dataclass
class Lane:
    queue: asyncio.Queue[Job] = field(default_factory=asyncio.Queue)
    workers: int = 0


class _Batcher:
    """Collects small writes from many coroutines and applies them in one transaction per tick:
    `delay` after the first write, or `urgent` after the first urgent one (someone waits on it).
    A write that fails is retried until it succeeds; whoever waits on it keeps waiting. `apply`
    may return the items it refused: their waiters get `ledger.LostClaim`."""

    def __init__(
        self,
        store: Store,
        apply: Callable[[Connection, list[Any]], set[Any] | None],
        delay: float,
        executor: ThreadPoolExecutor | None = None,
        urgent: float | None = None,
    ) -> None:
        self.store, self.apply, self.delay, self.executor = store, apply, delay, executor
        self.urgent = delay if urgent is None else urgent
        self.items: list[tuple[Any, asyncio.Future[None] | None]] = []
        self.task: asyncio.Task[None] | None = None
        self._hurry = asyncio.Event()

    def add(self, item: Any, wait: bool, urgent: bool = False) -> asyncio.Future[None] | None:
        fut = asyncio.get_running_loop().create_future() if wait else None
        self.items.append((item, fut))
        if urgent:
            self._hurry.set()
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._flush())
        return fut

    async def _flush(self) -> None:
        if not self._hurry.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hurry.wait(), timeout=self.delay)
        if self._hurry.is_set():
            await asyncio.sleep(self.urgent)  # let the other urgent writes of this moment join
        failures = 0
        while self.items:
            self._hurry.clear()
            batch, self.items = self.items, []
            try:
                items = [item for item, _ in batch]
                refused = await asyncio.get_running_loop().run_in_executor(self.executor, self._write, items)
            except Exception as exc:
                # the database is away (restarting, failing over): keep the outcomes and try again;
                # dropping them would leave rows `sending` under a lease this worker keeps renewing
                failures += 1
                wait = min(0.25 * 2**failures, 5.0)
                log.warning(
                    "ledger write of %d outcomes failed (%s); retrying in %.1f s", len(batch), exc, wait
                )
                self.items = batch + self.items
                await asyncio.sleep(wait)
                continue
            failures = 0
            for item, fut in batch:
                if fut and not fut.done():
                    if refused and item in refused:
                        fut.set_exception(ledger.LostClaim(str(item)))
                    else:
                        fut.set_result(None)

    def _write(self, items: list[Any]) -> set[Any] | None:
        # a bare connection: an ORM session's own begin and commit cost several times the
        # database's work for the few rows of a commit point
        with self.store.writing(), self.store.engine.begin() as conn:
            return self.apply(conn, items)

    async def drain(self) -> None:
        while self.task is not None and not self.task.done():
            await self.task


class _CommitPoint:
    """A job's commit point: the `committing` mark, written with the other ledger writes of the
    moment; calling it gives the write's own future (awaitable, without a coroutine for each)."""

    __slots__ = ("claim", "writer")

    def __init__(self, writer: _Batcher, claim: tuple[str, int]) -> None:
        self.writer, self.claim = writer, claim

    def __call__(self) -> asyncio.Future[None]:
        fut = self.writer.add(("commit", self.claim, None), wait=True, urgent=True)
        assert fut is not None
        return fut


_new_job = object.__new__
_c = Recipient.__table__.c
_e = Endpoint.__table__.c
# what a claim reads of its rows' endpoints and their recipients, in one query: the endpoint (a
# view, its state, why it is disabled), then the recipient (a view, its status)
_ENDPOINTS = (
    select(*ENDPOINT_COLUMNS, _e.state, _e.disabled_reason, *VIEW_COLUMNS, _c.status)
    .join(Recipient, Recipient.id == _e.recipient_id)
    .where(_e.id.in_(bindparam("ids", expanding=True)))
)
_VIEW_AT = len(ENDPOINT_COLUMNS) + 2  # where the recipient's columns begin in a row of _ENDPOINTS


class _Found(NamedTuple):
    """A claimed row's endpoint and recipient as the claim read them."""

    recipient: RecipientView
    endpoint: EndpointView
    status: str  # the recipient's
    state: str  # the endpoint's
    disabled: str | None  # why the endpoint is disabled


# ledger kinds the channels know by another name
_JOB_KIND = {"translation": "edition"}


class Engine:
    """Works the ledger. `shared=True` when other delivery workers work the same ledger: rows are
    claimed under a lease this engine renews, and only rows whose lease ran out are recovered."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        retry_base: float = 5.0,
        max_in_flight: int = 10000,
        shared: bool = False,
        owner: str | None = None,
        idle_poll: float = 60.0,
    ) -> None:
        self.store = store
        self.settings = settings
        self.retry_base = retry_base
        self.max_in_flight = max_in_flight
        self.shared = shared
        self.owner = owner or worker_name("delivery")
        self.lease = settings.lease
        self.idle_poll = idle_poll
        load_channels()
        self.channels: dict[str, Channel] = {
            name: make_channel(cls, settings) for name, cls in CHANNELS.items()
        }
        # channels that read something for their jobs once per claim (`Channel.prepare`)
        self._preparing = [ch for ch in self.channels.values() if type(ch).prepare is not Channel.prepare]
        self.bundles = RenderedEditions(settings)
        self.lanes: dict[tuple[str, str], Lane] = {}
        self.breakers: dict[tuple[str, str], Breaker] = {}
        self.in_flight = 0
        # jobs claimed and not finished, per channel: each channel claims within its own budget
        # (`Channel.max_queued`), so 86,000 queued emails never hold back the webhooks
        self.in_flight_by: dict[str, int] = dict.fromkeys(self.channels, 0)
        self._wake = asyncio.Event()
        # channels whose last claim found nothing due, and when: not asked again for a moment
        # unless new rows arrive, so a busy channel's finished jobs do not set off empty claims
        self._dry: dict[str, float] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._workers: set[asyncio.Task[None]] = set()
        # the ledger's own threads: database work never queues behind whatever else uses the loop's
        # default executor (name resolution for thousands of webhook connections, say)
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ledger")
        # one stream of ledger writes: outcomes wait up to 20 ms for company, a commit point (a
        # message waiting for its final dot) 1 ms, and both go in the same transaction
        self._writer = _Batcher(store, self._write_ledger, 0.02, self._executor, urgent=0.001)
        self.journal: CommitJournal | None = None

    # --- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        counts = await self._db(self._recover)
        if not self.shared:
            # the only worker passes its commit points in a local journal (see `warta.delivery.journal`)
            self.journal = CommitJournal(journal_dir(self.settings.data_dir))
        if any(counts.values()):
            log.warning("recovered ledger rows after restart: %s", counts)
        for channel in self.channels.values():
            await channel.start()
        self._task = asyncio.create_task(self._run())
        if self.shared:
            self._keeper = asyncio.create_task(self._keep_leases())

    async def stop(self) -> None:
        for task in (self._task, self._keeper):
            if task:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        for task in list(self._workers):
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        try:
            await asyncio.wait_for(self._writer.drain(), timeout=10)
        except TimeoutError:  # the database is away: the rows stay leased and another worker settles them
            log.warning("stopping with outcomes unwritten; their rows are settled when the lease runs out")
        for channel in self.channels.values():
            await channel.stop()
        if self.journal is not None:
            self.journal.close()
            self.journal = None

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def notify(self) -> None:
        """Wake the engine (new rows, a resend); safe from any thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._fresh)

    def _fresh(self) -> None:
        self._dry.clear()  # new rows may be due on any channel
        self._wake.set()

    def _recover(self) -> dict[str, int]:
        policy = {name: ch.recover_committing for name, ch in self.channels.items()}
        passed: list[tuple[str, int]] = []
        files: list[Any] = []
        if not self.shared:
            passed, files = read_back(journal_dir(self.settings.data_dir))
        with self.store.writing(), self.store.session() as s:
            journaled = ledger.mark_passed(s, passed)
            counts = ledger.recover(s, policy, expired_only=self.shared)
        for path in files:  # read back into the ledger: the next crash has journals of its own
            with contextlib.suppress(OSError):
                path.unlink()
        if journaled:
            counts["sending->committing (journal)"] = journaled
        return counts

    async def _keep_leases(self) -> None:
        """Among many workers: renew this worker's leases, and settle rows of workers that died."""
        every = max(0.2, self.lease / 3)
        while True:
            await asyncio.sleep(every)
            try:
                await self._db(self._renew)
                counts = await self._db(self._recover)
            except Exception:
                log.exception("renewing leases failed")
                continue
            if any(counts.values()):
                log.warning("took over rows of a worker whose lease ran out: %s", counts)
                self.notify()

    def _renew(self) -> int:
        with self.store.session() as s:
            return ledger.renew(s, self.owner, self.lease)

    # --- claiming -------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                room = self.max_in_flight - self.in_flight
                if room <= 0:
                    await self._wake.wait()  # a lane finishing makes room
                    continue
                budgets = self._budgets()
                if not budgets:
                    # every channel nearly full, or busy with nothing more due: claim again once a
                    # tenth of one is free, or new rows come, not for every finished chunk
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=DRY_PAUSE)
                    continue
                jobs = await self._db(self._claim, min(room, 5000), None, budgets)
            except Exception:
                log.exception("claiming deliveries failed; retrying in 1 s")
                await asyncio.sleep(1.0)
                continue
            claimed = {job.channel for job in jobs}
            now = time.monotonic()
            for name in budgets:
                if name not in claimed:
                    self._dry[name] = now
            if jobs:
                self._dispatch(jobs)
                continue
            if self.in_flight:
                continue  # the channels with room had nothing due; the busy ones wait for room
            await self._clear_journals()
            due = await self._db(self._next_due)
            delay = self.idle_poll if due is None else max(0.0, (due - utcnow()).total_seconds())
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=min(delay, self.idle_poll))

    async def _clear_journals(self) -> None:
        """Nothing in flight: once the outcomes are written, no row the journals name can need them."""
        holders = [ch for ch in self.channels.values() if isinstance(ch, SentFromProcesses)]
        if self.journal is None or not (self.journal.written or any(ch.journaled for ch in holders)):
            return
        await self._writer.drain()
        if self.in_flight or self.journal is None:
            return  # new jobs came meanwhile: next time
        self.journal.clear()
        for channel in holders:
            channel.clear_journals()

    def _next_due(self) -> datetime | None:
        with self.store.session() as s:
            return ledger.next_due(s)

    def _budgets(self) -> dict[str, int]:
        """How many more jobs each channel may claim now: channels whose room is under a tenth of
        their budget wait (unless nothing of theirs is in flight), so claims come in batches."""
        budgets = {}
        now = time.monotonic()
        for name, channel in self.channels.items():
            if now - self._dry.get(name, -DRY_PAUSE) < DRY_PAUSE:
                continue
            cap = channel.max_queued
            room = cap - self.in_flight_by.get(name, 0) + channel.parked
            if room >= max(1, cap // 10) or (room > 0 and not self.in_flight_by.get(name)):
                budgets[name] = room
        return budgets

    def _claim(
        self, limit: int, now: datetime | None = None, budgets: dict[str, int] | None = None
    ) -> list[Job]:
        now = now or utcnow()
        jobs: list[Job] = []
        # the claim is its own short write; reading what the jobs need comes after, outside it, so
        # the commit points of messages in flight never wait behind thousands of jobs being built
        with self.store.writing(), self.store.session() as s:
            rows = ledger.claim(s, limit, now, owner=self.owner, lease=self.lease, channels=budgets)
        if not rows:
            return []
        changes: list[tuple[str, dict[str, Any]]] = []  # rows settled here, not sent
        with self.store.session() as s:
            # plain rows, not ORM objects, read by position: thousands per claim, only read
            wanted = {row.endpoint_id for row in rows}
            views: dict[str, RecipientView] = {}  # one per recipient, however many endpoints it has
            found_by: dict[str, _Found] = {}
            for r in ledger.raw_rows(s.connection(), _ENDPOINTS, {"ids": list(wanted)}):
                rid = r[_VIEW_AT]
                seen = views.get(rid)
                if seen is None:
                    seen = views[rid] = view_of(r[_VIEW_AT:-1])
                found_by[r[0]] = _Found(
                    seen, endpoint_of(r[: _VIEW_AT - 2]), r[-1], r[_VIEW_AT - 2], r[_VIEW_AT - 1]
                )
            bundles = self.bundles.many(s, {row.edition_id for row in rows})
            # editions of withdrawn releases: only their withdrawal notices go out (a resend or a
            # row routed before the withdrawal never revives the release)
            withdrawn = {
                edition_id
                for edition_id, bundle in bundles.items()
                if bundle is not None and bundle.release.status == ReleaseStatus.WITHDRAWN
            }
            for row in rows:
                found = found_by.get(row.endpoint_id)
                channel = self.channels.get(row.channel)
                skip = self._skip_reason(row, found, channel)
                if skip:
                    changes.append((row.id, {"state": DeliveryState.CANCELLED, "last_error": skip}))
                    continue
                bundle = bundles[row.edition_id]
                if bundle is None:
                    changes.append(
                        (row.id, {"state": DeliveryState.FAILED, "last_error": "edition no longer exists"})
                    )
                    continue
                assert found is not None and channel is not None
                if withdrawn and row.edition_id in withdrawn and row.kind != "withdrawal":
                    changes.append(
                        (row.id, {"state": DeliveryState.CANCELLED, "last_error": "release withdrawn"})
                    )
                    continue
                recipient = found.recipient
                lift = embargo.lift_ahead(bundle.embargo_until, now)
                # a withdrawal notice goes only to those who hold a copy (routing decides that), so
                # the embargo holds it back from nobody: it reaches early holders at once; any
                # other copy goes early only as routing's early copy to a recipient still trusted
                if (
                    lift is not None
                    and row.kind != "withdrawal"
                    and embargo.gate(lift, row.embargoed and recipient.embargo_trusted) is Access.WAIT
                ):
                    back = {
                        "state": DeliveryState.PENDING,
                        "attempts": row.attempts - 1,
                        "next_attempt_at": lift,
                    }
                    back["not_before"] = max(aware(row.not_before) or lift, lift)
                    changes.append((row.id, back))
                    continue
                job = self._job(row, found, bundle)
                if row.kind == "digest":
                    job.extra["items"] = self._digest_items(s, row.id)
                elif row.kind == "withdrawal":
                    job.extra["note"] = bundle.release.withdrawal_note or ""
                jobs.append(job)
            for channel in self._preparing:
                channel.prepare(s, jobs)
        if changes:
            with self.store.writing(), self.store.session() as s:
                ledger.settle(s, changes)
        return jobs

    def _digest_items(self, session: Session, delivery_id: str) -> list[dict[str, Any]]:
        rows = session.execute(
            select(Edition, Organisation.name)
            .join(DigestItem, DigestItem.edition_id == Edition.id)
            .join(Release, Release.id == Edition.release_id)
            .join(Organisation, Organisation.id == Release.org_id)
            .where(DigestItem.digest_delivery_id == delivery_id, Release.status == ReleaseStatus.PUBLISHED)
            .order_by(Edition.created_at)
            .distinct()  # one line per edition, however many of the recipient's alerts it matched
        ).all()
        base = self.settings.base_url
        return [
            {
                "headline": e.headline,
                "summary": e.summary,
                "url": f"{base}/releases/{e.release_id}/{e.lang}",
                "lang": e.lang,
                "organisation": org,
            }
            for e, org in rows
        ]

    @staticmethod
    def _skip_reason(row: ledger.Claimed, found: _Found | None, channel: Channel | None) -> str | None:
        """Why a claimed row is not sent, if it is not."""
        if channel is None:
            return f"no channel {row.channel!r}"
        if found is None:
            return "recipient deleted"
        if found.status != RecipientStatus.ACTIVE:
            return f"recipient {found.status}"
        if found.state == EndpointState.DISABLED:
            return f"endpoint disabled: {found.disabled or 'by an editor'}"
        if found.state != EndpointState.ACTIVE:
            return f"endpoint {found.state}"
        return None

    def _job(self, row: ledger.Claimed, found: _Found, bundle: RenderedEdition) -> Job:
        commit_point: Callable[[], Awaitable[None]]
        if not self.shared and self.channels[row.channel].recover_committing == DeliveryState.PENDING:
            # the only worker cannot lose a claim, and its restart sends `sending` and `committing`
            # rows of this channel again alike: the mark would change nothing, so it is not written
            commit_point = unchecked
        elif not self.shared and self.journal is not None:
            commit_point = Journaled(self.journal, row.id, row.attempts)
        else:
            commit_point = _CommitPoint(self._writer, (row.id, row.attempts))

        # made without the dataclass's __init__, as `view_of` makes recipients: a claim makes
        # thousands, and the generated __init__ costs more than the rest of this method
        job = _new_job(Job)
        job.__dict__.update(
            delivery_id=row.id,
            channel=row.channel,
            # an additional edition in a language that came after the release went out is, to a
            # channel, an edition like any other
            kind=_JOB_KIND.get(row.kind, row.kind),
            lane=row.destination,
            attempt=row.attempts,
            embargoed=row.embargoed,
            recipient=found.recipient,
            bundle=bundle,
            commit_point=commit_point,
            extra={},
            endpoint=found.endpoint,
        )
        return job

    def _write_ledger(self, conn: Connection, items: list[tuple[str, Any, Any]]) -> set[Any]:
        """Items are ("commit", (delivery id, attempt), None): a commit point, refused unless the
        claim still holds the row; ("row", (delivery id, attempt), column values): an outcome, written
        only while the claim that sent it holds the row; ("disable", endpoint id, reason)."""
        claims = [key for what, key, _ in items if what == "commit"]
        refused: set[Any] = set()
        if claims:
            held = ledger.mark_committing(conn, claims, self.owner)
            refused = {("commit", claim, None) for claim in claims if claim[0] not in held}
        outcomes = [(key[0], values) for what, key, values in items if what == "row"]
        if outcomes:
            held_by = {key[0]: (key[1], self.owner) for what, key, _ in items if what == "row"}
            ledger.settle(conn, outcomes, held_by=held_by)
        for what, key, reason in items:
            if what == "disable":
                disable_endpoint(conn, key, reason)
        return refused

    # --- sending --------------------------------------------------------------------------

    def _dispatch(self, jobs: list[Job]) -> None:
        self.in_flight += len(jobs)
        for job in jobs:
            self.in_flight_by[job.channel] = self.in_flight_by.get(job.channel, 0) + 1
            key = (job.channel, job.lane)
            lane = self.lanes.get(key)
            if lane is None:
                lane = self.lanes[key] = Lane()
            lane.queue.put_nowait(job)
            channel = self.channels[job.channel]
            if lane.workers < channel.lane_concurrency:
                lane.workers += 1
                task = asyncio.create_task(self._lane_worker(channel, key, lane))
                self._workers.add(task)
                task.add_done_callback(self._workers.discard)

    async def _lane_worker(self, channel: Channel, key: tuple[str, str], lane: Lane) -> None:
        try:
            while not lane.queue.empty():
                chunk = [lane.queue.get_nowait()]
                while len(chunk) < channel.batch_size and not lane.queue.empty():
                    chunk.append(lane.queue.get_nowait())
                try:
                    await self._send_chunk(channel, chunk)
                finally:
                    self.in_flight -= len(chunk)
                    self.in_flight_by[channel.name] -= len(chunk)
                    self._wake.set()
        finally:
            lane.workers -= 1
            if lane.workers == 0 and lane.queue.empty():
                self.lanes.pop(key, None)

    def _breaker(self, channel: Channel, job: Job) -> Breaker | None:
        key = channel.breaker_key(job)
        if key is None:
            return None
        breaker = self.breakers.get((channel.name, key))
        if breaker is None:
            breaker = self.breakers[(channel.name, key)] = Breaker()
        return breaker

    async def _send_chunk(self, channel: Channel, chunk: list[Job]) -> None:
        ready = []
        for job in chunk:
            breaker = self._breaker(channel, job)
            if breaker is not None and breaker.is_open():
                later = utcnow() + timedelta(seconds=breaker.reopens_in())
                self._record(
                    job,
                    {
                        "state": DeliveryState.RETRYING,
                        "next_attempt_at": later,
                        "attempts": job.attempt - 1,
                        "last_error": "destination's circuit breaker is open",
                    },
                )
            else:
                ready.append(job)
        if not ready:
            return
        results = await send_safely(channel, ready)
        for job, result in zip(ready, results, strict=True):
            breaker = self._breaker(channel, job)
            if breaker is not None:
                breaker.record(result.outcome in ("delivered", "failed", "disable"))
            self._record(job, self._outcome_values(job, result))

    def _outcome_values(self, job: Job, result: Result) -> dict[str, Any]:
        now = utcnow()
        if result.outcome == "delivered":
            # a delivery the channel is unsure of (an email whose final dot got no answer) says so
            return {"state": DeliveryState.DELIVERED, "delivered_at": now, "last_error": result.error}
        if result.outcome == "retry" and job.attempt < ledger.MAX_ATTEMPTS:
            wait = ledger.backoff(job.attempt, self.retry_base)
            if result.retry_after is not None:
                wait = max(wait, timedelta(seconds=min(result.retry_after, 6 * 3600)))
            return {
                "state": DeliveryState.RETRYING,
                "next_attempt_at": now + wait,
                "last_error": result.error,
            }
        values: dict[str, Any] = {"state": DeliveryState.FAILED, "last_error": result.error or "gave up"}
        if result.outcome == "disable":
            values["disable"] = result.error or "endpoint gone"
        return values

    def _record(self, job: Job, values: dict[str, Any]) -> None:
        disable = values.pop("disable", None)
        self._writer.add(("row", (job.delivery_id, job.attempt), values), wait=False)
        if disable:
            self._writer.add(("disable", job.endpoint.id, disable), wait=False)
        if values.get("state") == DeliveryState.RETRYING:
            self.notify()
