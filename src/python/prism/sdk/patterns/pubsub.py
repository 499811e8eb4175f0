"""Pub/sub servicer over a backend-neutral broker protocol.

The servicer owns what every broker needs the same way: validation, the readiness signal
(initial metadata once the subscription is active, so a client knows when publishing is safe),
one registry of live subscriptions so Unsubscribe can end the right streams, and acknowledging
a message only after it was written to the client's stream (at-least-once on brokers that
track offsets).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from prism.interfaces import pubsub_basic_pb2, pubsub_basic_pb2_grpc
from prism.sdk.errors import InvalidArgumentError, PrismError, UnavailableError
from prism.sdk.limits import validate_name, validate_value
from prism.sdk.server import ServiceBinding

_log = logging.getLogger(__name__)

SUBSCRIBED_METADATA: tuple[tuple[str, str], ...] = (("prism-subscribed", "1"),)
"""Initial metadata sent once a subscription is active."""


@dataclass(frozen=True)
class BrokerMessage:
    """A delivered message; ``ack_token`` is whatever the broker needs to acknowledge it."""

    topic: str
    message_id: str
    payload: bytes
    metadata: Mapping[str, str] = field(default_factory=dict)
    publish_time_ms: int = 0
    ack_token: object = None
    delivery_attempt: int = 1


class Subscription(Protocol):
    """One subscriber's view of a topic, opened by :meth:`PubSubBroker.subscribe`."""

    async def start(self) -> None:
        """Return once the subscription is active (messages published after it arrive)."""
        ...

    def messages(self) -> AsyncIterator[BrokerMessage]:
        """Messages in publish order, until :meth:`close`."""
        ...

    async def ack(self, messages: Sequence[BrokerMessage]) -> None:
        """The client acknowledged these messages (yielded here, any order): forget them."""
        ...

    async def close(self) -> None:
        """Leave the topic and release resources (idempotent)."""
        ...


class PubSubBroker(Protocol):
    """What a backend implements to serve ``prism.PubSubBasicInterface``."""

    async def publish(
        self,
        namespace: str,
        topic: str,
        payload: bytes,
        metadata: Mapping[str, str],
        *,
        ordering_key: str = "",
    ) -> str:
        """Publish durably enough for the backend's guarantees; returns the message id.

        Messages with one non-empty ``ordering_key`` must reach subscribers in publish order.
        """
        ...

    def subscribe(
        self, namespace: str, topic: str, subscriber_id: str, *, ack_deadline: float
    ) -> Subscription: ...


_Key = tuple[str, str, str]

DRAINING_MESSAGE = "plugin draining: subscription ended, subscribe again"
"""Details of the UNAVAILABLE status that ends live Subscribe streams when draining starts."""


class _Stream:
    """One live Subscribe call: ``stop`` ends it; ``reason`` (if set) is raised to the client."""

    __slots__ = ("stop", "reason")

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.reason: PrismError | None = None


