"""The scheduler sleeps until the next approved release is due, then publishes it.

It does not poll on an interval: it computes the next due time, sleeps exactly that long, and is
woken early by a `release.approved` event when something new may be due sooner. A due release
whose machine editions are still being made waits for the editions stage's `editions.made` (at
most WARTA_TRANSLATION_WAIT seconds past its time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from warta.bus import Bus, Message, emit
from warta.clock import aware, stamp, utcnow
from warta.editions.targets import EDITIONS_MADE, translated
from warta.model import Edition, Release
from warta.model.states import ReleaseStatus
from warta.store import Store

log = logging.getLogger(__name__)
MAX_SLEEP = 300.0  # re-check now and then in case the clock jumped
DEFAULT_TRANSLATION_WAIT = 120.0  # WARTA_TRANSLATION_WAIT
WAITING_RECHECK = 1.0  # seconds between looks at a due release waiting for its editions


def change_stamp(updated_at: datetime | None) -> str:
    """A release's last change (every change to a release sets its `updated_at`), as text."""
    return stamp(updated_at) or ""


def publish_due(
    store: Store, now: datetime | None = None, translation_wait: float = DEFAULT_TRANSLATION_WAIT
) -> list[str]:
    """Mark every approved release whose time has come as published; returns their ids.

    A release whose machine editions are still being made waits for them, at most
    `translation_wait` seconds past its release time; then it goes out with the editions it has,
    and the others follow through `edition.updated` as they are made."""
    now = now or utcnow()
    with store.session() as s:
        due = list(
            s.scalars(
                select(Release)
                .where(Release.status == ReleaseStatus.APPROVED, Release.release_at <= now)
                .order_by(Release.release_at)
                .limit(1000)
                .with_for_update()
            )
        )
        for release in due:
            if not _ready(s, release, now, translation_wait):
                continue
            changed_at = change_stamp(release.updated_at)  # before the publish itself changes the release
            release.status = ReleaseStatus.PUBLISHED
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
        return [r.id for r in due if r.status == ReleaseStatus.PUBLISHED]


def _ready(s: Session, release: Release, now: datetime, translation_wait: float) -> bool:
    if translated(s, release, release.version):
        return True
    due_at = aware(release.release_at)
    return due_at is None or (now - due_at).total_seconds() >= translation_wait


def next_due(store: Store) -> datetime | None:
    with store.session() as s:
        return aware(
            s.scalar(
                select(Release.release_at)
                .where(Release.status == ReleaseStatus.APPROVED)
                .order_by(Release.release_at)
            )
        )


class Scheduler:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        on_published: Callable[[], None],
        translation_wait: float = DEFAULT_TRANSLATION_WAIT,
    ) -> None:
        self.store = store
        self.on_published = on_published
        self.translation_wait = translation_wait
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        bus.subscribe("release.approved", self._approved)
        # the editions stage finished a version: a release that waited for it may go out now
        bus.subscribe(EDITIONS_MADE, self._approved)

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
                published = await asyncio.to_thread(publish_due, self.store, None, self.translation_wait)
                if published:
                    log.info("published %s", ", ".join(published))
                    self.on_published()
                due = await asyncio.to_thread(next_due, self.store)
                if due is not None and due <= utcnow():
                    # due, but waiting for its editions: `editions.made` wakes this sooner, and
                    # the wait's end is never more than a second late
                    due = utcnow() + timedelta(seconds=WAITING_RECHECK)
            except Exception:
                log.exception("scheduler pass failed; retrying in 1 s")
                due, published = None, []
                await asyncio.sleep(1.0)
                continue
            delay = MAX_SLEEP if due is None else max(0.0, (due - utcnow()).total_seconds())
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=min(delay, MAX_SLEEP))
