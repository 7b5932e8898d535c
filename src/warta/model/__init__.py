"""The nouns of the wire: organisations, people and keys, releases, versions, editions, the outbox."""

from warta.model.distribution import Alert, Circuit, Delivery, DigestItem, Endpoint, Recipient
from warta.model.states import (
    DeliveryState,
    EditionStatus,
    EndpointState,
    RecipientStatus,
    ReleaseStatus,
    VersionState,
)
from warta.model.tables import (
    ApiKey,
    Base,
    Edition,
    Organisation,
    OutboxEvent,
    Release,
    ReleaseVersion,
    User,
)

__all__ = [
    "Alert",
    "ApiKey",
    "Base",
    "Circuit",
    "Delivery",
    "DeliveryState",
    "Endpoint",
    "EndpointState",
    "DigestItem",
    "Edition",
    "EditionStatus",
    "Organisation",
    "OutboxEvent",
    "Recipient",
    "RecipientStatus",
    "Release",
    "ReleaseStatus",
    "ReleaseVersion",
    "VersionState",
    "User",
]
