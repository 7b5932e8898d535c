"""The live stream: stream events for desktops, from delivery workers to every gateway (scaled mode).

A delivery worker publishes each stream event on ``<ns>.edition.<lang>.<country>.<sector>`` — the
edition's language, the recipients' country and the release's first sector — into a JetStream
stream with limits retention (``<NS>_LIVE``, kept for WARTA_LIVE_MAX_AGE). The payload names the
recipients routing chose for that subject, so a gateway hands the event only to their
connections, exactly as in embedded mode. A gateway may read every subject (the default) or only
some (``warta gateway --subject 'warta.edition.*.MY.>'`` for a gateway of Malaysian desktops).

The event id a desktop sees is the stream sequence, the same on every gateway, so a desktop may
resume on any gateway with ``Last-Event-ID``. A gateway starts reading ``replay`` messages back (its
replay ring is full from the start) and, after any failure (NATS restarted, its consumer gone),
starts again right after the last sequence it saw: nothing is skipped and nothing is shown twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy, StorageType, StreamConfig

from warta.bus.nats import MSG_ID, NatsBus, stream_name

log = logging.getLogger(__name__)

TARGETS_PER_MESSAGE = 4000  # recipient ids per message (about 110 kB), well under NATS's 1 MB limit
_UNSAFE = re.compile(r"[^A-Za-z0-9_:-]+")


def token(value: str | None) -> str:
    """One subject token: NATS forbids '.', '*', '>' and whitespace; empty becomes '_'."""
    return _UNSAFE.sub("-", value or "").strip("-") or "_"


def live_subject(namespace: str, lang: str, country: str | None, sector: str | None) -> str:
    return f"{namespace}.edition.{token(lang)}.{token(country)}.{token(sector)}"


async def ensure_live_stream(bus: NatsBus, max_age: float) -> str:
    js = bus.jetstream
    name = stream_name(bus.namespace, "LIVE")
    config = StreamConfig(
        name=name,
        subjects=[f"{bus.namespace}.edition.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=max_age,
        max_msgs=1_000_000,
    )
    try:
        await js.add_stream(config=config)
    except nats.js.errors.BadRequestError:
        await js.update_stream(config=config)
    return name


class LivePublisher:
    """What the stream channel of a delivery worker publishes through."""

    def __init__(self, bus: NatsBus, max_age: float) -> None:
        self.bus = bus
        self.max_age = max_age
        self._ready = False

    async def publish(
        self,
        event: str,
        data: dict[str, Any],
        groups: Mapping[tuple[str, str, str], Sequence[str]],
        dedupe: str | None = None,
    ) -> None:
        """Publish one event to its recipients, grouped by subject; returns once JetStream holds
        every part, raises if any part could not be stored. With `dedupe`, each part carries a
        message id made from it, so publishing the same event again (a routing worker that died
        before recording it) within the stream's duplicate window stores nothing twice."""
        if not self._ready:
            await ensure_live_stream(self.bus, self.max_age)
            self._ready = True
        js = self.bus.jetstream
        futures = []
        for (lang, country, sector), unordered in groups.items():
            subject = live_subject(self.bus.namespace, lang, country, sector)
            recipients = sorted(unordered) if dedupe else unordered  # the same parts each time
            for i in range(0, len(recipients), TARGETS_PER_MESSAGE):
                body = {
                    "event": event,
                    "data": data,
                    "targets": list(recipients[i : i + TARGETS_PER_MESSAGE]),
                }
                payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
                headers = {MSG_ID: f"{dedupe}:{subject}:{i}"} if dedupe else None
                futures.append(await js.publish_async(subject, payload, headers=headers))
        done, pending = await asyncio.wait(futures, timeout=self.bus.publish_timeout) if futures else ((), ())
        for future in pending:
            future.cancel()
        failed = len(pending) + sum(1 for f in done if f.exception() is not None)
        if failed:
            raise RuntimeError(f"{failed} of {len(futures)} live messages were not stored")


class Hub(Protocol):
    def publish(
        self, event_name: str, data: dict[str, Any], recipient_ids: Iterable[str], event_id: int | None = None
    ) -> tuple[int, int]: ...

    def rebase(self, last_id: int) -> None: ...


class LiveFeed:
    """Feeds a gateway's stream hub from the live stream."""

    def __init__(
        self,
        bus: NatsBus,
        hub: Hub,
        *,
        subjects: Sequence[str] = (),
        replay: int = 1000,
        max_age: float = 3600.0,
        fetch_timeout: float = 2.0,
    ) -> None:
        self.bus = bus
        self.hub = hub
        self.subjects = list(subjects) or [f"{bus.namespace}.edition.>"]
        self.replay = replay
        self.max_age = max_age
        self.fetch_timeout = fetch_timeout
        self.last_seq = 0
        self.received = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="live-feed")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        stream = await ensure_live_stream(self.bus, self.max_age)
        js = self.bus.jetstream
        info = await js.stream_info(stream)
        last, first = int(info.state.last_seq), int(info.state.first_seq)
        if self.last_seq > last:
            # the stream is younger than what we showed (a wiped server): numbering starts again
            log.warning(
                "live stream restarted at %d (had seen %d); desktops will be told to reset",
                last,
                self.last_seq,
            )
            self.last_seq = 0
            self.hub.rebase(0)
        if self.last_seq == 0:
            start = max(first, last - self.replay + 1, 1)
            self.hub.rebase(start - 1)
        else:
            start = self.last_seq + 1
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=60.0,
            max_ack_pending=-1,
            mem_storage=True,
        )
        if len(self.subjects) > 1:
            config.filter_subjects = self.subjects
        return await js.pull_subscribe(self.subjects[0], stream=stream, config=config)

    async def _run(self) -> None:
        sub: JetStreamContext.PullSubscription | None = None
        failures = 0
        while True:
            try:
                if sub is None:
                    sub = await self._subscribe()
                # one message per request: a pull for more would linger until it filled up
                msgs = await sub.fetch(1, timeout=self.fetch_timeout)
                failures = 0
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except asyncio.CancelledError:
                if sub is not None:
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                raise
            except Exception as e:
                failures += 1
                log.warning("live stream read failed (%s); resubscribing after %d", e, self.last_seq)
                if sub is not None:
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                sub = None
                await asyncio.sleep(min(0.2 * failures, 2.0))
                continue
            for msg in msgs:
                self._deliver(msg)

    def _deliver(self, msg: Any) -> None:
        seq = int(msg.metadata.sequence.stream)
        if seq <= self.last_seq:
            return  # already shown (a consumer recreated at an overlapping point)
        self.last_seq = seq
        try:
            body = json.loads(msg.data)
            event, data, targets = str(body["event"]), body["data"], body["targets"]
        except (ValueError, KeyError, TypeError):
            log.exception("unreadable live message %d on %s; skipped", seq, msg.subject)
            return
        self.received += 1
        self.hub.publish(event, data, targets, event_id=seq)
