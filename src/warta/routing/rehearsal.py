"""Rehearsals: a scheduled release's live plan, decided before its release time, so that at the
publish only a check that nothing it was decided from has changed stands between the release and
the desktops."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from warta.clock import aware, utcnow
from warta.model import Circuit, Delivery, Release
from warta.model.states import ReleaseStatus
from warta.routing import alerts as alert_matching
from warta.routing.audience import AudienceIndex
from warta.routing.due import deliverable, editions_state, lift_of
from warta.routing.matching import queue_digests
from warta.routing.planning import Plan, Planner
from warta.schedule.scheduler import change_stamp
from warta.store import Store

# a release due this soon has its live plan decided ahead (a rehearsal), so that at its release time
# only a check that nothing changed stands between the publish and the desktops
REHEARSE_AHEAD = 30.0


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


class Rehearsals:
    """The rehearsals this process holds, by release."""

    def __init__(self, store: Store, planner: Planner) -> None:
        self.store = store
        self.planner = planner
        self._rehearsals: dict[str, Rehearsal] = {}
        self._rehearsal_lock = threading.Lock()

    def due(self, ahead: float = REHEARSE_AHEAD) -> int:
        """Rehearse every approved release due within `ahead` seconds that has no rehearsal of its
        present state (release, audience, alerts); returns how many were rehearsed."""
        if self.planner.live_channel is None:
            return 0
        now = utcnow()
        with self.store.session() as s:
            upcoming = s.execute(
                select(Release.id, Release.version, Release.updated_at).where(
                    Release.status == ReleaseStatus.APPROVED,
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
                and have.audience is self.planner.audience
                and have.alerts is self.planner.alerts.index
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
            if release is None or release.status != ReleaseStatus.APPROVED:
                return False
            changed_at = change_stamp(release.updated_at)
            decided = self.planner.decide(s, release, live=True, rehearsal=True)
            decided.plan.rehearsed = True
            release_at = aware(release.release_at)
            assert release_at is not None
            held = Rehearsal(
                plan=decided.plan,
                changed_at=changed_at,
                release_at=release_at,
                lifted=lift_of(release) is None,
                editions=editions_state(decided.editions),
                circuits=self.circuits_state(s, release),
                audience=decided.audience,
                alerts=self.planner.alerts.index,
                digest=decided.digest,
            )
        with self._rehearsal_lock:
            self._rehearsals[release_id] = held
        return True

    def rehearsed(self, s: Session, release: Release, changed_at: str) -> Plan | None:
        """The release's rehearsed plan if everything it was decided from is as it was (the digest
        alerts it matched are queued now); else None, and routing decides afresh."""
        with self._rehearsal_lock:
            held = self._rehearsals.pop(release.id, None)
        if (
            held is None
            or held.plan.version != release.version
            or held.changed_at != changed_at
            or held.lifted != (lift_of(release) is None)
            or self.planner.went_live.get((release.id, release.version))
        ):
            return None
        editions = deliverable(s, release)
        if (
            editions_state(editions) != held.editions
            or self.circuits_state(s, release) != held.circuits
            or self.planner.index(s) is not held.audience
            or self.planner.alerts.get(s) is not held.alerts
            or self.planner.live_channel is None
        ):
            return None
        in_ledger = s.scalar(
            select(Delivery.id)
            .where(
                Delivery.release_id == release.id,
                Delivery.version == release.version,
                Delivery.channel == self.planner.live_channel.name,
                Delivery.kind == "edition",
            )
            .limit(1)
        )
        if in_ledger is not None:
            return None
        queue_digests(self.planner.alerts, s, release, editions, held.digest)
        return held.plan

    @staticmethod
    def circuits_state(s: Session, release: Release) -> tuple[tuple[object, ...], ...]:
        if not release.target_circuits:
            return ()
        rows = s.execute(
            select(Circuit.slug, Circuit.countries, Circuit.languages, Circuit.sectors, Circuit.kinds)
            .where(Circuit.slug.in_(release.target_circuits))
            .order_by(Circuit.slug)
        ).all()
        return tuple((slug, *(tuple(v) for v in values)) for slug, *values in rows)
