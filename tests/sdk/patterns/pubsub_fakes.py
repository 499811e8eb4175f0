"""An in-memory PubSubBroker for the servicer and drain tests: records acks, can block start."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from prism.interfaces import pubsub_basic_pb2 as ps_pb
from prism.sdk.patterns import BrokerMessage


class MemSubscription:
    """Messages arrive through a queue; ``anext_cancelled`` records a cancelled wait."""

    def __init__(self, broker: MemBroker, topic: str) -> None:
        self.broker, self.topic = broker, topic
        self.queue: asyncio.Queue[BrokerMessage | None] = asyncio.Queue()
        self.acked: list[str] = []
        self.started = asyncio.Event()
        self.closed = False
        self.anext_cancelled = False
        self.start_cancelled = False
        self.cleanup_error: Exception | None = None
        self.waiting = asyncio.Event()  # set while messages() waits for the next message
        self.lost_cancels = 0  # how many cancels messages() loses, as 3.11's wait_for can

    async def start(self) -> None:
        try:
            if self.broker.start_gate is not None:
                await self.broker.start_gate.wait()
        except asyncio.CancelledError:
            self.start_cancelled = True
            raise
        if self.broker.start_error is not None:
            raise self.broker.start_error
        self.broker.live.add(self)
        self.started.set()

    async def messages(self) -> AsyncIterator[BrokerMessage]:
        try:
            while True:
                self.waiting.set()
                try:
                    message = await self.queue.get()
                except asyncio.CancelledError:
                    self.anext_cancelled = True
                    if self.lost_cancels:
                        self.lost_cancels -= 1
                        continue
                    raise
                finally:
                    self.waiting.clear()
                if message is None:
                    return
                yield message
        finally:
            if self.cleanup_error is not None:
                raise self.cleanup_error

    async def ack(self, messages: Sequence[BrokerMessage]) -> None:
        self.broker.ack_batches.append([m.message_id for m in messages])
        self.acked.extend(m.message_id for m in messages)

    async def close(self) -> None:
        self.closed = True
        self.broker.live.discard(self)
        if self.broker.end_on_close:
            self.queue.put_nowait(None)  # a pending next-message wait ends (StopAsyncIteration)


class MemBroker:
    def __init__(self) -> None:
        self.subscriptions: list[MemSubscription] = []
        self.live: set[MemSubscription] = set()
        self.start_gate: asyncio.Event | None = None
        self.start_error: Exception | None = None
        self.end_on_close = True
        self.ack_batches: list[list[str]] = []
        self.ack_deadlines: list[float] = []
        self._ids = itertools.count(1)
        self.ordering_keys: list[str] = []

    async def publish(
        self,
        namespace: str,
        topic: str,
        payload: bytes,
        metadata: Mapping[str, str],
        *,
        ordering_key: str = "",
    ) -> str:
        self.ordering_keys.append(ordering_key)
        message_id = str(next(self._ids))
        for sub in list(self.live):
            if sub.topic == topic:
                sub.queue.put_nowait(BrokerMessage(topic, message_id, payload, dict(metadata)))
        return message_id

    def subscribe(
        self, namespace: str, topic: str, subscriber_id: str, *, ack_deadline: float
    ) -> MemSubscription:
        self.ack_deadlines.append(ack_deadline)
        sub = MemSubscription(self, topic)
        self.subscriptions.append(sub)
        return sub


class FakeContext:
    """The part of grpc.aio.ServicerContext the servicer uses; ``write`` waits while
    ``write_gate`` is set and not open (a client that stopped reading)."""

    def __init__(self) -> None:
        self.metadata: Any = None
        self.subscribed = asyncio.Event()
        self.written: list[ps_pb.Message] = []
        self.write_gate: asyncio.Event | None = None
        self.write_waiting = asyncio.Event()
        self.write_cancelled = False

    async def write(self, message: ps_pb.Message) -> None:
        if self.write_gate is not None and not self.write_gate.is_set():
            self.write_waiting.set()
            try:
                await self.write_gate.wait()
            except asyncio.CancelledError:
                self.write_cancelled = True
                raise
        self.written.append(message)

    async def send_initial_metadata(self, metadata: Any) -> None:
        self.metadata = metadata
        self.subscribed.set()
