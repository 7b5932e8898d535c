"""The nouns of the wire: organisations, people and keys, releases, versions, editions, the outbox."""

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

__all__ = ["ApiKey", "Base", "Edition", "Organisation", "OutboxEvent", "Release", "ReleaseVersion", "User"]
