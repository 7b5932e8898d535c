"""What a stage needs of a bus: publish a message on a topic, subscribe a handler to a topic."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Message:
    topic: str
    key: str  # idempotency key: the same fact published twice carries the same key
    payload: dict[str, Any]


Handler = Callable[[Message], Awaitable[None]]


class Bus(Protocol):
    # True when every subscriber of a topic gets every message (the in-process bus); False when
    # the subscribers of a topic share its messages, each going to one of them (JetStream)
    fan_out: bool

    async def publish(self, message: Message) -> None: ...

    def subscribe(self, topic: str, handler: Handler) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...
