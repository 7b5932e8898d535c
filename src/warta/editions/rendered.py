"""Rendered editions: one edition with everything every output of it shares, made once.

Delivery sends one edition to thousands of recipients and routing publishes it live to thousands
of desktops; each of them reads the same wire text, release and sibling editions. A
`RenderedEdition` holds those, and its `cache` keeps what formats and channels make from it
(a ninjs item, encoded webhook bodies, email parts per locale), so that 86,000 deliveries do not
render the same edition 86,000 times. `RenderedEditions` is the bounded cache of them, keyed by
what makes a rendering current: the edition's digest and its release's state.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from warta.clock import aware
from warta.config import Settings
from warta.editions.queries import release_editions
from warta.editions.render import WireText, wire_text
from warta.model import Edition, Organisation, Release, ReleaseVersion

RenderKey = tuple[str, str]


def render_key(edition_id: str, digest: str, status: str, updated_at: object) -> RenderKey:
    """What makes a rendering current: a key changes when the edition or its release does."""
    return (edition_id, f"{digest}|{status}|{updated_at}")


@dataclass
class RenderedEdition:
    """One edition of one release version, with its wire text and the release's other editions of
    the same version. `cache` is for formats and channels to keep what they make from it."""

    settings: Settings
    release: Release
    version: ReleaseVersion
    edition: Edition
    organisation: Organisation
    text: WireText
    editions: list[Edition]
    cache: dict[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def key(self) -> RenderKey:
        """The cache's key for this rendering (what a sending process keeps its own copies by)."""
        edition, release = self.edition, self.release
        return render_key(edition.id, edition.digest, release.status, release.updated_at)

    @functools.cached_property
    def embargo_until(self) -> datetime | None:
        """The release's embargo (a rendering is made anew when its release changes)."""
        return aware(self.release.embargo_until)


def render_edition(
    settings: Settings, session: Session, edition: Edition, release: Release
) -> RenderedEdition | None:
    """The edition rendered afresh, or None when its version or issuer is gone."""
    version = session.scalar(
        select(ReleaseVersion).where(
            ReleaseVersion.release_id == release.id, ReleaseVersion.version == edition.version
        )
    )
    org = session.get(Organisation, release.org_id)
    if version is None or org is None:
        return None
    editions = [
        e for e in release_editions(session, release, shown_only=True) if e.version == edition.version
    ]
    text = wire_text(settings, release, version, edition, org)
    return RenderedEdition(settings, release, version, edition, org, text, editions)


class RenderedEditions:
    """Rendered editions shared by every delivery of the same edition (bounded, newest kept)."""

    def __init__(self, settings: Settings, size: int = 256) -> None:
        self.settings = settings
        self.size = size
        self._items: OrderedDict[RenderKey, RenderedEdition] = OrderedDict()

    def many(self, session: Session, edition_ids: set[str]) -> dict[str, RenderedEdition | None]:
        """The renderings of many editions (None for one that no longer exists), their cache keys
        read in one query."""
        rows = session.execute(
            select(Edition.id, Edition.digest, Release.status, Release.updated_at)
            .join(Release, Release.id == Edition.release_id)
            .where(Edition.id.in_(edition_ids))
        ).all()
        keys = {r[0]: render_key(r[0], r[1], r[2], r[3]) for r in rows}
        return {edition_id: self.get(session, edition_id, keys.get(edition_id)) for edition_id in edition_ids}

    def get(self, session: Session, edition_id: str, key: RenderKey | None = None) -> RenderedEdition | None:
        if key is not None:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        edition = session.get(Edition, edition_id)
        if edition is None:
            return None
        release = session.get(Release, edition.release_id)
        assert release is not None
        key = render_key(edition_id, edition.digest, release.status, release.updated_at)
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
            return hit
        rendered = render_edition(self.settings, session, edition, release)
        assert rendered is not None, "an edition's version and issuer outlive it"
        rendered.__dict__["key"] = key  # the cache's own key (`RenderedEdition.key` would make the same)
        self._items[key] = rendered
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return rendered
