"""The bus between stages: one interface, an in-process implementation, and the outbox relay."""

from warta.bus.base import Bus, Handler, Message
from warta.bus.memory import MemoryBus
from warta.bus.outbox import OutboxRelay, emit

__all__ = ["Bus", "Handler", "MemoryBus", "Message", "OutboxRelay", "emit"]
