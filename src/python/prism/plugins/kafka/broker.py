"""KafkaBroker: ``PubSubBroker`` over confluent-kafka; KafkaSubscription: one consumer group."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from prism.plugins.kafka.names import group_id, kafka_topic
from prism.plugins.kafka.offsets import OffsetTracker
from prism.plugins.kafka.settings import KafkaSettings
from prism.sdk import errors
from prism.sdk.backend import Resource
from prism.sdk.deadline import time_remaining
from prism.sdk.errors import PrismError, UnavailableError
from prism.sdk.health import CheckOutcome, HealthChecker, HealthStatus
from prism.sdk.metrics import get_counter
from prism.sdk.patterns import BrokerMessage
from prism.sdk.resilience import CircuitBreaker

T = TypeVar("T")
_log = logging.getLogger(__name__)
_rdlog = logging.getLogger("prism.plugin.kafka.librdkafka")

METADATA_TIMEOUT = 1.5  # seconds; under the health checker's default 2 s check timeout
POLL_SECONDS = 0.25  # one consumer poll; bounds how long Unsubscribe waits for the poll thread
CLOSE_SECONDS = 10.0  # leaving the group; a dead broker must not hold the stream open longer
_UNAVAILABLE = {  # besides every error librdkafka flags retriable
    getattr(KafkaError, name)
    for name in "_MSG_TIMED_OUT _TIMED_OUT _TRANSPORT _ALL_BROKERS_DOWN _FATAL REQUEST_TIMED_OUT "
    "NOT_ENOUGH_REPLICAS NOT_ENOUGH_REPLICAS_AFTER_APPEND LEADER_NOT_AVAILABLE "
    "NOT_LEADER_FOR_PARTITION".split()
}


def kafka_error(err: KafkaError) -> PrismError:
    """The Prism error a librdkafka error stands for."""
    text = f"kafka: {err.str()}"
    if err.code() in _UNAVAILABLE or err.retriable():
        return UnavailableError(text)
    if err.code() == KafkaError.MSG_SIZE_TOO_LARGE:
        return errors.InvalidArgumentError(text)
    if err.code() == KafkaError._QUEUE_FULL:
        return errors.ResourceExhaustedError(text)
    return errors.PermanentError(text)


def classify_kafka(exc: BaseException) -> PrismError | None:
    """Classifier for the SDK's error interceptor and the publish breaker."""
    if isinstance(exc, KafkaException) and isinstance(exc.args[0], KafkaError):
        return kafka_error(exc.args[0])
    if isinstance(exc, BufferError):
        return errors.ResourceExhaustedError("kafka: the local producer queue is full")
    return None


def _text(value: str | bytes | None) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value or ""


async def _guard(work: Awaitable[T], timeout: float, what: str) -> T:
    """librdkafka ends ``work`` within ``timeout`` itself; the extra second only guards a bug."""
    try:
        return await asyncio.wait_for(work, timeout + 1.0)
    except TimeoutError:
        raise UnavailableError(f"kafka: {what} did not come within {timeout + 1.0:g}s") from None


def _settle(future: asyncio.Future[str], error: PrismError | None, message_id: str) -> None:
    if not future.done():
        if error is None:
            future.set_result(message_id)
        else:
            future.set_exception(error)


