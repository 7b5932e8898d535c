"""The routing stage: when a release goes out (or is corrected or withdrawn), decide once who gets
which edition through which channels, and write the ledger rows.

The audience is the union of the release's circuits and its explicit targets (countries and
languages, narrowed to recipients interested in the release's sectors), plus recipients whose
real-time alerts match an edition; digest alerts queue the edition for the next digest.

Rows of channels that send nothing (the private feeds) are written as delivered when they are due
at once: the engine would only mark them so. Live desktops do not wait for the ledger: when a
release goes out, the desktops it is due to now are published to in groups, one event each
(the channel that `publishes_at_routing`, through its `publish_routed`), before any row is built or written, and their rows are written
as delivered. Everything else is written `pending` for the delivery engine. A routing run again for the same release (its message redelivered after a failure) publishes
nothing twice: this process remembers what it published, rows already in the ledger are left to
the engine, and in scaled mode JetStream drops a repeated publish by its message id.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from warta.bus import Bus, Message
from warta.clock import aware, stamp, utcnow
from warta.config import Settings
from warta.delivery.base import NO_ENDPOINT, Channel, Job, RecipientView, Result, unchecked
from warta.delivery.ledger import NewRow, add_rows, insert_values, row_values
from warta.editions import embargo
from warta.editions.embargo import Access
from warta.editions.rendered import RenderedEditions
from warta.i18n.catalog import LANGUAGES
from warta.i18n.dates import dateline_date
from warta.intake.sanitize import html_to_text
from warta.model import Alert, Circuit, Delivery, DigestItem, Edition, Recipient, Release
from warta.routing import alerts as alert_matching
from warta.routing.audience import AudienceIndex, Selector, choose_language, fingerprint, load_index, view
from warta.schedule.scheduler import change_stamp
from warta.store import Store

log = logging.getLogger(__name__)
LIVE_STATES = ("pending", "retrying", "sending", "committing")
# ledger rows per transaction when routing writes a release's rows: small enough that delivery's
# writes, which take turns with it, never wait long
RECORD_CHUNK = 2_000
FIRST_CHUNK = 1_000  # the first transaction is small: delivery starts on it while the rest is written
# a release due this soon has its live plan decided ahead (a rehearsal), so that at its release time
# only a check that nothing changed stands between the publish and the desktops
REHEARSE_AHEAD = 30.0


class AlertCache:
    def __init__(self) -> None:
        self.index: alert_matching.AlertIndex | None = None
        self.fingerprint: tuple[object, ...] = ()
        self.by_id: dict[str, tuple[str, str]] = {}  # alert id -> (recipient id, mode)

    def get(self, session: Session) -> alert_matching.AlertIndex:
        fp = tuple(session.execute(select(func.count(Alert.id), func.max(Alert.created_at))).one())
        if self.index is None or fp != self.fingerprint:
            rows = session.execute(
                select(Alert, Recipient.status).join(Recipient, Recipient.id == Alert.recipient_id)
            ).all()
            specs = []
            self.by_id = {}
            for alert, status in rows:
                if status != "active":
                    continue
                self.by_id[alert.id] = (alert.recipient_id, alert.mode)
                specs.append(
                    alert_matching.AlertSpec(
                        id=alert.id,
                        query=alert.query,
                        countries=frozenset(alert.countries),
                        languages=frozenset(alert.languages),
                        sectors=frozenset(alert.sectors),
                    )
                )
            self.index = alert_matching.AlertIndex.build(specs)
            self.fingerprint = fp
        return self.index


def _warm_locales() -> None:
    """Load the date formats of every wire language once (milliseconds each on first use), so the
    first release after a start does not pay for them while desktops wait."""
    now = utcnow()
    for lang in LANGUAGES:
        dateline_date(now, lang)


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


@dataclass
class Rehearsal:
    """A scheduled release's plan, decided before its release time, with what it was decided from:
    it stands in for routing at the publish only if all of that is still the same."""

    plan: Plan
    changed_at: str  # the release's last change (`change_stamp`)
    release_at: datetime
    lifted: bool  # no embargo in force when it was decided
    editions: tuple[tuple[object, ...], ...]
    circuits: tuple[tuple[object, ...], ...]
    audience: AudienceIndex | None
    alerts: alert_matching.AlertIndex | None
    digest: dict[str, str]  # digest alert id -> edition id, queued at the publish


class Decided(NamedTuple):
    """A plan and what routing decided it from."""

    plan: Plan
    digest: dict[str, str]  # digest alert id -> edition id
    editions: dict[str, Edition]
    audience: AudienceIndex | None  # None when the release had no edition to send


class Router:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        bus: Bus,
        channels: dict[str, Channel],
        on_rows: Callable[[], None],
        fallback_to_original: bool = True,
    ) -> None:
        self.store = store
        self.settings = settings
        self.channels = channels
        # the channel that publishes what routing decides before its rows are written, if any
        self.live_channel = next((ch for ch in channels.values() if ch.publishes_at_routing), None)
        # channels with recipients of their own, who take releases whatever their targets
        self.gathering = [ch for ch in channels.values() if type(ch).audience is not Channel.audience]
        self.on_rows = on_rows
        self.fallback = fallback_to_original
        self.audience: AudienceIndex | None = None
        self._index_lock = threading.Lock()
        self.alerts = AlertCache()
        self.bundles = RenderedEditions(settings, size=32)
        # (release, version) -> recipients whose live event this process published already
        self._went_live: OrderedDict[tuple[str, int], set[str]] = OrderedDict()
        self._rehearsals: dict[str, Rehearsal] = {}
        self._rehearsal_lock = threading.Lock()
        if bus.fan_out:  # where subscribers share a topic (scaled mode), the scheduler must get
            # every approval; there the background refresh finds upcoming releases instead
            bus.subscribe("release.approved", self._approved)
        bus.subscribe("release.published", self._published)
        bus.subscribe("release.corrected", self._corrected)
        bus.subscribe("release.withdrawn", self._withdrawn)

    async def start(self, every: float = 2.0) -> None:
        """Keep the audience index fresh in the background, so a release rarely waits for it to be
        rebuilt after the recipients changed (routing still checks, and rebuilds if it must)."""
        self._warmer = asyncio.create_task(self._keep_warm(every))

    async def stop(self) -> None:
        warmer = getattr(self, "_warmer", None)
        if warmer is not None:
            warmer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await warmer

    async def _keep_warm(self, every: float) -> None:
        await asyncio.to_thread(_warm_locales)
        while True:
            try:
                await asyncio.to_thread(self.warm)
            except Exception:  # the database away: routing loads the index itself when it can
                log.warning("refreshing the audience index failed", exc_info=True)
            await asyncio.sleep(every)

    def warm(self) -> None:
        with self.store.session() as s:
            self._index(s)
        self.rehearse_due()

    async def _approved(self, _message: Message) -> None:
        await asyncio.to_thread(self.rehearse_due)

    async def _published(self, message: Message) -> None:
        release_id = message.payload["release_id"]
        changed_at = message.payload.get("changed_at")
        plan = await asyncio.to_thread(self.plan_release, release_id, True, changed_at)
        if plan.live:
            await self.go_live(plan)
            # connections the hub writes to directly have the event already; those served through
            # their own writer (HTTP/1.0) get a few loop turns to write it before the ledger work
            # takes the interpreter
            for _ in range(3):
                await asyncio.sleep(0)
        created = await asyncio.to_thread(self.record, plan)
        log.info(
            "route_release for %s: %d ledger rows, %d live now%s",
            release_id,
            created,
            len(plan.published),
            " (as rehearsed)" if plan.rehearsed else "",
        )  # `record` woke delivery after each chunk it wrote

    async def _corrected(self, message: Message) -> None:
        await self._run(self.route_correction, message.payload["release_id"])

    async def _withdrawn(self, message: Message) -> None:
        await self._run(self.route_withdrawal, message.payload["release_id"])

    async def _run(self, fn: Callable[[str], int], release_id: str) -> None:
        created = await asyncio.to_thread(fn, release_id)
        log.info("%s for %s: %d ledger rows", fn.__name__, release_id, created)
        self.on_rows()

    def _index(self, session: Session) -> AudienceIndex:
        with self._index_lock:  # one rebuild at a time: routing waits for the warmer's, not a second
            if self.audience is None or self.audience.fingerprint != fingerprint(session):
                self.audience = load_index(session)
            return self.audience

    # --- a release goes out ---------------------------------------------------------------

    def route_release(self, release_id: str) -> int:
        """Route a release and write its rows, every one `pending` (nothing published here)."""
        return self.record(self.plan_release(release_id))

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
        done = self._went_live.setdefault((plan.release_id, plan.version), set())
        while len(self._went_live) > 64:
            self._went_live.popitem(last=False)
        for group, result in zip(plan.live, results, strict=True):
            if result.outcome == "delivered":
                ids = [r.id for r in group.recipients]
                plan.published.update(ids)
                done.update(ids)

    def plan_release(self, release_id: str, live: bool = False, changed_at: str | None = None) -> Plan:
        """Decide who gets which edition on which channel; with `live`, also the stream jobs that
        are due now (the release is out and the recipient may see it), ready to publish.

        With `changed_at` (the release's last change before the publish, from the scheduler), a
        rehearsal of this release decided from the same release, editions, circuits, audience and
        alerts is taken as it is."""
        with self.store.session() as s:
            release = s.get(Release, release_id)
            if release is None or release.status != "published":
                return Plan(release_id)
            if live and changed_at:
                rehearsed = self._rehearsed(s, release, changed_at)
                if rehearsed is not None:
                    return rehearsed
            return self._plan(s, release, live).plan

    def _plan(self, s: Session, release: Release, live: bool, rehearsal: bool = False) -> Decided:
        """The plan and what it was decided from; the digest alerts that matched are queued here
        unless this is a rehearsal."""
        plan = Plan(release.id, release.version)
        editions = self._deliverable(s, release)
        if not editions:
            return Decided(plan, {}, editions, None)
        index = self._index(s)
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
        realtime, digest = self._alert_matches(s, release, editions)
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
            self._queue_digests(s, release, editions, digest)
        everyone = index.recipients

        def audience() -> Iterator[tuple[RecipientView, str]]:
            return ((everyone[n], how) for n, how in matched.items())

        channel = self.live_channel
        if not (live and channel is not None):
            plan.rows = list(self._rows(release, editions, audience(), kind="edition"))
            return Decided(plan, digest, editions, index)
        applies = channel.applies_to
        desktops = [r for n in matched if applies(r := everyone[n])]
        self._live_groups(s, release, editions, channel, desktops, plan)
        # the audience as a list is only built after the publish, as its rows are decided
        plan.rest = lambda: self._rows(release, editions, audience(), "edition")
        return Decided(plan, digest, editions, index)

    # --- rehearsals: a scheduled release's live plan, decided before its time -------------

    def rehearse_due(self, ahead: float = REHEARSE_AHEAD) -> int:
        """Rehearse every approved release due within `ahead` seconds that has no rehearsal of its
        present state (release, audience, alerts); returns how many were rehearsed."""
        if self.live_channel is None:
            return 0
        now = utcnow()
        with self.store.session() as s:
            upcoming = s.execute(
                select(Release.id, Release.version, Release.updated_at).where(
                    Release.status == "approved",
                    Release.release_at > now,
                    Release.release_at <= now + timedelta(seconds=ahead),
                )
            ).all()
        done = 0
        for release_id, version, updated_at in upcoming:
            have = self._rehearsals.get(release_id)
            if (
                have is not None
                and have.plan.version == version
                and have.changed_at == change_stamp(updated_at)
                and have.audience is self.audience
                and have.alerts is self.alerts.index
            ):
                continue
            done += self.rehearse(release_id)
        with self._rehearsal_lock:  # forget rehearsals of releases long gone out (or never to)
            for release_id, held in list(self._rehearsals.items()):
                if held.release_at < now - timedelta(seconds=60):
                    del self._rehearsals[release_id]
        return done

    def rehearse(self, release_id: str) -> bool:
        """Decide an approved release's live plan as if it were going out now, and keep it for its
        publish; nothing is written or published."""
        with self.store.session() as s:
            release = s.get(Release, release_id)
            if release is None or release.status != "approved":
                return False
            changed_at = change_stamp(release.updated_at)
            decided = self._plan(s, release, live=True, rehearsal=True)
            decided.plan.rehearsed = True
            release_at = aware(release.release_at)
            assert release_at is not None
            held = Rehearsal(
                plan=decided.plan,
                changed_at=changed_at,
                release_at=release_at,
                lifted=self._lift(release) is None,
                editions=_editions_state(decided.editions),
                circuits=self._circuits_state(s, release),
                audience=decided.audience,
                alerts=self.alerts.index,
                digest=decided.digest,
            )
        with self._rehearsal_lock:
            self._rehearsals[release_id] = held
        return True

    def _rehearsed(self, s: Session, release: Release, changed_at: str) -> Plan | None:
        """The release's rehearsed plan if everything it was decided from is as it was (the digest
        alerts it matched are queued now); else None, and routing decides afresh."""
        with self._rehearsal_lock:
            held = self._rehearsals.pop(release.id, None)
        if (
            held is None
            or held.plan.version != release.version
            or held.changed_at != changed_at
            or held.lifted != (self._lift(release) is None)
            or self._went_live.get((release.id, release.version))
        ):
            return None
        editions = self._deliverable(s, release)
        if (
            _editions_state(editions) != held.editions
            or self._circuits_state(s, release) != held.circuits
            or self._index(s) is not held.audience
            or self.alerts.get(s) is not held.alerts
            or self.live_channel is None
        ):
            return None
        in_ledger = s.scalar(
            select(Delivery.id)
            .where(
                Delivery.release_id == release.id,
                Delivery.version == release.version,
                Delivery.channel == self.live_channel.name,
                Delivery.kind == "edition",
            )
            .limit(1)
        )
        if in_ledger is not None:
            return None
        self._queue_digests(s, release, editions, held.digest)
        return held.plan

    @staticmethod
    def _circuits_state(s: Session, release: Release) -> tuple[tuple[object, ...], ...]:
        if not release.target_circuits:
            return ()
        rows = s.execute(
            select(Circuit.slug, Circuit.countries, Circuit.languages, Circuit.sectors, Circuit.kinds)
            .where(Circuit.slug.in_(release.target_circuits))
            .order_by(Circuit.slug)
        ).all()
        return tuple((slug, *(tuple(v) for v in values)) for slug, *values in rows)

    def _live_groups(
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
        lift = self._lift(release)
        key = (release.id, release.version)
        published = self._went_live.get(key, set())
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
        language = self._chooser(release, editions)
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

    def _chooser(
        self, release: Release, editions: dict[str, Edition]
    ) -> Callable[[tuple[str, ...]], str | None]:
        """`choose_language` for this release, remembered per preference list: most recipients
        share a handful of them."""

        @functools.cache
        def language(preferences: tuple[str, ...]) -> str | None:
            return choose_language(preferences, editions, release.language, self.fallback)

        return language

    def _deliverable(self, session: Session, release: Release) -> dict[str, Edition]:
        eds = session.scalars(
            select(Edition).where(
                Edition.release_id == release.id,
                Edition.version == release.version,
                Edition.status == "published",
            )
        )
        return {e.lang: e for e in eds}

    def _alert_matches(
        self, session: Session, release: Release, editions: dict[str, Edition]
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Recipients by a real-time alert, and digest alert ids, each with the edition that matched."""
        index = self.alerts.get(session)
        realtime: dict[str, str] = {}
        digest: dict[str, str] = {}
        if not len(index):
            return realtime, digest  # no saved alerts: no edition to read
        countries = {release.dateline_country, *release.target_countries}
        for edition in editions.values():
            text = " ".join((edition.headline, edition.summary, html_to_text(edition.body_html)))
            doc = alert_matching.Document.from_text(text, edition.lang, countries, release.sectors)
            for alert_id in index.match(doc):
                recipient_id, mode = self.alerts.by_id[alert_id]
                if mode == "realtime":
                    realtime.setdefault(recipient_id, alert_id)
                else:
                    digest.setdefault(alert_id, edition.id)
        return realtime, digest

    def _queue_digests(
        self, session: Session, release: Release, editions: dict[str, Edition], digest: dict[str, str]
    ) -> None:
        if not digest:
            return
        lift = self._lift(release)
        for alert_id, edition_id in digest.items():
            recipient_id, _ = self.alerts.by_id[alert_id]
            exists = session.scalar(
                select(DigestItem.id).where(
                    DigestItem.alert_id == alert_id, DigestItem.edition_id == edition_id
                )
            )
            if exists is None:
                session.add(
                    DigestItem(
                        alert_id=alert_id,
                        recipient_id=recipient_id,
                        edition_id=edition_id,
                        not_before=lift or utcnow(),
                    )
                )

    @staticmethod
    def _lift(release: Release) -> datetime | None:
        return embargo.lift_ahead(aware(release.embargo_until), utcnow())

    def _rows(
        self,
        release: Release,
        editions: dict[str, Edition],
        recipients: Iterable[tuple[RecipientView, str]],
        kind: str,
    ) -> Iterator[NewRow]:
        """A row for each of a recipient's endpoints whose channel takes it, one recipient at a time."""
        now = utcnow()
        lift = self._lift(release)
        channels = self.channels
        language = self._chooser(release, editions)
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

    # --- corrections and withdrawals ------------------------------------------------------

    def _earlier_recipients(self, session: Session, release: Release) -> dict[str, str]:
        """Recipients who got (or were about to get) an earlier version, with how they were matched."""
        rows = session.execute(
            select(Delivery.recipient_id, Delivery.matched_by)
            .where(
                Delivery.release_id == release.id,
                Delivery.kind == "edition",
                Delivery.version < release.version,
            )
            .where(Delivery.state.in_(("delivered", *LIVE_STATES)))
        ).all()
        return {r[0]: r[1] for r in rows}

    def route_correction(self, release_id: str) -> int:
        with self.store.session() as s:
            release = s.get(Release, release_id)
            if release is None or release.status != "published":
                return 0
            earlier = self._earlier_recipients(s, release)
            # copies of older versions still waiting are superseded
            s.execute(
                update(Delivery)
                .where(
                    Delivery.release_id == release.id,
                    Delivery.version < release.version,
                    Delivery.state.in_(("pending", "retrying")),
                )
                .values(state="cancelled", last_error=f"superseded by version {release.version}")
            )
            editions = self._deliverable(s, release)
            people = s.scalars(
                select(Recipient).where(Recipient.id.in_(earlier), Recipient.status == "active")
            )
            rows = self._rows(release, editions, ((view(r), earlier[r.id]) for r in people), kind="edition")
            return add_rows(s, rows)

    def route_withdrawal(self, release_id: str) -> int:
        with self.store.session() as s:
            release = s.get(Release, release_id)
            if release is None or release.status != "withdrawn":
                return 0
            s.execute(
                update(Delivery)
                .where(Delivery.release_id == release.id, Delivery.state.in_(("pending", "retrying")))
                .values(state="cancelled", last_error="release withdrawn")
            )
            got = s.execute(
                select(
                    Delivery.recipient_id,
                    Delivery.endpoint_id,
                    Delivery.channel,
                    Delivery.destination,
                    Delivery.edition_id,
                    Delivery.lang,
                    Delivery.version,
                    Delivery.matched_by,
                    Delivery.embargoed,
                )
                .where(Delivery.release_id == release.id, Delivery.kind == "edition")
                .where(Delivery.state.in_(("delivered", "committing", "sending")))
                .order_by(Delivery.version)
            ).all()
            # the latest copy each of a recipient's endpoints got; the notice goes the same way
            last = {r.endpoint_id: r for r in got}
            active = set(
                s.scalars(
                    select(Recipient.id).where(
                        Recipient.id.in_({r.recipient_id for r in last.values()}),
                        Recipient.status == "active",
                    )
                )
            )
            now = utcnow()
            rows = [
                NewRow(
                    release_id=release.id,
                    edition_id=r.edition_id,
                    version=release.version,
                    lang=r.lang,
                    recipient_id=r.recipient_id,
                    endpoint_id=r.endpoint_id,
                    channel=r.channel,
                    kind="withdrawal",
                    destination=r.destination,
                    # to an early copy's holder, at once: the engine holds no withdrawal for the lift
                    embargoed=bool(r.embargoed),
                    not_before=now,
                    matched_by=r.matched_by,
                )
                for r in last.values()
                if r.recipient_id in active
            ]
            return add_rows(s, rows)


def _editions_state(editions: dict[str, Edition]) -> tuple[tuple[object, ...], ...]:
    return tuple(sorted((e.lang, e.id, e.version, e.digest, stamp(e.updated_at)) for e in editions.values()))


def _take(matched: dict[int, str], picked: Iterable[int], how: str) -> None:
    """Add the picked recipients not matched yet, with how they were matched (the first way wins)."""
    if matched:
        for n in picked:
            matched.setdefault(n, how)
    else:
        matched.update(dict.fromkeys(picked, how))  # the usual single target, without a loop in Python
