"""NATS JetStream bus: durable, shared work queues that survive restarts of the server and the workers.

Every topic ``a.b`` is the subject ``<ns>.work.a.b`` in a work-queue stream of its own (``<NS>_A_B``,
file storage), where ``<ns>`` is the deployment's namespace (``warta`` unless WARTA_BUS_NAMESPACE says
otherwise); a stage's streams are those of the topics it consumes (routing: release.published,
release.corrected, release.withdrawn; the scheduler: release.approved). A stream is created when a
topic is first published or subscribed. A subscription is a durable pull consumer named ``<ns>-a-b``; every process that subscribes the same topic binds the same consumer, so they share the work and
no message goes to two of them. A work-queue stream keeps a message until a consumer acks it, and allows
only one consumer per subject, so within a deployment one stage owns each topic.

The message key travels as ``Nats-Msg-Id``: the server drops a second publish of the same key within the
duplicate window, which makes retried publishes (the outbox relay after a crash) safe. Delivery is at
least once: a handler that raises has its message nak'd with a growing delay (``retry_delays``) and
retried up to ``max_deliver`` times; one that never answers (a worker killed mid-message) has it
redelivered after ``ack_wait``. A server-side ``backoff`` may be set instead of a fixed ``ack_wait``, but
the server then spaces nak'd redeliveries by it too, overriding ``retry_delays``; it is off by default.

Besides the work queues the bus carries signals: plain NATS messages on ``<ns>.signal.<name>`` that
every subscribed process receives at most once (``wake`` tells delivery workers that rows are due);
a missed signal costs only latency, because every stage also polls. The live stream of editions for
gateways is in warta.bus.live.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg as NatsMsg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy, StorageType, StreamConfig

from warta.bus.base import Handler, Message

log = logging.getLogger(__name__)

MSG_ID = "Nats-Msg-Id"
NAMESPACE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def check_namespace(namespace: str) -> str:
    if not NAMESPACE.match(namespace):
        raise ValueError(
            f"bus namespace {namespace!r} must be 1-32 lowercase letters, digits, '-' or '_', "
            "starting with a letter"
        )
    return namespace


def stream_name(namespace: str, suffix: str) -> str:
    return f"{namespace.upper().replace('-', '_')}_{suffix}"


class NatsBus:
    fan_out = False  # the processes subscribing a topic share its messages

    def __init__(
        self,
        url: str,
        namespace: str = "warta",
        *,
        duplicate_window: float = 120.0,
        ack_wait: float = 30.0,
        max_deliver: int = 20,
        backoff: Sequence[float] = (),
        retry_delays: Sequence[float] = (1.0, 2.0, 5.0, 10.0, 30.0),
        batch: int = 64,
        fetch_timeout: float = 1.0,
        publish_window: int = 256,
        publish_timeout: float = 5.0,
        publish_attempts: int = 3,
        name: str | None = None,
        max_age: float = 7 * 24 * 3600.0,
    ) -> None:
        self.url = url
        self.namespace = check_namespace(namespace)
        self._streams: set[str] = set()  # topics whose stream is known to exist
        self.duplicate_window = duplicate_window
        self.ack_wait = ack_wait
        self.max_deliver = max_deliver
        self.backoff = list(backoff)
        self.retry_delays = list(retry_delays) or [1.0]
        self.batch = batch
        self.fetch_timeout = fetch_timeout
        self.publish_window = publish_window
        self.publish_timeout = publish_timeout
        self.publish_attempts = max(1, publish_attempts)
        self.name = name
        self.max_age = max_age
        self._subs: list[tuple[str, Handler]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._stopping = False

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping = False
        self._nc = await nats.connect(
            self.url,
            name=self.name,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            connect_timeout=5,
            ping_interval=10,
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
        )
        self._js = self._nc.jetstream(timeout=self.publish_timeout)
        self._streams.clear()
        for topic, handler in self._subs:
            self._spawn(topic, handler)

    async def stop(self) -> None:
        self._stopping = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            # not drain(): it waits on pull subscriptions' queues, which a cancelled fetch leaves
            # unfinished; every publish has been awaited already, so a flush is all that is owed
            with contextlib.suppress(Exception):
                await nc.flush(timeout=2)
            with contextlib.suppress(Exception):
                await nc.close()

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._subs.append((topic, handler))
        if self._js is not None:
            self._spawn(topic, handler)

    def durable_for(self, topic: str) -> str:
        return f"{self.namespace}-{topic.replace('.', '-')}"

    def stream_for(self, topic: str) -> str:
        return stream_name(self.namespace, re.sub(r"[^A-Za-z0-9]+", "_", topic).upper())

    def subject_for(self, topic: str) -> str:
        return f"{self.namespace}.work.{topic}"

    def topic_for(self, subject: str) -> str:
        return subject.removeprefix(f"{self.namespace}.work.")

    @property
    def jetstream(self) -> JetStreamContext:
        return self._require_js()

    @property
    def client(self) -> Client:
        if self._nc is None:
            raise RuntimeError("NatsBus is not started")
        return self._nc

    # -- signals -----------------------------------------------------------------------------------

    async def signal(self, name: str) -> None:
        """Tell every process listening for `name` (at most once; never raises)."""
        nc = self._nc
        if nc is None or not nc.is_connected:
            return
        try:
            await nc.publish(f"{self.namespace}.signal.{name}", b"")
        except Exception as e:
            log.debug("signal %s not sent: %s", name, e)

    async def on_signal(self, name: str, callback: Callable[[], None]) -> None:
        async def handle(_msg: NatsMsg) -> None:
            callback()

        await self.client.subscribe(f"{self.namespace}.signal.{name}", cb=handle)

    # -- publishing --------------------------------------------------------------------------------

    async def publish(self, message: Message) -> None:
        js = self._require_js()
        subject, data, headers = self._encode(message)
        for attempt in range(self.publish_attempts):
            try:
                await self._ensure_stream(message.topic)
                await js.publish(subject, data, timeout=self.publish_timeout, headers=headers)
                return
            except nats.errors.Error as e:
                self._streams.discard(message.topic)  # a wiped server has lost it: make it again
                if attempt + 1 == self.publish_attempts:
                    raise
                log.warning("publish of %s failed (%s); retrying", message.key, e)
                await asyncio.sleep(0.5 * (attempt + 1))

    async def publish_many(self, messages: Iterable[Message]) -> None:
        """Publish without waiting for each ack: a window of publishes is in flight at once.

        Returns when every message has been stored by the server; raises if any could not be.
        A message whose ack did not come is published again one at a time (the key dedupes it).
        """
        js = self._require_js()
        window: list[Message] = []
        for message in messages:
            window.append(message)
            if len(window) >= self.publish_window:
                await self._publish_window(js, window)
                window = []
        if window:
            await self._publish_window(js, window)

    async def _publish_window(self, js: JetStreamContext, window: list[Message]) -> None:
        for topic in {message.topic for message in window}:
            try:
                await self._ensure_stream(topic)
            except nats.errors.Error as e:
                log.warning("stream for %s not ready (%s)", topic, e)
        futures: list[asyncio.Future[Any]] = []
        for message in window:
            subject, data, headers = self._encode(message)
            futures.append(await js.publish_async(subject, data, headers=headers))
        done, pending = await asyncio.wait(futures, timeout=self.publish_timeout)
        for future in pending:
            future.cancel()
        for message, future in zip(window, futures, strict=True):
            if future in done and future.exception() is None:
                continue
            await self.publish(message)

    # -- consuming ---------------------------------------------------------------------------------

    def _spawn(self, topic: str, handler: Handler) -> None:
        self._tasks.append(asyncio.create_task(self._consume(topic, handler), name=f"nats:{topic}"))

    async def _consume(self, topic: str, handler: Handler) -> None:
        sub: JetStreamContext.PullSubscription | None = None
        failures = 0
        while not self._stopping:
            try:
                if sub is None:
                    sub = await self._bind(topic)
                msgs = await sub.fetch(self.batch, timeout=self.fetch_timeout)
                failures = 0
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except asyncio.CancelledError:
                raise
            except Exception as e:
                failures += 1
                log.warning("fetch on %s failed (%s); retrying", topic, e)
                if isinstance(e, nats.js.errors.NotFoundError) or failures >= 5:
                    # the stream or consumer is gone (a wiped server): build them again
                    if sub is not None:
                        with contextlib.suppress(Exception):
                            await sub.unsubscribe()
                    sub = None
                await asyncio.sleep(min(0.2 * failures, 2.0))
                continue
            for msg in msgs:
                await self._handle(topic, handler, msg)

    async def _bind(self, topic: str) -> JetStreamContext.PullSubscription:
        js = self._require_js()
        await self._ensure_stream(topic, again=True)
        durable = self.durable_for(topic)
        stream = self.stream_for(topic)
        config = ConsumerConfig(
            durable_name=durable,
            filter_subject=self.subject_for(topic),
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            max_deliver=self.max_deliver,
            backoff=self.backoff or None,
            max_ack_pending=max(1000, self.batch * 16),
        )
        try:
            await js.add_consumer(stream, config=config)
        except nats.js.errors.BadRequestError as e:
            # another worker created it first, or an older configuration that cannot be updated in place
            log.info("consumer %s not (re)created: %s", durable, e)
            await js.consumer_info(stream, durable)
        return await js.pull_subscribe_bind(durable=durable, stream=stream)

    async def _handle(self, topic: str, handler: Handler, msg: NatsMsg) -> None:
        if self._stopping:
            with contextlib.suppress(Exception):
                await msg.nak()
            return
        try:
            message = self._decode(msg)
        except Exception:
            log.exception("undecodable message on %s; dropping it", msg.subject)
            with contextlib.suppress(Exception):
                await msg.term()
            return
        try:
            await handler(message)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await msg.nak()
            raise
        except Exception:
            delivered = msg.metadata.num_delivered or 1
            delay = self.retry_delays[min(delivered, len(self.retry_delays)) - 1]
            log.exception(
                "handler for %s failed on %s (delivery %d); retrying in %.2fs",
                topic,
                message.key,
                delivered,
                delay,
            )
            with contextlib.suppress(Exception):
                await msg.nak(delay=delay)
            return
        try:
            await msg.ack()
        except Exception as e:  # the ack is lost with the connection: the message comes again after ack_wait
            log.warning("ack of %s failed: %s", message.key, e)

    # -- plumbing ----------------------------------------------------------------------------------

    async def _ensure_stream(self, topic: str, again: bool = False) -> None:
        if topic in self._streams and not again:
            return
        js = self._require_js()
        config = StreamConfig(
            name=self.stream_for(topic),
            subjects=[self.subject_for(topic)],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            duplicate_window=self.duplicate_window,
            max_age=self.max_age,  # a topic no stage consumes must not grow without bound
        )
        try:
            await js.add_stream(config=config)
        except nats.js.errors.BadRequestError:
            # exists with other settings: bring the ones that may change up to date
            await js.update_stream(config=config)
        self._streams.add(topic)

    def _require_js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("NatsBus is not started")
        return self._js

    def _encode(self, message: Message) -> tuple[str, bytes, dict[str, str]]:
        data = json.dumps(message.payload, separators=(",", ":"), ensure_ascii=False).encode()
        return self.subject_for(message.topic), data, {MSG_ID: message.key}

    def _decode(self, msg: NatsMsg) -> Message:
        key = (msg.headers or {}).get(MSG_ID, "")
        payload = json.loads(msg.data) if msg.data else {}
        return Message(topic=self.topic_for(msg.subject), key=key, payload=payload)

    async def _on_error(self, e: Exception) -> None:
        log.warning("nats: %s", e)

    async def _on_disconnected(self) -> None:
        if not self._stopping:
            log.warning("nats: disconnected from %s", self.url)

    async def _on_reconnected(self) -> None:
        log.info("nats: reconnected to %s", self.url)
