"""The embargo gate: may a recipient have a release's edition now?

An embargo holds a release back from everyone until it lifts, except from recipients trusted
with embargoes, who get an early copy, marked as one. Every place that hands out an edition asks
this one function: routing, for the desktops it publishes to live and for each ledger row's
`not_before` (and the feed items it settles itself), the engine's claim again before any channel
sends, and the public reads, for a reader nobody trusts (`public_at`, the moment it answers
`NOW` to the untrusted once the release time has come too).
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum


class Access(Enum):
    """The gate's answer for one recipient at one moment."""

    NOW = "now"  # no embargo in force: an ordinary copy
    EARLY = "early"  # an embargo in force and a trusted recipient: an early copy, marked
    WAIT = "wait"  # an embargo in force and an untrusted recipient: nothing before the lift


def lift_ahead(embargo_until: datetime | None, now: datetime) -> datetime | None:
    """The embargo's lift while it is still to come; None when there is none or it has lifted.

    Both times are timezone-aware."""
    return embargo_until if embargo_until is not None and embargo_until > now else None


def gate(lift: datetime | None, trusted: bool) -> Access:
    """What a recipient may have now, given the embargo's lift still to come (`lift_ahead`).

    `trusted` is whether this copy may go early: the recipient's embargo trust, and at the
    claim also that routing made the row an early copy (an ordinary copy never goes out early,
    unmarked, to a recipient trusted since)."""
    if lift is None:
        return Access.NOW
    return Access.EARLY if trusted else Access.WAIT


def public_at(release_at: datetime, embargo_until: datetime | None) -> datetime:
    """When the public, whom nobody trusts, may see a release: its time, or its lift if later."""
    return max(release_at, embargo_until or release_at)
