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
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from prism.interfaces import pubsub_basic_pb2, pubsub_basic_pb2_grpc
from prism.sdk.errors import InvalidArgumentError
from prism.sdk.limits import validate_name, validate_value
from prism.sdk.server import ServiceBinding

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


class Subscription(Protocol):
    """One subscriber's view of a topic, opened by :meth:`PubSubBroker.subscribe`."""

    async def start(self) -> None:
        """Return once the subscription is active (messages published after it arrive)."""
        ...

    def messages(self) -> AsyncIterator[BrokerMessage]:
        """Messages in publish order, until :meth:`close`."""
        ...

    async def ack(self, message: BrokerMessage) -> None:
        """The message reached the client's stream: the broker may forget it."""
        ...

    async def close(self) -> None:
        """Leave the topic and release resources (idempotent)."""
        ...


class PubSubBroker(Protocol):
    """What a backend implements to serve ``prism.PubSubBasicInterface``."""

    async def publish(
        self, namespace: str, topic: str, payload: bytes, metadata: Mapping[str, str]
    ) -> str:
        """Publish durably enough for the backend's guarantees; returns the message id."""
        ...

    def subscribe(self, namespace: str, topic: str, subscriber_id: str) -> Subscription: ...


_Key = tuple[str, str, str]


class PubSubServicer(pubsub_basic_pb2_grpc.PubSubBasicInterfaceServicer):
    """``prism.PubSubBasicInterface`` over a :class:`PubSubBroker`."""

    def __init__(self, broker: PubSubBroker) -> None:
        self._broker = broker
        self._streams: dict[_Key, set[asyncio.Event]] = defaultdict(set)

    @property
    def active_subscriptions(self) -> int:
        return sum(len(events) for events in self._streams.values())

    async def Publish(  # noqa: N802 (gRPC method name)
        self, request: pubsub_basic_pb2.PublishRequest, context: Any
    ) -> pubsub_basic_pb2.PublishResponse:
        validate_name("namespace", request.namespace)
        validate_name("topic", request.topic)
        validate_value(request.payload)
        message_id = await self._broker.publish(
            request.namespace, request.topic, request.payload, dict(request.metadata)
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
        unsubscribed = asyncio.Event()
        subscription = self._broker.subscribe(*key)
        self._streams[key].add(unsubscribed)
        try:
            await subscription.start()
            await context.send_initial_metadata(SUBSCRIBED_METADATA)
            async for message in _until(subscription.messages(), unsubscribed):
                yield pubsub_basic_pb2.Message(
                    topic=message.topic,
                    message_id=message.message_id,
                    payload=message.payload,
                    metadata=dict(message.metadata),
                    publish_time_ms=message.publish_time_ms,
                )
                # Reaching here means grpc took the message for the client's stream.
                await subscription.ack(message)
        finally:
            self._streams[key].discard(unsubscribed)
            if not self._streams[key]:
                del self._streams[key]
            await subscription.close()

    async def Unsubscribe(  # noqa: N802
        self, request: pubsub_basic_pb2.UnsubscribeRequest, context: Any
    ) -> pubsub_basic_pb2.UnsubscribeResponse:
        validate_name("namespace", request.namespace)
        validate_name("topic", request.topic)
        key = (request.namespace, request.topic, request.subscriber_id)
        events = self._streams.get(key, set())
        for event in events:
            event.set()
        return pubsub_basic_pb2.UnsubscribeResponse(unsubscribed=bool(events))


async def _until(
    messages: AsyncIterator[BrokerMessage], stop: asyncio.Event
) -> AsyncIterator[BrokerMessage]:
    """Messages from ``messages`` until ``stop`` is set (checked while waiting, too)."""
    stopped = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            next_message = asyncio.ensure_future(anext(messages))
            done, _ = await asyncio.wait(
                {next_message, stopped}, return_when=asyncio.FIRST_COMPLETED
            )
            if next_message not in done:
                next_message.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await next_message
                return
            try:
                message = next_message.result()
            except StopAsyncIteration:
                return
            yield message
    finally:
        stopped.cancel()


def pubsub_binding(broker: PubSubBroker) -> ServiceBinding:
    """The binding that serves ``prism.PubSubBasicInterface`` over ``broker``."""
    return ServiceBinding(
        pubsub_basic_pb2_grpc.add_PubSubBasicInterfaceServicer_to_server,
        PubSubServicer(broker),
        pubsub_basic_pb2.DESCRIPTOR.services_by_name["PubSubBasicInterface"].full_name,
    )
