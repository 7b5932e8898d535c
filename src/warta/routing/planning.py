"""Planning: who gets which edition through which channels, decided once per release.

The audience is the union of the release's circuits and its explicit targets (countries and
languages, narrowed to recipients interested in the release's sectors), recipients whose real-time
alerts match an edition, and those a channel brings of its own (`Channel.audience`). Each gets a
row per endpoint a channel takes. Where a channel publishes at routing time
(`Channel.publishes_at_routing`), the recipients due now on it are grouped by the event they get
and published before any row is built or written; their rows are then written as delivered.
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from warta.clock import utcnow
from warta.config import Settings
from warta.delivery.base import NO_ENDPOINT, Channel, Job, RecipientView, Result, unchecked
from warta.delivery.ledger import NewRow, insert_values, row_values
from warta.editions import embargo
from warta.editions.embargo import Access
from warta.editions.rendered import RenderedEditions
from warta.model import Circuit, Delivery, Edition, Release
from warta.routing.audience import AudienceIndex, Selector, choose_language, fingerprint, load_index
from warta.routing.due import deliverable, lift_of
from warta.routing.matching import AlertCache, alert_matches, queue_digests
from warta.store import Store

log = logging.getLogger(__name__)
# ledger rows per transaction when routing writes a release's rows: small enough that delivery's
# writes, which take turns with it, never wait long
RECORD_CHUNK = 2_000
FIRST_CHUNK = 1_000  # the first transaction is small: delivery starts on it while the rest is written


@dataclass
class LiveGroup:
    """Desktops that get the same event now: one edition, one kind, early (embargoed) or not.
    `job` stands for them all (its recipient is the first of them)."""

    job: Job
    recipients: list[RecipientView]


@dataclass
class Plan:
    """One release's routing, decided but not yet written: ledger rows, and the live desktops
    that may be sent the release before any row is written."""

    release_id: str
    version: int = 0
    rows: list[NewRow] = field(default_factory=list)
    live: list[LiveGroup] = field(default_factory=list)
    # rows decided after the live publish (every channel's), so desktops do not wait for them
    rest: Callable[[], Iterable[NewRow]] | None = None
    # desktops that have the release already: their stream rows are written as delivered
    published: set[str] = field(default_factory=set)
    published_at: datetime | None = None
    rehearsed: bool = False  # decided before the release time, and nothing it depends on changed


class Decided(NamedTuple):
    """A plan and what routing decided it from."""

    plan: Plan
    digest: dict[str, str]  # digest alert id -> edition id
    editions: dict[str, Edition]
    audience: AudienceIndex | None  # None when the release had no edition to send


class Planner:
    """Who gets which edition through which channels: a release's plan (its ledger rows, and the
    live groups a channel publishes before they are written), and the writing of its rows."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        channels: dict[str, Channel],
        on_rows: Callable[[], None],
        fallback_to_original: bool = True,
    ) -> None:
        self.store = store
        self.channels = channels
        self.on_rows = on_rows
        self.fallback = fallback_to_original
        # the channel that publishes what routing decides before its rows are written, if any
        self.live_channel = next((ch for ch in channels.values() if ch.publishes_at_routing), None)
        # channels with recipients of their own, who take releases whatever their targets
        self.gathering = [ch for ch in channels.values() if type(ch).audience is not Channel.audience]
        self.audience: AudienceIndex | None = None
        self._index_lock = threading.Lock()
        self.alerts = AlertCache()
        self.bundles = RenderedEditions(settings, size=32)
        # (release, version) -> recipients whose live event this process published already
        self.went_live: OrderedDict[tuple[str, int], set[str]] = OrderedDict()

    def index(self, session: Session) -> AudienceIndex:
        with self._index_lock:  # one rebuild at a time: routing waits for the warmer's, not a second
            if self.audience is None or self.audience.fingerprint != fingerprint(session):
                self.audience = load_index(session)
            return self.audience

    def record(self, plan: Plan, chunk: int = RECORD_CHUNK) -> int:
        """Write the plan's rows, a chunk per transaction (the first one small), waking delivery
        after each: the first emails go out while the rest of a large audience is still being
        written. Stream rows of desktops the release was published to are written as delivered.
        Writing a chunk twice (routing run again after a crash) is harmless: the ledger's unique
        key keeps one."""
        # rows are decided as they are written: the first chunk goes in (and delivery starts on
        # it) before the rest of a large audience has been decided
        rows = itertools.chain(plan.rows, plan.rest() if plan.rest else ())
        at = plan.published_at or utcnow()
        live = self.live_channel.name if self.live_channel is not None else None
        created = 0
        size = min(FIRST_CHUNK, chunk)
        while batch := list(itertools.islice(rows, size)):
            if plan.published:
                for row in batch:
                    if row.channel == live and row.kind == "edition" and row.recipient_id in plan.published:
                        row.delivered_at = at
            values = row_values(batch)
            # a turn among this process's writers: delivery's commit points wait for one chunk at
            # most, never for SQLite's busy handler to wake up
            with self.store.writing(), self.store.session() as s:
                created += insert_values(s, values)
            self.on_rows()
            size = chunk
        return created

    async def go_live(self, plan: Plan) -> None:
        """Publish the plan's live groups now; their desktops' rows are written as delivered."""
        channel = self.live_channel
        assert channel is not None  # a plan has live groups only where a channel publishes them
        groups = [(group.job, group.recipients) for group in plan.live]
        try:
            results: list[Result] = await channel.publish_routed(groups, f"route:{plan.release_id}")
        except Exception:  # the engine sends them instead
            log.exception("live publish of %s failed; the delivery engine will send it", plan.release_id)
            return
        plan.published_at = utcnow()
        done = self.went_live.setdefault((plan.release_id, plan.version), set())
        while len(self.went_live) > 64:
            self.went_live.popitem(last=False)
        for group, result in zip(plan.live, results, strict=True):
            if result.outcome == "delivered":
                ids = [r.id for r in group.recipients]
                plan.published.update(ids)
                done.update(ids)

    def decide(self, s: Session, release: Release, live: bool, rehearsal: bool = False) -> Decided:
        """The plan and what it was decided from; the digest alerts that matched are queued here
        unless this is a rehearsal."""
        plan = Plan(release.id, release.version)
        editions = deliverable(s, release)
        if not editions:
            return Decided(plan, {}, editions, None)
        index = self.index(s)
        matched: dict[int, str] = {}
        if release.target_countries or release.target_languages:
            sel = Selector(
                frozenset(release.target_countries),
                frozenset(release.target_languages),
                frozenset(release.sectors),
            )
            _take(matched, index.select(sel), "target")
        if release.target_circuits:
            for circuit in s.scalars(select(Circuit).where(Circuit.slug.in_(release.target_circuits))):
                _take(matched, index.select(Selector.of(circuit)), f"circuit:{circuit.slug}")
        realtime, digest = alert_matches(self.alerts, s, release, editions)
        for recipient_id, alert_id in realtime.items():
            n_or_none = index.by_id.get(recipient_id)
            if n_or_none is not None:
                matched.setdefault(n_or_none, f"alert:{alert_id}")
        for gatherer in self.gathering:
            for recipient_id, how in gatherer.audience(s, release, editions.keys()):
                n_or_none = index.by_id.get(recipient_id)
                if n_or_none is not None:
                    matched.setdefault(n_or_none, how)
        if not rehearsal:
            queue_digests(self.alerts, s, release, editions, digest)
        everyone = index.recipients

        def audience() -> Iterator[tuple[RecipientView, str]]:
            return ((everyone[n], how) for n, how in matched.items())

        channel = self.live_channel
        if not (live and channel is not None):
            plan.rows = list(self.rows(release, editions, audience(), kind="edition"))
            return Decided(plan, digest, editions, index)
        applies = channel.applies_to
        desktops = [r for n in matched if applies(r := everyone[n])]
        self.live_groups(s, release, editions, channel, desktops, plan)
        # the audience as a list is only built after the publish, as its rows are decided
        plan.rest = lambda: self.rows(release, editions, audience(), "edition")
        return Decided(plan, digest, editions, index)

    def live_groups(
        self,
        session: Session,
        release: Release,
        editions: dict[str, Edition],
        channel: Channel,
        desktops: list[RecipientView],
        plan: Plan,
    ) -> None:
        """The desktops that may have the release now, grouped by the event they get: decided per
        desktop with the same language choice and embargo gate as their ledger rows, but without
        building a row or a job for each (that waits until after the publish)."""
        lift = lift_of(release)
        key = (release.id, release.version)
        published = self.went_live.get(key, set())
        in_ledger = set(
            session.scalars(
                select(Delivery.recipient_id).where(
                    Delivery.release_id == release.id,
                    Delivery.version == release.version,
                    Delivery.channel == channel.name,
                    Delivery.kind == "edition",
                )
            )
        )
        language = self.chooser(release, editions)
        groups: dict[tuple[str, bool], list[RecipientView]] = {}
        # desktops share a handful of (languages, trusted) pairs: each pair's group is found once
        group_of: dict[object, list[RecipientView] | None] = {}
        seen_before = bool(in_ledger or published)
        for r in desktops:
            pair = (r.languages, r.embargo_trusted) if lift else r.languages
            if pair in group_of:
                members = group_of[pair]
            else:
                lang = language(r.languages)
                access = embargo.gate(lift, r.embargo_trusted)
                # no edition it reads; or not before the lift (the engine's claim asks the same gate)
                if lang is None or access is Access.WAIT:
                    members = None
                else:
                    members = groups.setdefault((editions[lang].id, access is Access.EARLY), [])
                group_of[pair] = members
            if members is None:
                continue
            if seen_before:
                if r.id in in_ledger:
                    continue  # its row is the engine's now
                if r.id in published:  # routed again after its rows failed to be written
                    plan.published.add(r.id)
                    continue
            members.append(r)
        for (edition_id, early), members in groups.items():
            if not members:
                continue  # each of its desktops had its row or the event already
            bundle = self.bundles.get(session, edition_id)
            if bundle is None:
                continue
            job = Job(
                delivery_id="",  # the rows get their ids when they are written, after the publish
                channel=channel.name,
                kind="edition",
                lane=channel.lane(NO_ENDPOINT),
                attempt=1,
                embargoed=early,
                recipient=members[0],
                bundle=bundle,
                commit_point=unchecked,  # routing's live jobs have no row yet: no claim to check
            )
            plan.live.append(LiveGroup(job, members))

    def chooser(
        self, release: Release, editions: dict[str, Edition]
    ) -> Callable[[tuple[str, ...]], str | None]:
        """`choose_language` for this release, remembered per preference list: most recipients
        share a handful of them."""

        @functools.cache
        def language(preferences: tuple[str, ...]) -> str | None:
            return choose_language(preferences, editions, release.language, self.fallback)

        return language

    def rows(
        self,
        release: Release,
        editions: dict[str, Edition],
        recipients: Iterable[tuple[RecipientView, str]],
        kind: str,
    ) -> Iterator[NewRow]:
        """A row for each of a recipient's endpoints whose channel takes it, one recipient at a time."""
        now = utcnow()
        lift = lift_of(release)
        channels = self.channels
        language = self.chooser(release, editions)
        for recipient, how in recipients:
            lang_or_none = language(recipient.languages)
            if lang_or_none is None:
                continue
            lang = lang_or_none
            edition = editions[lang]
            access = embargo.gate(lift, recipient.embargo_trusted)
            early = access is Access.EARLY
            due_now = access is not Access.WAIT
            for endpoint in recipient.endpoints:
                channel = channels.get(endpoint.channel)
                if channel is None or not channel.accepts(recipient, endpoint):
                    continue
                yield NewRow(
                    release_id=release.id,
                    edition_id=edition.id,
                    version=edition.version,
                    lang=lang,
                    recipient_id=recipient.id,
                    endpoint_id=endpoint.id,
                    channel=channel.name,
                    kind=kind,
                    destination=channel.lane(endpoint),
                    embargoed=early,
                    not_before=now if due_now or lift is None else lift,
                    matched_by=how,
                    # the same gate as the engine's claim: due now, and never early to the untrusted
                    delivered_at=now if (due_now and channel.settled_by_routing) else None,
                )


def _take(matched: dict[int, str], picked: Iterable[int], how: str) -> None:
    """Add the picked recipients not matched yet, with how they were matched (the first way wins)."""
    if matched:
        for n in picked:
            matched.setdefault(n, how)
    else:
        matched.update(dict.fromkeys(picked, how))  # the usual single target, without a loop in Python
