"""The editions stage: makes a version's machine editions after intake or a correction stored it.

Intake answers its POST as soon as the original is stored; this stage takes the `editions.wanted`
event and, for each target language the version has no edition in, translates outside any
transaction (the engines may take seconds) and stores the edition in a short transaction of its
own, with an `edition.updated` event. When every language is done it emits `editions.made`,
which wakes the scheduler: a release due meanwhile waits for its editions (at most
WARTA_TRANSLATION_WAIT past its release time), and a correction of a published release is routed
only now (`release.corrected`), so its recipients get it in their languages.

Running it twice for a version is harmless: a language that has an edition is skipped, and every
event has a key of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy import select

from warta.bus import Bus, Message, emit
from warta.clock import aware
from warta.config import Settings
from warta.editions.service import version_row
from warta.editions.targets import EDITION_UPDATED, EDITIONS_MADE, EDITIONS_WANTED
from warta.editions.translations import Source, store_edition, translate_all
from warta.languages.router import TranslationRouter
from warta.model import Edition, Release
from warta.model.states import EditionStatus, ReleaseStatus
from warta.store import Store

log = logging.getLogger(__name__)
# a release in these states gets no machine editions (a withdrawn one is gone; a rejected one
# never goes out)
NOT_TRANSLATED = (ReleaseStatus.REJECTED, ReleaseStatus.WITHDRAWN)


class EditionsStage:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        bus: Bus,
        on_events: Callable[[], None],
        router: TranslationRouter | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.on_events = on_events  # events were written: wake this process's outbox relay
        self.router = router
        bus.subscribe(EDITIONS_WANTED, self._wanted)

    async def _wanted(self, message: Message) -> None:
        payload = message.payload
        made = await asyncio.to_thread(self.make, payload["release_id"], int(payload["version"]))
        log.info("editions for %s v%s: %d made", payload["release_id"], payload["version"], made)

    def make(self, release_id: str, version: int) -> int:
        """Make the version's missing machine editions; returns how many were stored."""
        with self.store.session() as s:
            release = s.get(Release, release_id)
            if release is None or release.status in NOT_TRANSLATED:
                return 0
            source = Source.read(s, release, version_row(s, release, version))
        made = 0
        for edition in translate_all(self.settings, source, self.router):
            if self._store(edition):
                made += 1
        self._finish(release_id, version)
        return made

    def _store(self, edition: Edition) -> bool:
        with self.store.writing(), self.store.session() as s:
            release = s.get(Release, edition.release_id)
            if release is None or release.status in NOT_TRANSLATED:
                return False
            # a version not current yet (a held correction) is indexed when it becomes current
            if not store_edition(s, edition, index=release.version == edition.version):
                return False
            if edition.status == EditionStatus.PUBLISHED:
                emit(
                    s,
                    EDITION_UPDATED,
                    f"edition:{edition.id}:made",
                    {"release_id": release.id, "edition_id": edition.id, "lang": edition.lang},
                )
        self.on_events()
        return True

    def _finish(self, release_id: str, version: int) -> None:
        with self.store.writing(), self.store.session() as s:
            # locked, so that a correction made current at this moment either sees every edition
            # here, or is seen by this check (`make_current` updates this row before it looks)
            release = s.scalar(select(Release).where(Release.id == release_id).with_for_update())
            if release is None:
                return
            emit(
                s,
                EDITIONS_MADE,
                f"editions-made:{release_id}:{version}",
                {"release_id": release_id, "version": version},
            )
            if release.status == ReleaseStatus.PUBLISHED and release.version == version and version > 1:
                written = aware(version_row(s, release, version).created_at)
                published = aware(release.published_at)
                if written and published and written > published:
                    emit(
                        s,
                        "release.corrected",
                        f"corrected:{release_id}:{version}",
                        {"release_id": release_id, "version": version},
                    )
        self.on_events()
