"""RedisMessaging: the multicast messaging slot over Redis pub/sub, a channel per identity.

PUBLISH returns how many subscribers received the message, so delivery is counted by Redis
itself: a receiver counts as live exactly while its SUBSCRIBE is in effect. The message is a
serialized ``prism.MulticastMessage``. Each receiver holds its own connection (a subscribed
connection cannot run other commands); its breaker-guarded PUBLISHes use the shared pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from prism.interfaces import multicast_registry_pb2 as pb
from prism.plugins.redis.connection import Backend, namespace_prefix
from prism.sdk.errors import reraise_classified
from prism.sdk.patterns import Delivery, Outcome

POLL_SECONDS = 1.0


def channel(namespace: str, identity: str) -> str:
    return f"{namespace_prefix(namespace)}r:c:{identity}"


def encode(message: Delivery) -> bytes:
    return bytes(
        pb.MulticastMessage(
            message_id=message.message_id,
            payload=message.payload,
            headers=dict(message.headers),
            send_time_us=message.send_time_us,
        ).SerializeToString()
    )


def decode(data: bytes) -> Delivery:
    wire = pb.MulticastMessage.FromString(data)
    return Delivery(wire.message_id, wire.payload, dict(wire.headers), wire.send_time_us)


class RedisReceiver:
    """Implements prism.sdk.patterns.Receiver: one SUBSCRIBE on a connection of its own."""

    def __init__(self, backend: Backend, name: str) -> None:
        self.backend, self.channel = backend, name
        self._conn: Redis | None = None
        self._pubsub: PubSub | None = None
        self._closed = False

    async def start(self) -> None:
        with reraise_classified(self.backend.classifiers):
            self._conn = await self.backend.factory.create()
            self._pubsub = self._conn.pubsub()
            await self._pubsub.subscribe(self.channel)
            while True:  # live only once Redis confirmed the subscription
                reply: Any = await self._pubsub.get_message(timeout=POLL_SECONDS)
                if reply is not None and reply["type"] == "subscribe":
                    return

    async def messages(self) -> AsyncIterator[Delivery]:
        pubsub = self._pubsub
        while not self._closed and pubsub is not None:
            try:
                with reraise_classified(self.backend.classifiers):
                    reply: Any = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=POLL_SECONDS
                    )
            except Exception:
                if self._closed:  # close() pulled the connection from under the read
                    return
                raise
            if reply is not None and reply["type"] == "message":
                yield decode(reply["data"])

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        pubsub, conn, self._pubsub, self._conn = self._pubsub, self._conn, None, None
        if pubsub is not None:
            await cast(Any, pubsub).aclose()
        if conn is not None:
            await conn.aclose()


class RedisMessaging:
    """Implements prism.sdk.patterns.MessagingSlot."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def deliver(self, namespace: str, identity: str, message: Delivery) -> Outcome:
        receivers = await self.backend.command(
            "PUBLISH", channel(namespace, identity), encode(message)
        )
        return Outcome.DELIVERED if receivers else Outcome.NO_RECEIVER

    def receiver(self, namespace: str, identity: str) -> RedisReceiver:
        return RedisReceiver(self.backend, channel(namespace, identity))
