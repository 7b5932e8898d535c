"""Transactional outbox: stages write events beside their state; the relay hands them to the bus.

A crash between the commit and the publish loses nothing: undispatched rows are picked up
again when the relay starts. Consumers see an event at least once and use its key to stay
idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from warta.bus.base import Bus, Message
from warta.clock import utcnow
from warta.model import OutboxEvent
from warta.store import Store

log = logging.getLogger(__name__)


def emit(session: Session, topic: str, key: str, payload: dict[str, Any]) -> None:
    """Record an event in the caller's transaction. The same key twice records it once."""
    if session.scalar(select(OutboxEvent.id).where(OutboxEvent.key == key)) is None:
        session.add(OutboxEvent(topic=topic, key=key, payload=payload))


class OutboxRelay:
    def __init__(self, store: Store, bus: Bus, batch: int = 500) -> None:
        self.store = store
        self.bus = bus
        self.batch = batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def notify(self) -> None:
        """Wake the relay; safe to call from any thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def drain(self) -> int:
        """Publish every undispatched event, oldest first; returns how many.

        A bus that can pipeline (NATS JetStream's `publish_many`) gets the whole batch at once and
        the rows are marked in one update; otherwise one publish and mark at a time."""
        rows = await asyncio.to_thread(self._fetch)
        messages = [Message(topic=topic, key=key, payload=payload) for _, topic, key, payload in rows]
        publish_many = getattr(self.bus, "publish_many", None)
        if publish_many is not None and messages:
            await publish_many(messages)
            await asyncio.to_thread(self._mark_all, [row[0] for row in rows])
            return len(rows)
        for (row_id, *_), message in zip(rows, messages, strict=True):
            await self.bus.publish(message)
            await asyncio.to_thread(self._mark, row_id)
        return len(rows)

    def _mark_all(self, row_ids: list[int]) -> None:
        with self.store.session() as s:
            s.execute(update(OutboxEvent).where(OutboxEvent.id.in_(row_ids)).values(dispatched_at=utcnow()))

    def _fetch(self) -> list[tuple[int, str, str, dict[str, Any]]]:
        with self.store.session() as s:
            rows = s.execute(
                select(OutboxEvent.id, OutboxEvent.topic, OutboxEvent.key, OutboxEvent.payload)
                .where(OutboxEvent.dispatched_at.is_(None))
                .order_by(OutboxEvent.id)
                .limit(self.batch)
            ).all()
            return [(r[0], r[1], r[2], r[3]) for r in rows]

    def _mark(self, row_id: int) -> None:
        with self.store.session() as s:
            s.execute(update(OutboxEvent).where(OutboxEvent.id == row_id).values(dispatched_at=utcnow()))

    async def _run(self) -> None:
        while True:
            try:
                while await self.drain():
                    pass
            except Exception:
                log.exception("outbox relay failed; retrying")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=5.0)
