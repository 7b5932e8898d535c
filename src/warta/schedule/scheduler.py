"""The scheduler sleeps until the next approved release is due, then publishes it.

It does not poll on an interval: it computes the next due time, sleeps exactly that long, and is
woken early by a `release.approved` event when something new may be due sooner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from warta.bus import Bus, Message, emit
from warta.clock import aware, stamp, utcnow
from warta.model import Edition, Release
from warta.store import Store

log = logging.getLogger(__name__)
MAX_SLEEP = 300.0  # re-check now and then in case the clock jumped


def change_stamp(updated_at: datetime | None) -> str:
    """A release's last change (every change to a release sets its `updated_at`), as text."""
    return stamp(updated_at) or ""


def publish_due(store: Store, now: datetime | None = None) -> list[str]:
    """Mark every approved release whose time has come as published; returns their ids."""
    now = now or utcnow()
    with store.session() as s:
        due = list(
            s.scalars(
                select(Release)
                .where(Release.status == "approved", Release.release_at <= now)
                .order_by(Release.release_at)
                .limit(1000)
                .with_for_update()
            )
        )
        for release in due:
            changed_at = change_stamp(release.updated_at)  # before the publish itself changes the release
            release.status = "published"
            release.published_at = now
            release.updated_at = now
            editions = s.scalars(
                select(Edition.id, Edition.lang).where(
                    Edition.release_id == release.id, Edition.version == release.version
                )
            ).all()
            emit(
                s,
                "release.published",
                f"published:{release.id}:{release.version}",
                {
                    "release_id": release.id,
                    "version": release.version,
                    "editions": list(editions),
                    "embargo_until": release.embargo_until.isoformat() if release.embargo_until else None,
                    # routing uses a live plan it decided before the release time only if the
                    # release has not changed since
                    "changed_at": changed_at,
                },
            )
        return [r.id for r in due]


def next_due(store: Store) -> datetime | None:
    with store.session() as s:
        return aware(
            s.scalar(
                select(Release.release_at).where(Release.status == "approved").order_by(Release.release_at)
            )
        )


class Scheduler:
    def __init__(self, store: Store, bus: Bus, on_published: Callable[[], None]) -> None:
        self.store = store
        self.on_published = on_published
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        bus.subscribe("release.approved", self._approved)

    async def _approved(self, _message: Message) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                published = await asyncio.to_thread(publish_due, self.store)
                if published:
                    log.info("published %s", ", ".join(published))
                    self.on_published()
                due = await asyncio.to_thread(next_due, self.store)
            except Exception:
                log.exception("scheduler pass failed; retrying in 1 s")
                due, published = None, []
                await asyncio.sleep(1.0)
                continue
            delay = MAX_SLEEP if due is None else max(0.0, (due - utcnow()).total_seconds())
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=min(delay, MAX_SLEEP))
