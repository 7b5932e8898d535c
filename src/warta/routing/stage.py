"""The routing stage: the consumers of `release.published`, `release.corrected` and
`release.withdrawn` (and `release.approved` where subscribers share a topic), wired to the parts
that do the work, each a module of its own:

- `routing.audience`: the audience index (recipients bucketed by country, language and sector)
  and its refresh;
- `routing.matching`: the saved alerts' index, real-time alert matches and queued digest items;
- `routing.planning`: who gets which edition through which channels (`Planner.decide`), the
  live publish of a channel that publishes at routing time, and the writing of the rows;
- `routing.rehearsal`: a scheduled release's live plan decided ahead of its release time;
- `routing.notices`: corrections and withdrawals, to those who had the release;
- `routing.followup`: editions published after the release went out (`edition.updated`).

A routing run again for the same release (its message redelivered after a failure) publishes
nothing twice: the planner remembers what it published, rows already in the ledger are left to
the engine, and in scaled mode JetStream drops a repeated publish by its message id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from warta.bus import Bus, Message
from warta.clock import utcnow
from warta.config import Settings
from warta.delivery.base import Channel
from warta.i18n.catalog import LANGUAGES
from warta.i18n.dates import dateline_date
from warta.model import Release
from warta.model.states import ReleaseStatus
from warta.routing.matching import AlertCache as AlertCache  # where the benchmark finds it
from warta.routing.notices import Notices
from warta.routing.planning import Plan, Planner
from warta.routing.rehearsal import REHEARSE_AHEAD, Rehearsals
from warta.store import Store

log = logging.getLogger(__name__)


def _warm_locales() -> None:
    """Load the date formats of every wire language once (milliseconds each on first use), so the
    first release after a start does not pay for them while desktops wait."""
    now = utcnow()
    for lang in LANGUAGES:
        dateline_date(now, lang)


class Router:
    """The routing stage's consumers: a release published, corrected or withdrawn (and, where
    subscribers share a topic, approved) is handed to planning, its rehearsals and its notices."""

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
        self.on_rows = on_rows
        self.planner = Planner(store, settings, channels, on_rows, fallback_to_original)
        self.rehearsals = Rehearsals(store, self.planner)
        self.notices = Notices(store, self.planner)
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
            self.planner.index(s)
        self.rehearsals.due()

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

    def route_release(self, release_id: str) -> int:
        """Route a release and write its rows, every one `pending` (nothing published here)."""
        return self.record(self.plan_release(release_id))

    def plan_release(self, release_id: str, live: bool = False, changed_at: str | None = None) -> Plan:
        """Decide who gets which edition on which channel; with `live`, also the stream jobs that
        are due now (the release is out and the recipient may see it), ready to publish.

        With `changed_at` (the release's last change before the publish, from the scheduler), a
        rehearsal of this release decided from the same release, editions, circuits, audience and
        alerts is taken as it is."""
        with self.store.session() as s:
            release = s.get(Release, release_id)
            if release is None or release.status != ReleaseStatus.PUBLISHED:
                return Plan(release_id)
            if live and changed_at:
                rehearsed = self.rehearsals.rehearsed(s, release, changed_at)
                if rehearsed is not None:
                    return rehearsed
            return self.planner.decide(s, release, live).plan

    def record(self, plan: Plan) -> int:
        return self.planner.record(plan)

    async def go_live(self, plan: Plan) -> None:
        await self.planner.go_live(plan)

    def rehearse_due(self, ahead: float = REHEARSE_AHEAD) -> int:
        return self.rehearsals.due(ahead)

    def rehearse(self, release_id: str) -> bool:
        return self.rehearsals.rehearse(release_id)

    def route_correction(self, release_id: str) -> int:
        return self.notices.route_correction(release_id)

    def route_withdrawal(self, release_id: str) -> int:
        return self.notices.route_withdrawal(release_id)
