"""The soak's clients: KV writers/readers and a publisher at fixed rates, and one consumer.

Calls go through the gateway like any client's; every outcome goes to ``Outcomes`` and every
acknowledged write to a ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable

import grpc

from prism.interfaces import keyvalue_basic_pb2 as kv
from prism.interfaces import keyvalue_basic_pb2_grpc as kv_grpc
from prism.interfaces import pubsub_basic_pb2 as ps
from prism.interfaces import pubsub_basic_pb2_grpc as ps_grpc
from prism.sdk.patterns import SUBSCRIBED_METADATA
from soak.ledger import KvLedger, PubLedger, decode, encode
from soak.outcomes import OK, Outcomes

__all__ = ["Consumer", "KvLoad", "PubLoad", "open_loop"]

Clock = Callable[[], float]
ACK_EVERY = 0.2  # seconds between Ack calls of the consumer
RESUBSCRIBE_AFTER = 0.2  # seconds


def _code(exc: grpc.aio.AioRpcError) -> str:
    return str(exc.code().name)


async def open_loop(
    rate: float,
    seconds: float,
    step: Callable[[], Awaitable[None]],
    in_flight: int,
    skip: Callable[[], None],
) -> None:
    """Start ``step()`` ``rate`` times a second for ``seconds`` whatever earlier calls do (at
    most ``in_flight`` running: beyond that a start is skipped and counted); then wait for
    the calls still running."""
    loop = asyncio.get_running_loop()
    running: set[asyncio.Task[None]] = set()
    start = loop.time()
    for n in range(int(rate * seconds)):
        delay = start + n / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(running) >= in_flight:
            skip()
            continue
        task = asyncio.ensure_future(step())
        running.add(task)
        task.add_done_callback(running.discard)
    if running:
        await asyncio.gather(*running)


class KvLoad:
    """Sets (and reads back) keys of one namespace; a read that misses an acknowledged write
    counts as stale."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        namespace: str,
        ledger: KvLedger,
        outcomes: Outcomes,
        clock: Clock,
        *,
        value_size: int,
        read_ratio: float,
        timeout: float,
    ) -> None:
        self.namespace = namespace
        self.ledger = ledger
        self.stale_reads = 0
        self._stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
        self._outcomes = outcomes
        self._clock = clock
        self._value_size = value_size
        self._read_ratio = read_ratio
        self._timeout = timeout
        self._rng = random.Random(namespace)

    def skip(self) -> None:
        self._outcomes.skipped[self.namespace] += 1

    async def step(self) -> None:
        read = self._rng.random() < self._read_ratio
        index = self.ledger.claim(acked_only=read)
        if index is None:
            self.skip()
        elif read:
            await self._get(index)
        else:
            await self._set(index)

    async def _set(self, index: int) -> None:
        seq = self.ledger.next_seq()
        request = kv.SetRequest(
            namespace=self.namespace,
            key=self.ledger.key(index),
            value=encode(seq, self._value_size),
        )
        code = OK
        try:
            await self._stub.Set(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            code = _code(exc)
        self.ledger.record_set(index, seq, code == OK)
        self._outcomes.record(self._clock(), self.namespace, code)

    async def _get(self, index: int) -> None:
        code, value = await self.read(index)
        self.ledger.release(index)
        if code in (OK, "NOT_FOUND"):
            if not self.ledger.holds(index, value):
                self.stale_reads += 1
            code = OK
        self._outcomes.record(self._clock(), self.namespace, code)

    async def read(self, index: int) -> tuple[str, bytes | None]:
        """(code, value): NOT_FOUND and None for a missing key."""
        request = kv.GetRequest(namespace=self.namespace, key=self.ledger.key(index))
        try:
            reply = await self._stub.Get(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            return _code(exc), None
        return OK, reply.value


class PubLoad:
    """Publishes numbered messages (no ordering key: spread over the topic's partitions)."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        namespace: str,
        topic: str,
        ledger: PubLedger,
        outcomes: Outcomes,
        clock: Clock,
        *,
        value_size: int,
        timeout: float,
    ) -> None:
        self._stub = ps_grpc.PubSubBasicInterfaceStub(channel)
        self._namespace = namespace
        self._topic = topic
        self._ledger = ledger
        self._outcomes = outcomes
        self._clock = clock
        self._value_size = value_size
        self._timeout = timeout

    def skip(self) -> None:
        self._outcomes.skipped["publish"] += 1

    async def step(self) -> None:
        seq = self._ledger.next_seq()
        request = ps.PublishRequest(
            namespace=self._namespace, topic=self._topic, payload=encode(seq, self._value_size)
        )
        code = OK
        try:
            await self._stub.Publish(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            code = _code(exc)
        self._ledger.record_publish(seq, code == OK)
        self._outcomes.record(self._clock(), "publish", code)


class Consumer:
    """One subscriber id reading the topic for the whole soak: acks what it received (in
    batches), and subscribes again whenever its stream breaks, as a real client would."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        namespace: str,
        topic: str,
        subscriber: str,
        ledger: PubLedger,
        outcomes: Outcomes,
        clock: Clock,
        *,
        timeout: float,
    ) -> None:
        self.active = asyncio.Event()  # set once the first subscription is active
        self.breaks = 0
        self._stub = ps_grpc.PubSubBasicInterfaceStub(channel)
        self._namespace, self._topic, self._subscriber = namespace, topic, subscriber
        self._ledger = ledger
        self._outcomes = outcomes
        self._clock = clock
        self._timeout = timeout
        self._pending: list[str] = []

    async def run(self) -> None:
        """Until cancelled."""
        acker = asyncio.ensure_future(self._ack_loop())
        try:
            while True:
                await self._subscribe_once()
                await asyncio.sleep(RESUBSCRIBE_AFTER)
        finally:
            acker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await acker

    async def _subscribe_once(self) -> None:
        request = ps.SubscribeRequest(
            namespace=self._namespace, topic=self._topic, subscriber_id=self._subscriber
        )
        call = self._stub.Subscribe(request)
        try:
            metadata = await call.initial_metadata()
            if metadata and set(SUBSCRIBED_METADATA) <= set(metadata):  # a failed call has none
                self._outcomes.record(self._clock(), "subscribe", OK)
                self.active.set()
            async for message in call:
                seq = decode(message.payload)
                if seq is not None:
                    self._ledger.record_delivery(seq)
                self._pending.append(message.ack_id)
            self._outcomes.record(self._clock(), "subscribe", "ENDED")
        except grpc.aio.AioRpcError as exc:
            self._outcomes.record(self._clock(), "subscribe", _code(exc))
        finally:
            call.cancel()
        self.breaks += 1

    async def _ack_loop(self) -> None:
        while True:
            await asyncio.sleep(ACK_EVERY)
            ids, self._pending = self._pending[:1000], self._pending[1000:]
            if not ids:
                continue
            request = ps.AckRequest(
                namespace=self._namespace,
                topic=self._topic,
                subscriber_id=self._subscriber,
                ack_ids=ids,
            )
            code = OK
            try:
                await self._stub.Ack(request, timeout=self._timeout)
            except grpc.aio.AioRpcError as exc:
                code = _code(exc)  # not acknowledged: delivered again later
            self._outcomes.record(self._clock(), "ack", code)
