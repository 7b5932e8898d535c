"""What the delivery engine hands a channel, and what a channel answers.

A channel is one class registered by name. The engine claims due ledger rows, groups them by
channel and destination (the lane: an SMTP relay, a webhook host, the stream hub), and calls
`send(jobs)` with at most `lane_concurrency` calls in flight per lane. Every job gets one Result.

Exactly-once where the protocol allows it: just before a job's bytes become irreversible (the
final "." of SMTP DATA), the channel awaits `job.commit_point()`. Among many delivery workers it
records the row as `committing` in the ledger, refused if the claim was lost meanwhile; the only
delivery worker, which cannot lose a claim, appends it to its commit journal on local disk instead
(`warta.delivery.journal`), read back into the ledger at the next start. After a crash, `sending`
rows are retried (nothing irreversible happened) and `committing` rows are settled by the channel's
`recover_committing` policy. Where the point would change nothing (the only delivery worker and a
channel whose `committing` rows are sent again like `sending` ones) it is not recorded at all.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

from warta.config import Settings
from warta.editions.render import WireText
from warta.model import Edition, Organisation, Release, ReleaseVersion


@dataclass(frozen=True)
class RecipientView:
    """The parts of a recipient a channel needs, detached from the database session."""

    id: str
    kind: str
    name: str
    country: str
    languages: tuple[str, ...]
    sectors: tuple[str, ...]
    email: str | None
    webhook_url: str | None
    webhook_secret: str | None
    webhook_format: str
    stream_token: str | None
    feed_token: str
    embargo_trusted: bool
    locale: str
    timezone: str


@dataclass
class Bundle:
    """One edition with everything rendered once and shared by all its jobs.

    `cache` is for channels to keep their own pre-rendered forms (encoded payloads, email
    parts per locale) so that 86,000 jobs do not render the same edition 86,000 times.
    """

    settings: Settings
    release: Release
    version: ReleaseVersion
    edition: Edition
    organisation: Organisation
    text: WireText
    editions: list[Edition]
    ninjs: dict[str, Any]
    cache: dict[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def key(self) -> tuple[str, str]:
        """What makes this rendering current: the edition's digest and its release's state (the
        key of the engine's cache, and what a sending process keeps its own copies by)."""
        return (self.edition.id, f"{self.edition.digest}|{self.release.status}|{self.release.updated_at}")

    @functools.cached_property
    def embargo_until(self) -> datetime | None:
        """The release's embargo (a bundle is rebuilt when its release changes)."""
        from warta.clock import aware

        return aware(self.release.embargo_until)


async def send_safely(channel: Channel, jobs: list[Job]) -> list[Result]:
    """The channel's results for `jobs`; a channel that raises (a bug) has every job retried, so
    that no row is lost."""
    try:
        return await channel.send(jobs)
    except Exception as exc:
        logging.getLogger(__name__).exception("channel %s failed", channel.name)
        return [Result("retry", f"{type(exc).__name__}: {exc}")] * len(jobs)


async def unchecked() -> None:
    """The commit point of a job no other worker can take over, or one with no ledger row yet."""


@dataclass
class Job:
    delivery_id: str
    channel: str
    kind: str  # edition | withdrawal | digest
    lane: str
    attempt: int  # 1 for the first try
    embargoed: bool  # an early copy for an embargo-trusted recipient: mark it as such
    recipient: RecipientView
    bundle: Bundle
    commit_point: Callable[[], Awaitable[None]]
    extra: dict[str, Any] = field(default_factory=dict)  # digest items, withdrawal note


Outcome = Literal["delivered", "retry", "failed", "disable"]


@dataclass(frozen=True)
class Result:
    """`retry`: try again later (after `retry_after` seconds if the destination said so);
    `failed`: permanent, no retry; `disable`: permanent, and stop using this destination (410)."""

    outcome: Outcome
    error: str | None = None
    retry_after: float | None = None

    @classmethod
    def ok(cls) -> Result:
        return _DELIVERED  # one for all: a result is immutable, and most results are this one


_DELIVERED = Result("delivered")


class Channel:
    name: ClassVar[str]
    batch_size: ClassVar[int] = 1  # jobs per send() call
    lane_concurrency: ClassVar[int] = 4  # send() calls in flight per lane
    # jobs one engine holds claimed and unfinished for this channel; the rest wait in the ledger
    max_queued: ClassVar[int] = 5_000
    # what a row left in `committing` by a crash means: "delivered" (the bytes left) or "pending"
    recover_committing: ClassVar[str] = "pending"
    # a delivery that is only a fact in the ledger (nothing leaves the wire): routing writes it as
    # delivered when it is due at once, instead of leaving it to the engine
    settled_by_routing: ClassVar[bool] = False
    # sends from child processes when the settings ask for them (`warta.delivery.sender`): the jobs,
    # recipients and results travel between processes, the bundle is rebuilt there
    own_process: ClassVar[bool] = False
    # of this channel's jobs in flight, those waiting on a slow destination that no longer count
    # against `max_queued` (a channel that parks slow requests keeps it up to date)
    parked: int = 0

    def applies_to(self, recipient: RecipientView) -> bool:
        """Whether this recipient has this channel."""
        raise NotImplementedError

    def lane(self, recipient: RecipientView) -> str:
        """The destination whose concurrency and circuit breaker this delivery shares."""
        raise NotImplementedError

    def breaker_key(self, job: Job) -> str | None:
        """The destination whose failures open a circuit breaker (None: no breaker).

        Narrower than the lane: many endpoints can share one host's concurrency, but one broken
        endpoint must not stop deliveries to its healthy neighbours."""
        return job.lane

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def send(self, jobs: list[Job]) -> list[Result]:
        raise NotImplementedError


CHANNELS: dict[str, type[Channel]] = {}


def register(cls: type[Channel]) -> type[Channel]:
    CHANNELS[cls.name] = cls
    return cls
