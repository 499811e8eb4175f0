"""Pub/sub over Redis Streams: a stream per topic, a consumer group per subscriber id.

Publish is XADD (the stream id is the message id and carries the publish time). A
subscription creates its group at ``$`` with MKSTREAM before it reports ready, then loops on
XREADGROUP BLOCK on its own connection (a blocked read must not hold a pooled one) and XACKs
a message once the servicer wrote it to the client. Groups persist: a subscriber id that
comes back first gets its unacknowledged messages again, then what was published while it
was away (at-least-once per subscriber id).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from prism.plugins.redis.connection import Backend, decode_fields, encode_fields, namespace_prefix
from prism.sdk.errors import reraise_classified
from prism.sdk.patterns import BrokerMessage

READ_COUNT = 128


class RedisSubscription:
    """Implements prism.sdk.patterns.Subscription for one (stream, subscriber id)."""

    def __init__(self, backend: Backend, stream: str, topic: str, subscriber_id: str) -> None:
        self.backend, self.stream, self.topic, self.group = backend, stream, topic, subscriber_id
        self._conn: Redis | None = None

    async def _call(self, *args: Any) -> Any:
        with reraise_classified(self.backend.classifiers):
            if self._conn is None:  # our own connection: a blocked read must not hold a pooled one
                self._conn = await self.backend.factory.create(blocking=True)
            return await cast(Any, self._conn).execute_command(*args)

    async def start(self) -> None:
        try:
            await self._call("XGROUP", "CREATE", self.stream, self.group, "$", "MKSTREAM")
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):  # an existing group resumes where it stopped
                raise

    async def messages(self) -> AsyncIterator[BrokerMessage]:
        cursor: str | bytes = "0"  # first our delivered-but-unacked messages, then new ones
        block_ms = max(1, int(self.backend.settings.subscribe_block * 1000))
        options = ["GROUP", self.group, self.group, "COUNT", READ_COUNT, "BLOCK", block_ms]
        while True:
            reply = await self._call("XREADGROUP", *options, "STREAMS", self.stream, cursor)
            entries = reply[0][1] if reply else []
            if cursor != ">":
                cursor = entries[-1][0] if entries else ">"
            for message_id, fields in entries:
                if fields is None:  # trimmed away while pending
                    await self._call("XACK", self.stream, self.group, message_id)
                    continue
                payload, meta = fields.get(b"p", b""), decode_fields(fields, b"m:")
                publish_ms = int(message_id.split(b"-")[0])  # a stream id starts with its time
                yield BrokerMessage(self.topic, message_id.decode(), payload, meta, publish_ms)

    async def ack(self, message: BrokerMessage) -> None:
        await self._call("XACK", self.stream, self.group, message.message_id)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.aclose()


class RedisBroker:
    """Implements prism.sdk.patterns.PubSubBroker."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def publish(
        self,
        namespace: str,
        topic: str,
        payload: bytes,
        metadata: Mapping[str, str],
        *,
        ordering_key: str = "",
    ) -> str:
        """``ordering_key`` is not needed: one topic is one stream, in total order."""
        stream = f"{namespace_prefix(namespace)}t:{topic}"
        cap = self.backend.settings.stream_max_len
        fields = encode_fields("p", payload, "m:", metadata)
        message_id = await self.backend.command("XADD", stream, "MAXLEN", "~", cap, "*", *fields)
        return str(message_id.decode())

    def subscribe(self, namespace: str, topic: str, subscriber_id: str) -> RedisSubscription:
        stream = f"{namespace_prefix(namespace)}t:{topic}"
        return RedisSubscription(self.backend, stream, topic, subscriber_id)
