"""What of a release routing may send: its published editions of the present version, and the
embargo in force (the lift, while it is ahead)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from warta.clock import aware, stamp, utcnow
from warta.editions import embargo
from warta.model import Edition, Release
from warta.model.states import EditionStatus


def deliverable(session: Session, release: Release) -> dict[str, Edition]:
    eds = session.scalars(
        select(Edition).where(
            Edition.release_id == release.id,
            Edition.version == release.version,
            Edition.status == EditionStatus.PUBLISHED,
        )
    )
    return {e.lang: e for e in eds}


def lift_of(release: Release) -> datetime | None:
    return embargo.lift_ahead(aware(release.embargo_until), utcnow())


def editions_state(editions: dict[str, Edition]) -> tuple[tuple[object, ...], ...]:
    return tuple(sorted((e.lang, e.id, e.version, e.digest, stamp(e.updated_at)) for e in editions.values()))
