"""Editions that become published after their release went out: a draft the desk approved, a
machine edition made after the release time, a translation a person uploaded.

On `edition.updated`, the release is routed again with the editions it has now (the same
audience, alerts and language choice as at its release), and of the rows that plan has, those in
the new edition's language are written for recipients who have not had the release in it:

- a recipient who got nothing (no edition in any of their languages, and no fallback) gets it as
  the release (`kind` edition);
- a recipient who got another language (the original, as the fallback) gets it as an additional
  edition (`kind` translation), as wires send a translation that follows the original: a new
  message in that language, the first one standing. The channels treat it as an edition.

The ledger's unique key makes each of these once, however often the event comes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from warta.bus import Bus, Message
from warta.clock import aware
from warta.delivery.ledger import NewRow, add_rows
from warta.editions.targets import EDITION_UPDATED
from warta.model import Delivery, Edition, Release
from warta.model.states import EditionStatus, ReleaseStatus
from warta.store import Store

log = logging.getLogger(__name__)
EDITION_KINDS = ("edition", "translation")  # the ledger kinds that carry a copy of the release


class _Plan(Protocol):
    rows: list[NewRow]


class Planner(Protocol):
    """What the follow-up needs of routing: a release's rows, decided with its editions of now."""

    def plan_release(self, release_id: str) -> _Plan: ...


class EditionFollowup:
    def __init__(self, store: Store, bus: Bus, planner: Planner, on_rows: Callable[[], None]) -> None:
        self.store = store
        self.planner = planner
        self.on_rows = on_rows
        bus.subscribe(EDITION_UPDATED, self._updated)

    async def _updated(self, message: Message) -> None:
        release_id, lang = message.payload["release_id"], message.payload["lang"]
        created = await asyncio.to_thread(self.follow, release_id, lang)
        if created:
            log.info("%s edition of %s: %d ledger rows", lang, release_id, created)
            self.on_rows()

    def follow(self, release_id: str, lang: str) -> int:
        """Write the rows that bring the release's `lang` edition to those who want it and have
        not had it; returns how many were offered to the ledger."""
        with self.store.session() as s:
            release = s.get(Release, release_id)
            if (
                release is None
                or release.status != ReleaseStatus.PUBLISHED
                or not _published_since_release(s, release, lang)
            ):
                return 0
            version = release.version
        plan = self.planner.plan_release(release_id)
        wanted = [row for row in plan.rows if row.lang == lang and row.version == version]
        if not wanted:
            return 0
        with self.store.session() as s:
            had: dict[tuple[str, str], set[str]] = {}
            for recipient_id, endpoint_id, got in s.execute(
                select(Delivery.recipient_id, Delivery.endpoint_id, Delivery.lang).where(
                    Delivery.release_id == release_id,
                    Delivery.version == version,
                    Delivery.kind.in_(EDITION_KINDS),
                    Delivery.recipient_id.in_({row.recipient_id for row in wanted}),
                )
            ):
                had.setdefault((recipient_id, endpoint_id), set()).add(got)
        rows = []
        for row in wanted:
            # the ledger's key is per endpoint: what this endpoint has had of the release
            langs = had.get((row.recipient_id, row.endpoint_id))
            if langs is None:
                rows.append(row)  # nothing yet at this endpoint: this is their copy of the release
            elif lang not in langs:
                row.kind = "translation"
                rows.append(row)
        if not rows:
            return 0
        with self.store.writing(), self.store.session() as s:
            return add_rows(s, rows)


def _published_since_release(session: Session, release: Release, lang: str) -> bool:
    """Whether the release's `lang` edition is published and was made or changed after the release
    went out. One that existed at the release was in routing's own plan, whose live publish reaches
    desktops before their rows are written: following it up too, while routing still writes those
    rows (an event that waited on the bus comes with the release's own), would send it twice."""
    changed = session.scalar(
        select(Edition.updated_at).where(
            Edition.release_id == release.id,
            Edition.version == release.version,
            Edition.lang == lang,
            Edition.status == EditionStatus.PUBLISHED,
        )
    )
    changed_at, released_at = aware(changed), aware(release.published_at)
    if changed_at is None:
        return False
    return released_at is None or changed_at > released_at
