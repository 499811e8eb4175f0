"""The pub/sub scenario: publish at the profile's rate, N subscribers count what arrives.

This is the custom metric the memo keeps a pattern-level tool for (multicast delivery stats):
every subscriber has its own subscriber id (so each gets every message, fan-out) and reports
its delivery rate = distinct messages received / messages published successfully, duplicates
(at-least-once redelivery) and end-to-end latency. Each payload carries its sequence number and
its *intended* publish time, so end-to-end latency is measured from when the message was due
(the same open-loop rule as the operation latency). Subscribers run on the same event loop as
the publisher, as a plugin's Subscribe streams do, and ack each message like the servicer.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prism.loadtest.runner import Operation
from prism.loadtest.stats import LatencyHistogram
from prism.sdk.errors import Classifier, classify
from prism.sdk.limits import DEFAULT_ACK_DEADLINE_SECONDS
from prism.sdk.patterns import PubSubBroker, Subscription

__all__ = ["PubSubScenario", "SubscriberStats"]

_log = logging.getLogger(__name__)
TEARDOWN_WAIT_S = 2.0
_HEADER = struct.Struct(">Qd")  # sequence number, intended publish time (perf_counter s)


@dataclass
class SubscriberStats:
    subscriber_id: str
    seen: set[int] = field(default_factory=set)
    duplicates: int = 0
    errors: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)


class PubSubScenario:
    """``publish`` operations on one topic, fanned out to ``subscribers`` subscriptions."""

    def __init__(
        self,
        broker: PubSubBroker,
        *,
        subscribers: int = 2,
        payload_size: int = 64,
        namespace: str = "loadtest",
        topic: str | None = None,
        classifiers: Sequence[Classifier] = (),
    ) -> None:
        if subscribers < 0 or payload_size < 0:
            raise ValueError("need subscribers >= 0 and payload_size >= 0")
        run = uuid.uuid4().hex[:8]
        self.broker, self.namespace = broker, namespace
        self.topic = topic or f"loadtest-{run}"
        self.payload_size = max(payload_size, _HEADER.size)
        self._padding = b"\0" * (self.payload_size - _HEADER.size)
        self.classifiers = classifiers
        self.subs = [SubscriberStats(f"loadtest-{run}-{i}") for i in range(subscribers)]
        self._subscriptions: list[Subscription] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._next_seq = 0
        self.published: set[int] = set()
        self.settle_seconds = 0.0
        self._closing = False

    async def setup(self) -> None:
        """Open every subscription and wait until each is active (readiness), then consume."""
        for stats in self.subs:
            subscription = self.broker.subscribe(
                self.namespace,
                self.topic,
                stats.subscriber_id,
                ack_deadline=DEFAULT_ACK_DEADLINE_SECONDS,
            )
            self._subscriptions.append(subscription)
            await subscription.start()
            self._tasks.append(asyncio.ensure_future(self._consume(subscription, stats)))

    async def _consume(self, subscription: Subscription, stats: SubscriberStats) -> None:
        while True:
            try:
                async for message in subscription.messages():
                    now = time.perf_counter()
                    if len(message.payload) >= _HEADER.size:
                        seq, due = _HEADER.unpack_from(message.payload)
                        if seq in stats.seen:
                            stats.duplicates += 1
                        else:
                            stats.seen.add(seq)
                            stats.latency.record(now - due)
                    await subscription.ack([message])  # processed: acknowledge at once
                return
            except Exception as exc:  # noqa: BLE001 - counted; the subscriber keeps reading
                task = asyncio.current_task()
                if self._closing or (task is not None and task.cancelling()):
                    # A client library may turn our cancellation into its own error.
                    raise asyncio.CancelledError from exc
                stats.errors += 1
                _log.warning(
                    "subscriber %s: %s", stats.subscriber_id, classify(exc, self.classifiers)
                )
                await asyncio.sleep(0.1)

    def next_op(self) -> tuple[str, Operation]:
        seq, self._next_seq = self._next_seq, self._next_seq + 1

        async def publish(due: float) -> None:
            payload = _HEADER.pack(seq, due) + self._padding
            await self.broker.publish(self.namespace, self.topic, payload, {})
            self.published.add(seq)

        return "publish", publish

    def all_delivered(self) -> bool:
        return all(self.published <= stats.seen for stats in self.subs)

    async def settle(self, timeout: float, stopped: Callable[[], bool] = lambda: False) -> None:
        """Give subscribers up to ``timeout`` seconds to receive what was published."""
        start = time.perf_counter()
        while not self.all_delivered() and time.perf_counter() - start < timeout and not stopped():
            await asyncio.sleep(0.05)
        self.settle_seconds = time.perf_counter() - start

    async def teardown(self) -> None:
        """Stop the consumers and close every subscription (bounded: never hangs the report).

        Closing comes right after the cancel: a client library blocked in a read (Redis
        XREADGROUP BLOCK) may hold a cancellation until its read returns; a closed connection
        ends the read at once.
        """
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for subscription in self._subscriptions:
            try:
                await asyncio.wait_for(subscription.close(), TEARDOWN_WAIT_S)
            except Exception as exc:  # noqa: BLE001 - closing must not hide the report
                _log.warning("closing a subscription failed: %r", exc)
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=TEARDOWN_WAIT_S)
            if pending:
                _log.warning("%d subscriber(s) did not stop in time", len(pending))

    def custom(self) -> dict[str, Any]:
        """Delivery per subscriber: received / published, duplicates, end-to-end latency."""
        published = len(self.published)
        per_sub = []
        for stats in self.subs:
            received = len(stats.seen & self.published)
            per_sub.append(
                {
                    "subscriber_id": stats.subscriber_id,
                    "received": received,
                    "delivery_rate": round(received / published, 6) if published else 0.0,
                    "duplicates": stats.duplicates,
                    "errors": stats.errors,
                    "latency_ms": stats.latency.summary_ms(),
                }
            )
        return {
            "namespace": self.namespace,
            "topic": self.topic,
            "payload_size": self.payload_size,
            "published": published,
            "settle_seconds": round(self.settle_seconds, 3),
            "subscribers": per_sub,
        }
