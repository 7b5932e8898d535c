"""Which event a delivered document announces, and the version a withdrawal goes out as.

Receivers key on an item's id and version: a withdrawal is therefore a new version of the item
(one past the release's last), and a correction is a version the receiver has not seen. A version
written after the release was published corrects what receivers already hold; one written before
(a correction while the release still waited) is simply what they get first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from warta.clock import aware
from warta.editions.rendered import RenderedEdition
from warta.model import Release, ReleaseVersion
from warta.model.states import ReleaseStatus

EventType = Literal["release.published", "release.corrected", "release.withdrawn"]


def withdrawn_version(release: Release) -> int:
    """The version a withdrawal notice carries: one past the release's last version."""
    return max(1, int(release.version)) + 1


def corrects_earlier_copies(release: Release, version: ReleaseVersion) -> bool:
    """Whether ``version`` was written after the release went out, so receivers hold an older one."""
    if version.version <= 1:
        return False
    published = aware(release.published_at)
    created = aware(version.created_at)
    return published is not None and created is not None and created > published


def event_type(release: Release, version: ReleaseVersion, kind: str) -> EventType:
    """The event a delivery of this ``kind`` (edition or withdrawal) announces."""
    if kind == "withdrawal" or release.status == ReleaseStatus.WITHDRAWN:
        return "release.withdrawn"
    return "release.corrected" if corrects_earlier_copies(release, version) else "release.published"


def event_time(release: Release, version: ReleaseVersion, kind: str) -> datetime | None:
    """When the event happened: the withdrawal, the correction, or the publication."""
    event = event_type(release, version, kind)
    if event == "release.withdrawn":
        return aware(release.updated_at)
    if event == "release.corrected":
        return aware(version.created_at)
    return aware(release.published_at) or aware(release.public_at)


def withdrawn_by(release: Release) -> Literal["issuer", "wire"]:
    """Who withdrew the release: its issuer, or the wire's editors."""
    record = (release.review or {}).get("withdrawal") or {}
    return "wire" if record.get("by") == "wire" else "issuer"


@dataclass(frozen=True)
class Event:
    """What a rendering announces: its type and time, the note that goes with it (a withdrawal's
    or a correction's), who withdrew the release, and whether it is an embargoed early copy."""

    type: EventType
    at: datetime | None
    note: str = ""
    withdrawn_by: Literal["issuer", "wire"] | None = None
    early: bool = False

    @property
    def withdrawn(self) -> bool:
        return self.type == "release.withdrawn"

    @property
    def corrected(self) -> bool:
        return self.type == "release.corrected"


def event_for(
    rendered: RenderedEdition, kind: str = "edition", note: str | None = None, early: bool = False
) -> Event:
    """The event a delivery of this ``kind`` (edition or withdrawal) of ``rendered`` announces.

    A withdrawal's note is ``note`` (the withdrawal's own words) or else the release's; a
    correction's is the reason its version gives."""
    release, version = rendered.release, rendered.version
    kind_of = event_type(release, version, kind)
    if kind_of == "release.withdrawn":
        said = release.withdrawal_note if note is None else note
        return Event(kind_of, event_time(release, version, kind), said or "", withdrawn_by(release), early)
    said = rendered.text.correction_reason if kind_of == "release.corrected" else ""
    return Event(kind_of, event_time(release, version, kind), said or "", None, early)
