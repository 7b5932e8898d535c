"""In-process bus: one asyncio queue per subscriber, handlers run as tasks of the server's loop."""

from __future__ import annotations

import asyncio
import logging

from warta.bus.base import Handler, Message

log = logging.getLogger(__name__)


class MemoryBus:
    fan_out = True

    def __init__(self) -> None:
        self._subs: dict[str, list[tuple[Handler, asyncio.Queue[Message]]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False

    def subscribe(self, topic: str, handler: Handler) -> None:
        queue: asyncio.Queue[Message] = asyncio.Queue()
        self._subs.setdefault(topic, []).append((handler, queue))
        if self._started:
            self._tasks.append(asyncio.create_task(self._run(handler, queue)))

    async def publish(self, message: Message) -> None:
        for _handler, queue in self._subs.get(message.topic, []):
            queue.put_nowait(message)

    async def start(self) -> None:
        self._started = True
        for subs in self._subs.values():
            for handler, queue in subs:
                self._tasks.append(asyncio.create_task(self._run(handler, queue)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._started = False

    async def _run(self, handler: Handler, queue: asyncio.Queue[Message]) -> None:
        while True:
            message = await queue.get()
            try:
                await handler(message)
            except Exception:  # a failing handler must not stop the others
                log.exception("handler for %s failed on %s", message.topic, message.key)