class KafkaBroker(Resource):
    """One idempotent producer and one AdminClient per plugin; consumers per subscription."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self.config = {**settings.librdkafka(), "error_cb": self._on_error, "logger": _rdlog}
        # A probe may take the whole publish_timeout: one waiting while a partition leader
        # moves is acknowledged the moment the move is done, closing the breaker at once.
        self.breaker = CircuitBreaker(
            "kafka-publish",
            open_seconds=settings.breaker_open_seconds,
            probe_timeout_seconds=settings.publish_timeout,
            classifiers=[classify_kafka],
        )
        self.subscriptions: set[KafkaSubscription] = set()
        self._producer: Producer  # the clients are made by start()
        self._admin: AdminClient
        self._topics: set[str] = set()
        self._stopping = threading.Event()
        self._poller: threading.Thread | None = None
        self._fatal: KafkaError | None = None  # set by the error callback, served by _poll
        self._degraded: str | None = None  # why health is DEGRADED
        self.commit_failures = get_counter(
            "prism_kafka_commit_failures_total",
            "Kafka offset commits that failed (their messages come again on resubscribe).",
        )

    def register_health(self, health: HealthChecker) -> None:
        health.register("kafka-metadata", self.check, critical=True)
        health.register("kafka-producer", self.producer_health, critical=False)

    async def start(self) -> None:
        """Create the clients (no connection is awaited: a down broker shows in health)."""
        self._producer = self._new_producer()
        self._admin = AdminClient(self.config)
        self._stopping.clear()
        self._poller = threading.Thread(target=self._poll, name="kafka-producer-poll", daemon=True)
        self._poller.start()

    def _new_producer(self) -> Producer:
        ms = int(self.settings.publish_timeout * 1000)
        idempotent = {"acks": "all", "enable.idempotence": True, "message.timeout.ms": ms}
        own = {"request.timeout.ms": min(ms, 30_000), "error_cb": self._on_producer_error}
        return Producer({**self.config, **idempotent, **own})

    def _poll(self) -> None:
        """Serves delivery reports (they run ``on_delivery`` on this thread)."""
        while not self._stopping.is_set():
            self._producer.poll(0.1)
            if self._fatal is not None:
                self._replace_producer(self._fatal)

    def _replace_producer(self, err: KafkaError) -> None:
        """A fatal error leaves the idempotent producer unusable for good: start a new one."""
        _log.error("kafka producer failed fatally, replacing it: %s", err.str())
        old, self._producer, self._fatal = self._producer, self._new_producer(), None
        # Flushing reports what the old one still holds (as failures), without blocking _poll.
        flush = threading.Thread(target=old.flush, args=(self.settings.publish_timeout,))
        flush.start()

    def _on_producer_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._degraded = f"producer replaced after a fatal error ({err.str()})"
            self._fatal = err
        self._on_error(err)

    def _on_error(self, err: KafkaError) -> None:
        _log.info("kafka client error: %s", err.str())  # transient; outcomes are reported

    async def producer_health(self) -> CheckOutcome | None:
        """DEGRADED from a fatal producer error until its replacement delivered a message."""
        return (
            None if self._degraded is None else CheckOutcome(HealthStatus.DEGRADED, self._degraded)
        )

    async def close(self, timeout: float | None = None) -> None:
        """Undelivered messages get publish_timeout (their own deadline), whatever ``timeout``."""
        for subscription in list(self.subscriptions):
            await subscription.close()
        self._stopping.set()
        if self._poller is not None:
            await asyncio.to_thread(self._poller.join)
            left = await asyncio.to_thread(self._producer.flush, self.settings.publish_timeout)
            if left:
                _log.warning("kafka: %d message(s) undelivered at shutdown", left)

    async def check(self) -> None:
        """Health: a metadata round trip to the cluster (raises when no broker answers)."""
        metadata = await asyncio.to_thread(self._admin.list_topics, timeout=METADATA_TIMEOUT)
        if not metadata.brokers:
            raise UnavailableError("kafka: metadata lists no brokers")

    async def ensure_topic(self, name: str, timeout: float | None = None) -> None:
        """Create ``name`` once, explicitly: broker auto-create may be off or differently set."""
        if name in self._topics:
            return
        timeout = self.settings.publish_timeout if timeout is None else timeout
        topic = NewTopic(name, num_partitions=self.settings.topic_partitions, replication_factor=-1)
        future = self._admin.create_topics([topic], request_timeout=timeout)[name]
        try:
            await _guard(asyncio.wrap_future(future), timeout, f"creating topic {name}")
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise kafka_error(exc.args[0]) from exc
        self._topics.add(name)

    async def publish(
        self,
        namespace: str,
        topic: str,
        payload: bytes,
        metadata: Mapping[str, str],
        *,
        ordering_key: str = "",
    ) -> str:
        """Acknowledged by all in-sync replicas; the id is ``<partition>-<offset>``.

        The ordering key is the Kafka message key, so one key stays on one partition (in
        order); without one, librdkafka's partitioner spreads messages over the partitions.
        """
        name = kafka_topic(namespace, topic)
        key = ordering_key.encode() if ordering_key else None
        return await self.breaker.call(lambda: self._publish(name, payload, metadata, key))

    def publish_budget(self) -> float:
        """How long a Publish may wait for its acknowledgement: publish_timeout, or less when
        the caller's deadline is nearer, leaving ``deadline_margin`` (at most half the
        caller's time) for the UNAVAILABLE answer to reach the caller before it gives up.

        The wait ends, the message does not: librdkafka may still deliver it within
        publish_timeout, so a failed Publish can have been written (at-least-once).
        """
        remaining = time_remaining()
        if remaining is None:
            return self.settings.publish_timeout
        margin = min(self.settings.deadline_margin, remaining / 2)
        return min(self.settings.publish_timeout, remaining - margin)

    async def _publish(
        self, name: str, payload: bytes, metadata: Mapping[str, str], key: bytes | None
    ) -> str:
        budget = self.publish_budget()
        try:
            async with asyncio.timeout(budget):
                await self.ensure_topic(name, budget)
                return await self._produce(name, payload, metadata, key)
        except TimeoutError:
            raise UnavailableError(
                f"kafka: no delivery report from {name} within {budget:.2f}s (a partition "
                "leader may be moving; the message may still be written)"
            ) from None

    async def _produce(
        self, name: str, payload: bytes, metadata: Mapping[str, str], key: bytes | None
    ) -> str:
        """Hand the message to librdkafka and await its delivery report."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[str] = loop.create_future()
        producer = self._producer

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            error = kafka_error(err) if err is not None else None
            if err is None and producer is self._producer:
                self._degraded = None
            loop.call_soon_threadsafe(_settle, done, error, f"{msg.partition()}-{msg.offset()}")

        headers: list[tuple[str, str | bytes | None]] = list(metadata.items())
        try:
            producer.produce(name, payload, key=key, headers=headers, on_delivery=on_delivery)
        except (KafkaException, BufferError) as exc:
            raise classify_kafka(exc) or errors.PermanentError("kafka: produce failed") from exc
        return await done

    def subscribe(
        self, namespace: str, topic: str, subscriber_id: str, *, ack_deadline: float
    ) -> KafkaSubscription:
        """``ack_deadline`` is the servicer's: Kafka redelivers only to a new subscription."""
        return KafkaSubscription(self, namespace, topic, subscriber_id)


