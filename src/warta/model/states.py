"""The states the nouns move through, named once.

Each is a `StrEnum`: a member is the very string stored in the database and written in JSON, so
rows, events and API answers read the same as before, and a member compares equal to its text.
"""

from __future__ import annotations

from enum import StrEnum


class DeliveryState(StrEnum):
    """A ledger row: pending → sending → committing → delivered, or retrying → failed, or cancelled."""

    PENDING = "pending"
    SENDING = "sending"
    COMMITTING = "committing"  # sent; waiting for the commit point before the message is let go
    DELIVERED = "delivered"
    RETRYING = "retrying"
    FAILED = "failed"
    CANCELLED = "cancelled"


# rows still on their way: routing does not route them again, the engine may still send them
LIVE_DELIVERY_STATES = (
    DeliveryState.PENDING,
    DeliveryState.RETRYING,
    DeliveryState.SENDING,
    DeliveryState.COMMITTING,
)


class ReleaseStatus(StrEnum):
    HELD = "held"  # waiting for an editor
    REJECTED = "rejected"
    APPROVED = "approved"  # waiting for its release time
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


class VersionState(StrEnum):
    """A release version's: only approved ones are history."""

    APPROVED = "approved"
    PENDING = "pending"  # a correction waiting for an editor
    REJECTED = "rejected"


class EditionStatus(StrEnum):
    PUBLISHED = "published"
    DRAFT = "draft"  # a machine edition below the publishable tier, for an editor to approve
    NEEDS_TRANSLATION = "needs_translation"  # no engine could make it
    OUTDATED = "outdated"  # carried over to a later version, marked as such
    HELD = "held"  # an issuer's new language the review chain held


# the editions readers are shown
SHOWN_EDITION_STATES = (EditionStatus.PUBLISHED, EditionStatus.OUTDATED)


class RecipientStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    UNSUBSCRIBED = "unsubscribed"
    DELETED = "deleted"


class EndpointState(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"  # a 410, or an editor; `disabled_reason` says why
    REMOVED = "removed"  # its address erased; ledger rows still name it