class PubSubServicer(pubsub_basic_pb2_grpc.PubSubBasicInterfaceServicer):
    """``prism.PubSubBasicInterface`` over a :class:`PubSubBroker`.

    Draining: Subscribe streams never finish by themselves, so :meth:`on_drain_start` (called
    by the plugin runtime when Drain begins) ends every live stream with UNAVAILABLE
    :data:`DRAINING_MESSAGE`. UNAVAILABLE rather than OK because the subscriber did not ask to
    stop: the status tells it to subscribe again (elsewhere, or after Start). A message is
    acknowledged only once written to the stream, so nothing fetched but unsent is lost: the
    broker redelivers it to the next subscription with the same subscriber id.
    """

    def __init__(self, broker: PubSubBroker) -> None:
        self._broker = broker
        self._streams: dict[_Key, set[_Stream]] = defaultdict(set)

    @property
    def active_subscriptions(self) -> int:
        return sum(len(streams) for streams in self._streams.values())

    def on_drain_start(self) -> None:
        """End every live Subscribe stream with UNAVAILABLE (the runtime calls this on Drain)."""
        for streams in self._streams.values():
            for stream in streams:
                if stream.reason is None:
                    stream.reason = UnavailableError(DRAINING_MESSAGE)
                stream.stop.set()

    async def Publish(  # noqa: N802 (gRPC method name)
        self, request: pubsub_basic_pb2.PublishRequest, context: Any
    ) -> pubsub_basic_pb2.PublishResponse:
        validate_name("namespace", request.namespace)
        validate_name("topic", request.topic)
        validate_value(request.payload)
        message_id = await self._broker.publish(
            request.namespace,
            request.topic,
            request.payload,
            dict(request.metadata),
            ordering_key=request.ordering_key,
        )
        return pubsub_basic_pb2.PublishResponse(message_id=message_id)

    async def Subscribe(  # noqa: N802
        self, request: pubsub_basic_pb2.SubscribeRequest, context: Any
    ) -> AsyncIterator[pubsub_basic_pb2.Message]:
        validate_name("namespace", request.namespace)
        validate_name("topic", request.topic)
        if not request.subscriber_id:
            raise InvalidArgumentError("subscriber_id must not be empty")
        validate_name("subscriber_id", request.subscriber_id)
        key = (request.namespace, request.topic, request.subscriber_id)
        stream = _Stream()
        subscription = self._broker.subscribe(*key, ack_deadline=30.0)  # stand-in default
        self._streams[key].add(stream)
        try:
            # A slow start (joining a consumer group) must not hold up Unsubscribe or Drain.
            if await _first(subscription.start(), stream.stop):
                await context.send_initial_metadata(SUBSCRIBED_METADATA)
                async with contextlib.aclosing(
                    _until(subscription.messages(), stream.stop)
                ) as messages:
                    async for message in messages:
                        yield pubsub_basic_pb2.Message(
                            topic=message.topic,
                            message_id=message.message_id,
                            payload=message.payload,
                            metadata=dict(message.metadata),
                            publish_time_ms=message.publish_time_ms,
                        )
                        # Reaching here means grpc took the message for the client's stream.
                        await subscription.ack([message])
            if stream.reason is not None:
                raise stream.reason
        finally:
            self._streams[key].discard(stream)
            if not self._streams[key]:
                del self._streams[key]
            await subscription.close()

    async def Unsubscribe(  # noqa: N802
        self, request: pubsub_basic_pb2.UnsubscribeRequest, context: Any
    ) -> pubsub_basic_pb2.UnsubscribeResponse:
        validate_name("namespace", request.namespace)
        validate_name("topic", request.topic)
        validate_name("subscriber_id", request.subscriber_id)
        key = (request.namespace, request.topic, request.subscriber_id)
        streams = self._streams.get(key, set())
        for stream in streams:
            stream.stop.set()
        return pubsub_basic_pb2.UnsubscribeResponse(unsubscribed=bool(streams))


async def _settle(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` if still running and wait for it; its outcome is marked as seen.

    Waiting with ``asyncio.wait`` (not ``await task``) keeps a cancellation of the *caller*
    distinguishable: it propagates, while the task's own CancelledError does not.
    """
    if not task.done():
        task.cancel()
        await asyncio.wait({task})
        if task.cancelled():
            return
        error = task.exception()  # it finished anyway, or failed while being cancelled
        if error is not None and not isinstance(error, StopAsyncIteration):
            _log.debug("a cancelled subscription task failed: %r", error, exc_info=error)
    elif not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" at teardown


async def _first(work: Awaitable[None], stop: asyncio.Event) -> bool:
    """Await ``work`` unless ``stop`` is set first (then cancel it); True if ``work`` finished.

    Re-raises what ``work`` raised.
    """
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await _settle(stopped)
        await _settle(task)
    if task not in done:
        return False
    task.result()
    return True


async def _until(
    messages: AsyncIterator[BrokerMessage], stop: asyncio.Event
) -> AsyncGenerator[BrokerMessage, None]:
    """Messages from ``messages`` until ``stop`` is set (checked while waiting, too).

    However it ends (stop, end of messages, cancellation, aclose) no task is left pending:
    the next-message task is cancelled and awaited, and ``messages`` is closed if it can be.
    """
    stopped = asyncio.ensure_future(stop.wait())
    next_message: asyncio.Future[BrokerMessage] | None = None
    try:
        while not stop.is_set():
            next_message = asyncio.ensure_future(anext(messages))
            done, _ = await asyncio.wait(
                {next_message, stopped}, return_when=asyncio.FIRST_COMPLETED
            )
            if next_message not in done:
                return
            pending, next_message = next_message, None
            try:
                message = pending.result()
            except StopAsyncIteration:
                return
            yield message
    finally:
        await _settle(stopped)
        if next_message is not None:
            await _settle(next_message)
        aclose = getattr(messages, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except Exception:  # noqa: BLE001 - the subscription is closed next anyway
                _log.debug("closing a subscription's message iterator failed", exc_info=True)


def pubsub_binding(broker: PubSubBroker) -> ServiceBinding:
    """The binding that serves ``prism.PubSubBasicInterface`` over ``broker``."""
    return ServiceBinding(
        pubsub_basic_pb2_grpc.add_PubSubBasicInterfaceServicer_to_server,
        PubSubServicer(broker),
        pubsub_basic_pb2.DESCRIPTOR.services_by_name["PubSubBasicInterface"].full_name,
    )