class KafkaSubscription:
    """A consumer in its own group; every consumer call runs on its own thread, off the loop.

    A new group starts at the partitions' current end: the first assignment commits the high
    watermark, so readiness means "positioned" and a later rebalance cannot skip messages.
    A commit moves only past acknowledged messages (:class:`OffsetTracker`), so whatever the
    client did not ack comes back to the next subscription with this id.
    """

    def __init__(self, broker: KafkaBroker, namespace: str, topic: str, subscriber_id: str):
        self._broker = broker
        self._topic = topic
        self._name = kafka_topic(namespace, topic)
        self._group = group_id(namespace, topic, subscriber_id)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="kafka-consumer")
        self._consumer: Consumer | None = None
        self._assigned = False
        self._closed = False
        self._buffer: deque[Message] = deque()
        self._offsets = OffsetTracker()  # touched on the consumer thread only

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    def _consume(self) -> None:
        assert self._consumer is not None
        for message in self._consumer.consume(100, POLL_SECONDS):
            error = message.error()
            if error is None:
                self._buffer.append(message)
                self._offsets.delivered(message.partition() or 0, message.offset() or 0)
            else:
                _log.warning("kafka consumer %s: %s", self._group, error.str())

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        committed = consumer.committed(partitions, timeout=self._broker.settings.subscribe_timeout)
        failed = [f"[{tp.partition}] {tp.error.str()}" for tp in committed if tp.error is not None]
        if failed:  # not "no offset yet": repositioning at the end would skip messages
            raise UnavailableError(
                f"kafka: group {self._group} could not read its committed offset of "
                f"{self._name}: {', '.join(failed)}"
            )
        fresh = [tp for tp in committed if tp.offset < 0]
        for tp in fresh:
            tp.offset = self._end_offset(consumer, tp)
        if fresh:
            consumer.commit(offsets=fresh, asynchronous=False)
        consumer.assign(committed)
        self._assigned = True

    def _end_offset(self, consumer: Consumer, tp: TopicPartition) -> int:
        """The partition's end, retried while its leadership settles (a new cluster topic)."""
        deadline = time.monotonic() + self._broker.settings.subscribe_timeout
        while True:
            try:
                return int(consumer.get_watermark_offsets(tp, timeout=METADATA_TIMEOUT * 4)[1])
            except KafkaException as exc:
                transient = isinstance(kafka_error(exc.args[0]), UnavailableError)
                if not transient or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """What was fetched from these partitions is their next owner's to deliver."""
        gone = {tp.partition for tp in partitions}
        self._offsets.forget(gone)
        self._buffer = deque(m for m in self._buffer if m.partition() not in gone)

    def _open(self) -> None:
        self._consumer = Consumer(
            {
                **self._broker.settings.consumer_librdkafka(),
                **self._broker.config,
                "group.id": self._group,
                "enable.auto.commit": False,
                "auto.offset.reset": "latest",
                "on_commit": self._on_commit,
            }
        )
        self._consumer.subscribe([self._name], on_assign=self._on_assign, on_revoke=self._on_revoke)

    async def start(self) -> None:
        self._broker.subscriptions.add(self)
        await self._broker.ensure_topic(self._name)
        await self._run(self._open)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._broker.settings.subscribe_timeout
        while not self._assigned:
            if loop.time() > deadline:
                raise UnavailableError(
                    f"kafka: group {self._group} got no partition of {self._name} "
                    f"within {self._broker.settings.subscribe_timeout:g}s"
                )
            await self._run(self._consume)

    async def messages(self) -> AsyncIterator[BrokerMessage]:
        while not self._closed:
            if not self._buffer:
                await self._run(self._consume)
                continue
            message = self._buffer.popleft()
            partition, offset = message.partition() or 0, message.offset() or 0
            headers = message.headers() or []
            yield BrokerMessage(
                topic=self._topic,
                message_id=f"{partition}-{offset}",
                payload=message.value() or b"",
                metadata={k: _text(v) for k, v in (headers if isinstance(headers, list) else [])},
                publish_time_ms=max(message.timestamp()[1], 0),
                ack_token=(partition, offset),
            )

    async def ack(self, messages: Sequence[BrokerMessage]) -> None:
        """After close nothing commits: the messages come again to the next subscription."""
        if not self._closed:
            await self._run(self._commit, [m.ack_token for m in messages])

    def _commit(self, tokens: list[object]) -> None:
        for token in tokens:
            assert isinstance(token, tuple), "not a message of this subscription"
            self._offsets.ack(*token)
        commits = self._offsets.committable()
        if commits and self._consumer is not None:
            offsets = [TopicPartition(self._name, p, offset) for p, offset in commits.items()]
            try:
                self._consumer.commit(offsets=offsets, asynchronous=True)
            except KafkaException as exc:
                self._commit_failed(exc.args[0], offsets)

    def _on_commit(self, err: KafkaError | None, offsets: list[TopicPartition]) -> None:
        """Outcome of an asynchronous commit (served by the consumer's polls)."""
        failed = [tp.error for tp in offsets if tp.error is not None]
        if err is not None or failed:
            self._commit_failed(err or failed[0], offsets)

    def _commit_failed(self, err: KafkaError, offsets: list[TopicPartition]) -> None:
        """Not fatal: the uncommitted messages are delivered again after a resubscribe."""
        self._broker.commit_failures.inc()
        where = ", ".join(f"[{tp.partition}]@{tp.offset}" for tp in offsets)
        _log.warning(
            "kafka group %s: commit %s of %s failed: %s", self._group, where, self._name, err.str()
        )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._broker.subscriptions.discard(self)
        try:  # shielded so a cancelled stream still leaves the group
            closing = asyncio.shield(self._run(self._close_consumer))
            await asyncio.wait_for(closing, CLOSE_SECONDS)
        except Exception as exc:
            _log.warning("kafka consumer %s did not close cleanly: %s", self._group, exc)
        self._thread.shutdown(wait=False)

    def _close_consumer(self) -> None:
        """Queued on the consumer thread, so it runs after an ``_open`` a cancelled start left."""
        if self._consumer is not None:
            self._consumer.close()  # leaves the group
