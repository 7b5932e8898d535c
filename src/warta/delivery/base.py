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

import logging
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple

from warta.editions.rendered import RenderedEdition
from warta.model.states import DeliveryState

if TYPE_CHECKING:  # types only: a channel's hooks name them, the base imports neither at run time
    from sqlalchemy.orm import Session

    from warta.bus.base import Bus
    from warta.delivery.stream import StreamHub
    from warta.model import Release


class EndpointView(NamedTuple):
    """One place a recipient takes deliveries on a channel: its address (an email address, a URL),
    format (a webhook's ninjs or newsml) and secret (a webhook's signing secret, a token).

    A named tuple: the audience index makes one per endpoint of the whole wire, straight from a
    row, at a fraction of a dataclass's cost."""

    id: str
    channel: str
    address: str | None
    format: str | None
    secret: str | None


@dataclass(frozen=True)
class RecipientView:
    """The parts of a recipient a channel needs, detached from the database session.

    `endpoints` are its active endpoints as routing's audience reads them; a claimed job names its
    own endpoint (`Job.endpoint`), and a claim's views carry none."""

    id: str
    kind: str
    name: str
    country: str
    languages: tuple[str, ...]
    sectors: tuple[str, ...]
    embargo_trusted: bool
    locale: str
    timezone: str
    endpoints: tuple[EndpointView, ...] = ()


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


NO_ENDPOINT = EndpointView("", "", None, None, None)  # a job with no address (routing's live jobs)


@dataclass
class Job:
    delivery_id: str
    channel: str
    kind: str  # edition | withdrawal | digest
    lane: str
    attempt: int  # 1 for the first try
    embargoed: bool  # an early copy for an embargo-trusted recipient: mark it as such
    recipient: RecipientView
    bundle: RenderedEdition  # the edition rendered once for all its jobs
    commit_point: Callable[[], Awaitable[None]]
    extra: dict[str, Any] = field(default_factory=dict)  # digest items, withdrawal note
    endpoint: EndpointView = NO_ENDPOINT  # where this delivery goes (an address, a URL, a token)


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
    recover_committing: ClassVar[str] = DeliveryState.PENDING
    # a delivery that is only a fact in the ledger (nothing leaves the wire): routing writes it as
    # delivered when it is due at once, instead of leaving it to the engine
    settled_by_routing: ClassVar[bool] = False
    # sends from child processes when the settings ask for them (`warta.delivery.sender`): the jobs,
    # recipients and results travel between processes, the rendered edition is made anew there
    own_process: ClassVar[bool] = False
    # of this channel's jobs in flight, those waiting on a slow destination that no longer count
    # against `max_queued` (a channel that parks slow requests keeps it up to date)
    parked: int = 0

    # carries the digests of hourly and daily alerts (`warta.delivery.digests` makes their rows on
    # this channel's `digest_lane`); one channel does
    carries_digests: ClassVar[bool] = False
    # publishes what routing decides the moment it decides it, before any ledger row is written
    # (`publish_routed`); routing writes the rows of what it published as delivered. At most one
    # channel does: routing asks the first it finds
    publishes_at_routing: ClassVar[bool] = False

    def skip_reason(self, recipient: RecipientView, endpoint: EndpointView) -> str | None:
        """Why this channel delivers nothing to this endpoint of this recipient, or None when it
        does (routing makes a row for each endpoint a channel takes)."""
        return None

    def accepts(self, recipient: RecipientView, endpoint: EndpointView) -> bool:
        """Whether routing makes a row for this endpoint: a channel on the hot path may answer
        this without building `skip_reason`'s text."""
        return self.skip_reason(recipient, endpoint) is None

    def applies_to(self, recipient: RecipientView) -> bool:
        """Whether this recipient has an endpoint this channel accepts."""
        return any(e.channel == self.name and self.accepts(recipient, e) for e in recipient.endpoints)

    def lane(self, endpoint: EndpointView) -> str:
        """The destination whose concurrency and circuit breaker a delivery to this endpoint shares."""
        raise NotImplementedError

    def breaker_key(self, job: Job) -> str | None:
        """The destination whose failures open a circuit breaker (None: no breaker).

        Narrower than the lane: many endpoints can share one host's concurrency, but one broken
        endpoint must not stop deliveries to its healthy neighbours."""
        return job.lane

    def audience(
        self, session: Session, release: Release, langs: Collection[str]
    ) -> Iterable[tuple[str, str]]:
        """Recipients of this channel's own that take `release` (whose editions are in `langs`)
        whatever its targets, each with how it was matched: the subscribers of a public feed.
        Routing asks once per release; most channels have none."""
        return ()

    def prepare(self, session: Session, jobs: list[Job]) -> None:
        """Read what this channel's jobs among a claim's `jobs` need from the database, once per
        claim in the claim's session (the email channel's threading); the others are left alone."""

    def digest_lane(self) -> str:
        """The lane of a digest row (made without an endpoint at hand), where `carries_digests`."""
        raise NotImplementedError

    async def publish_routed(self, groups: list[tuple[Job, list[RecipientView]]], key: str) -> list[Result]:
        """Where `publishes_at_routing`: per group, publish its `job`'s event to all its recipients
        now, one result per group; `key` names this routing of this release, so that routing run
        again publishes nothing twice."""
        raise NotImplementedError

    def use_bus(self, bus: Bus) -> None:
        """In scaled mode, a channel that reaches its destination through the bus (the live stream
        to the gateways) takes it here, before it starts."""

    def live_hub(self) -> StreamHub | None:
        """The hub this channel writes desktops' live connections through, if it keeps one."""
        return None

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
