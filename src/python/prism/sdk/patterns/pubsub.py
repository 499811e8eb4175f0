"""Pub/sub servicer over a backend-neutral broker protocol.

The servicer owns what every broker needs the same way: validation, the readiness signal
(initial metadata once the subscription is active, so a client knows when publishing is safe),
one registry of live subscriptions so Unsubscribe and Ack find the right streams, and the
end-to-end ack model (``_delivery``): a message is acknowledged to the broker only when the
client acknowledged it (or, with ACK_MODE_AUTO, once written to the stream).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from prism.interfaces import pubsub_basic_pb2, pubsub_basic_pb2_grpc
from prism.sdk.errors import InvalidArgumentError, UnavailableError
from prism.sdk.limits import (
    ack_deadline_seconds,
    max_outstanding,
    validate_ack_ids,
    validate_name,
    validate_value,
)
from prism.sdk.patterns._delivery import AckPolicy, LiveStream, first
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
    """Greater than 1 when the broker knows it delivered this message before."""


class Subscription(Protocol):
    """One subscriber's view of a topic, opened by :meth:`PubSubBroker.subscribe`."""

    async def start(self) -> None:
        """Return once the subscription is active (messages published after it arrive)."""
        ...

    def messages(self) -> AsyncIterator[BrokerMessage]:
        """Messages in publish order, until :meth:`close`."""
        ...

    async def ack(self, messages: Sequence[BrokerMessage]) -> None:
        """The client acknowledged these (yielded by this subscription): the broker may forget
        them. Kafka-like brokers commit only up to the lowest unacknowledged offset."""
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
    ) -> Subscription:
        """A subscription (not started). ``ack_deadline`` (seconds) lets the broker reclaim
        messages left unacknowledged by dead streams of the same subscriber id."""
        ...


_Key = tuple[str, str, str]

DRAINING_MESSAGE = "plugin draining: subscription ended, subscribe again"
"""Details of the UNAVAILABLE status that ends live Subscribe streams when draining starts."""


class PubSubServicer(pubsub_basic_pb2_grpc.PubSubBasicInterfaceServicer):
    """``prism.PubSubBasicInterface`` over a :class:`PubSubBroker`.

    Ack ids are the message ids (opaque to clients). Ack reaches every live stream of the
    (namespace, topic, subscriber id); what a stream had outstanding when it ended is never
    acknowledged, so the broker redelivers it when the subscriber id subscribes again.

    Draining: Subscribe streams never finish by themselves, so :meth:`on_drain_start` (called
    by the plugin runtime when Drain begins) ends every live stream with UNAVAILABLE
    :data:`DRAINING_MESSAGE`. UNAVAILABLE rather than OK because the subscriber did not ask to
    stop: the status tells it to subscribe again (elsewhere, or after Start).
    """

    def __init__(self, broker: Callable[[], PubSubBroker]) -> None:
        self._broker = broker  # called per request: the broker is built after this servicer
        self._streams: dict[_Key, set[LiveStream]] = defaultdict(set)

    @property
    def active_subscriptions(self) -> int:
        return sum(len(streams) for streams in self._streams.values())

    def on_drain_start(self) -> None:
        """End every live Subscribe stream with UNAVAILABLE (the runtime calls this on Drain)."""
        for streams in self._streams.values():
            for stream in streams:
                stream.end(UnavailableError(DRAINING_MESSAGE))

    async def Publish(  # noqa: N802 (gRPC method name)
        self, request: pubsub_basic_pb2.PublishRequest, context: Any
    ) -> pubsub_basic_pb2.PublishResponse:
        validate_name("namespace", request.namespace)
        validate_name("topic", request.topic)
        validate_value(request.payload)
        message_id = await self._broker().publish(
            request.namespace,
            request.topic,
            request.payload,
            dict(request.metadata),
            ordering_key=request.ordering_key,
        )
        return pubsub_basic_pb2.PublishResponse(message_id=message_id)

    # A coroutine that calls context.write (grpc.aio serves it like a generator), so a write
    # blocked by flow control can be raced against Unsubscribe/Drain; the stubs type only
    # iterators.
    async def Subscribe(  # type: ignore[override]  # noqa: N802
        self, request: pubsub_basic_pb2.SubscribeRequest, context: Any
    ) -> None:
        key = _key(request)
        policy = AckPolicy(
            auto=request.ack_mode == pubsub_basic_pb2.ACK_MODE_AUTO,
            deadline=ack_deadline_seconds(request.ack_deadline_ms),
            max_outstanding=max_outstanding(request.max_outstanding),
        )
        subscription = self._broker().subscribe(*key, ack_deadline=policy.deadline)
        stream = LiveStream(subscription, context, policy)
        self._streams[key].add(stream)
        try:
            # A slow start (joining a consumer group) must not hold up Unsubscribe or Drain.
            if await first(subscription.start(), stream.stop):
                await context.send_initial_metadata(SUBSCRIBED_METADATA)
                await stream.run()
            if stream.reason is not None:
                raise stream.reason
        finally:
            self._streams[key].discard(stream)
            if not self._streams[key]:
                del self._streams[key]
            await subscription.close()

    async def Ack(  # noqa: N802
        self, request: pubsub_basic_pb2.AckRequest, context: Any
    ) -> pubsub_basic_pb2.AckResponse:
        key = _key(request)
        validate_ack_ids(request.ack_ids)
        ids, acknowledged = list(dict.fromkeys(request.ack_ids)), set[str]()
        for stream in list(self._streams.get(key, ())):
            acknowledged |= await stream.ack(ids)
        return pubsub_basic_pb2.AckResponse(acknowledged=len(acknowledged))

    async def Unsubscribe(  # noqa: N802
        self, request: pubsub_basic_pb2.UnsubscribeRequest, context: Any
    ) -> pubsub_basic_pb2.UnsubscribeResponse:
        key = _key(request)
        streams = self._streams.get(key, set())
        for stream in streams:
            stream.end()
        return pubsub_basic_pb2.UnsubscribeResponse(unsubscribed=bool(streams))


def _key(
    request: pubsub_basic_pb2.SubscribeRequest
    | pubsub_basic_pb2.AckRequest
    | pubsub_basic_pb2.UnsubscribeRequest,
) -> _Key:
    validate_name("namespace", request.namespace)
    validate_name("topic", request.topic)
    if not request.subscriber_id:
        raise InvalidArgumentError("subscriber_id must not be empty")
    validate_name("subscriber_id", request.subscriber_id)
    return (request.namespace, request.topic, request.subscriber_id)


def pubsub_binding(broker: Callable[[], PubSubBroker]) -> ServiceBinding:
    """The binding that serves ``prism.PubSubBasicInterface`` over ``broker()``."""
    return ServiceBinding(
        pubsub_basic_pb2_grpc.add_PubSubBasicInterfaceServicer_to_server,
        PubSubServicer(broker),
        pubsub_basic_pb2.DESCRIPTOR.services_by_name["PubSubBasicInterface"].full_name,
    )
