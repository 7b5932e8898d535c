"""The stream channel: live Server-Sent Events to desktop recipients through the stream hub.

The engine hands over every stream job of the lane at once. Jobs for the same edition, kind
and embargo flag become one event published once to all their recipients; the hub encodes it
a single time. A job counts as delivered once its event is written to the recipient's open
connections or held in the replay ring, from which a reconnecting desktop resumes.

In scaled mode the hub lives in the gateways: the channel is given a `remote` publisher (the
live stream, warta.bus.live), passes each job's commit point first (so a row another worker has
taken over is not published twice) and a job counts as delivered once JetStream holds its event.

Routing does not wait for the engine when a release goes out now: it hands the channel the
desktops it just decided, grouped by event (`publish_routed`), before any ledger row is written,
so a desktop sees a release within milliseconds however many rows the same release puts in the
ledger (`Channel.publishes_at_routing`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from warta.bus.base import Bus
from warta.bus.live import LivePublisher
from warta.bus.nats import NatsBus
from warta.clock import aware
from warta.config import Settings
from warta.delivery.base import Channel, EndpointView, Job, RecipientView, Result, register
from warta.delivery.stream import StreamHub
from warta.i18n.dates import iso
from warta.model.states import DeliveryState

log = logging.getLogger(__name__)

EVENT_NAMES = {"edition": "release", "withdrawal": "withdrawal"}


def event_data(job: Job) -> dict[str, Any]:
    """What a desk shows for one edition: enough to list it and link to the full text."""
    bundle = job.bundle
    settings = bundle.settings
    release, edition, text = bundle.release, bundle.edition, bundle.text
    base = settings.base_url
    released = aware(release.release_at)
    embargo = bundle.embargo_until if job.embargoed else None
    data: dict[str, Any] = {
        "release_id": release.id,
        "edition_id": edition.id,
        "version": edition.version,
        "lang": edition.lang,
        "dir": text.dir,
        "headline": edition.headline,
        "summary": edition.summary,
        "dateline": text.dateline,
        "sectors": list(text.sector_names),
        "url": f"{base}/releases/{release.id}/{edition.lang}",
        "ninjs_url": f"{base}/api/v1/releases/{release.id}/editions/{edition.lang}",
        "organisation": bundle.organisation.name,
        "released_at": iso(released) if released else None,
        "embargoed": job.embargoed,
        "embargoed_until": iso(embargo) if embargo else None,
    }
    if job.kind == "withdrawal":
        note = job.extra.get("note")
        data["note"] = str(note) if note else None
    return data


@register
class StreamChannel(Channel):
    name = "stream"
    batch_size = 100_000
    max_queued = 20_000  # one publish carries them all
    lane_concurrency = 1
    # only the live stream of scaled mode marks rows committing, just before publishing: a worker
    # that died there may not have published, so the row goes out again
    recover_committing = DeliveryState.PENDING
    publishes_at_routing = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.hub = StreamHub(settings)
        self.remote: LivePublisher | None = None

    def accepts(self, recipient: RecipientView, endpoint: EndpointView) -> bool:
        return recipient.kind == "desktop"

    def skip_reason(self, recipient: RecipientView, endpoint: EndpointView) -> str | None:
        if recipient.kind != "desktop":
            return f"the live stream is for desktop recipients, and this one is a {recipient.kind}"
        return None

    def use_bus(self, bus: Bus) -> None:
        """Among many processes the hub lives in the gateways: publish to the live stream."""
        if not isinstance(bus, NatsBus):
            raise TypeError(f"the live stream needs the NATS bus, not {type(bus).__name__}")
        self.remote = LivePublisher(bus, self.settings.live_max_age)

    def live_hub(self) -> StreamHub:
        return self.hub

    def lane(self, endpoint: EndpointView) -> str:
        return "stream"

    def breaker_key(self, job: Job) -> str | None:
        return None

    async def stop(self) -> None:
        self.hub.close()

    async def send(self, jobs: list[Job]) -> list[Result]:
        results: list[Result | None] = [None] * len(jobs)
        groups = self._groups(jobs, results)
        if self.remote is not None:
            return await self._send_remote(jobs, groups, results)
        return self._send_local(jobs, groups, results)

    async def publish_routed(self, groups: list[tuple[Job, list[RecipientView]]], key: str) -> list[Result]:
        """Publish what routing has just decided, before any ledger row exists (so no claims to
        check): per group, one event (that of the group's `job`) to all its recipients. One
        result per group.

        `key` names this routing of this release; in scaled mode JetStream drops a second publish
        under the same key (routing run again after a crash), so no desktop sees it twice."""
        results = []
        for job, recipients in groups:
            if job.kind not in EVENT_NAMES:
                results.append(Result("failed", f"the stream does not carry {job.kind} deliveries"))
            elif self.remote is None:
                self._publish_local(job, (r.id for r in recipients))
                results.append(Result.ok())
            else:
                edition = job.bundle.edition
                dedupe = f"{key}:{edition.id}:{edition.version}:{job.kind}:{int(job.embargoed)}"
                results.append(await self._publish_remote(job, recipients, dedupe))
        return results

    @staticmethod
    def _groups(jobs: list[Job], results: list[Result | None]) -> dict[tuple[str, int, str, bool], list[int]]:
        groups: dict[tuple[str, int, str, bool], list[int]] = {}
        for i, job in enumerate(jobs):
            if job.kind not in EVENT_NAMES:
                results[i] = Result("failed", f"the stream does not carry {job.kind} deliveries")
                continue
            edition = job.bundle.edition
            groups.setdefault((edition.id, edition.version, job.kind, job.embargoed), []).append(i)
        return groups

    def _send_local(
        self,
        jobs: list[Job],
        groups: dict[tuple[str, int, str, bool], list[int]],
        results: list[Result | None],
    ) -> list[Result]:
        for members in groups.values():
            self._publish_local(jobs[members[0]], (jobs[i].recipient.id for i in members))
            for i in members:
                results[i] = Result.ok()
        return [result or Result.ok() for result in results]

    def _publish_local(self, first: Job, recipient_ids: Iterable[str]) -> None:
        written, targeted = self.hub.publish(EVENT_NAMES[first.kind], event_data(first), recipient_ids)
        log.debug(
            "stream: %s %s to %d recipients, %d connections",
            first.kind,
            first.bundle.edition.id,
            targeted,
            written,
        )

    async def _publish_remote(
        self, first: Job, recipients: Iterable[RecipientView], dedupe: str | None
    ) -> Result:
        """One event to the live stream, on a subject per (language, country, sector) of its recipients."""
        assert self.remote is not None
        sectors = first.bundle.release.sectors
        sector = str(sectors[0]) if sectors else None
        lang = first.bundle.edition.lang
        by_subject: dict[tuple[str, str, str], list[str]] = {}
        for recipient in recipients:
            by_subject.setdefault((lang, recipient.country, sector or "_"), []).append(recipient.id)
        try:
            await self.remote.publish(EVENT_NAMES[first.kind], event_data(first), by_subject, dedupe=dedupe)
        except Exception as exc:
            log.warning("stream: live publish of %s failed: %s", first.bundle.edition.id, exc)
            return Result("retry", f"live stream unavailable: {exc}")
        return Result.ok()

    async def _send_remote(
        self,
        jobs: list[Job],
        groups: dict[tuple[str, int, str, bool], list[int]],
        results: list[Result | None],
    ) -> list[Result]:
        for all_members in groups.values():
            # among many delivery workers a claim can be lost (its lease ran out and another worker
            # took the row over): only rows still held go out, so no desktop sees an event twice
            held = await asyncio.gather(
                *(jobs[i].commit_point() for i in all_members), return_exceptions=True
            )
            members = []
            for i, check in zip(all_members, held, strict=True):
                if isinstance(check, BaseException):
                    results[i] = Result("retry", f"claim lost: {check}")
                else:
                    members.append(i)
            if not members:
                continue
            outcome = await self._publish_remote(jobs[members[0]], (jobs[i].recipient for i in members), None)
            for i in members:
                results[i] = outcome
        return [result or Result.ok() for result in results]
