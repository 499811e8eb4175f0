"""Pub/sub over Redis Streams: a stream per topic, a consumer group per subscriber id.

Publish is XADD (the stream id is the message id and carries the publish time). A
subscription creates its group at ``$`` with MKSTREAM before it reports ready, then loops on
XREADGROUP BLOCK on its own connection (a blocked read must not hold a pooled one) and XACKs
what the client acknowledged. Every stream of a subscriber id reads as the same consumer, so
a subscriber id that comes back first gets its unacknowledged messages again, then what was
published while it was away; and a live stream claims (XAUTOCLAIM) entries idle longer than
its ack deadline, i.e. left pending by a stream that died, without waiting for a new
Subscribe (at-least-once per subscriber id).

Lifetime of a subscriber id: each group's last-active time (ms) is a field of the topic's
``g:`` hash, refreshed while a stream of it is live. A group with no live stream for
``subscriber_expiry`` is destroyed, with its pending entries, by the next Subscribe to the
topic (one atomic script: a group refreshed meanwhile is kept).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, cast

from redis.asyncio import Redis

from prism.plugins.redis.connection import (
    Backend,
    Lua,
    decode_fields,
    encode_fields,
    namespace_prefix,
)
from prism.sdk.errors import reraise_classified
from prism.sdk.patterns import BrokerMessage

READ_COUNT = 128

# KEYS: stream, groups hash. ARGV: group, now ms. Join (or create at "$") and mark active.
_JOIN = Lua("""
local created = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '$', 'MKSTREAM')
if type(created) == 'table' and created.err and not string.find(created.err, 'BUSYGROUP') then
  return created
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
""")

# KEYS: stream, groups hash. ARGV: cutoff ms, now ms. Destroy groups idle since before cutoff;
# a group with no recorded time (created before this bookkeeping) starts its clock now.
_SWEEP = Lua("""
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
local removed = 0
for _, group in ipairs(groups) do
  local name
  for i = 1, #group, 2 do if group[i] == 'name' then name = group[i + 1] end end
  local seen = redis.call('HGET', KEYS[2], name)
  if not seen then
    redis.call('HSET', KEYS[2], name, ARGV[2])
  elseif tonumber(seen) < tonumber(ARGV[1]) then
    redis.call('XGROUP', 'DESTROY', KEYS[1], name)
    redis.call('HDEL', KEYS[2], name)
    removed = removed + 1
  end
end
return removed
""")


def _now_ms() -> int:
    return int(time.time() * 1000)


class RedisSubscription:
    """Implements prism.sdk.patterns.Subscription for one (stream, subscriber id)."""

    def __init__(
        self, backend: Backend, keys: tuple[str, str], topic: str, group: str, ack_deadline: float
    ) -> None:
        self.backend, (self.stream, self.groups), self.topic = backend, keys, topic
        self.group, self.ack_deadline = group, ack_deadline
        self._conn: Redis | None = None

    async def _call(self, *args: Any) -> Any:
        with reraise_classified(self.backend.classifiers):
            return await cast(Any, await self._connection()).execute_command(*args)

    async def _connection(self) -> Redis:
        if self._conn is None:  # our own connection: a blocked read must not hold a pooled one
            self._conn = await self.backend.factory.create(blocking=True)
        return self._conn

    async def start(self) -> None:
        keys = [self.stream, self.groups]
        expiry_ms = int(self.backend.settings.subscriber_expiry * 1000)
        now = _now_ms()
        with reraise_classified(self.backend.classifiers):
            conn = await self._connection()
            await _SWEEP(conn, keys, [now - expiry_ms, now])
            await _JOIN(conn, keys, [self.group, now])

    def _housekeeping_interval(self) -> float:
        """How often a live stream claims idle entries and refreshes its last-active time."""
        expiry = self.backend.settings.subscriber_expiry
        return max(0.05, min(self.ack_deadline / 2, expiry / 4))

    async def messages(self) -> AsyncIterator[BrokerMessage]:
        cursor: str | bytes = "0"  # first our delivered-but-unacked messages, then new ones
        interval = self._housekeeping_interval()
        block_ms = max(1, int(min(self.backend.settings.subscribe_block, interval) * 1000))
        options = ["GROUP", self.group, self.group, "COUNT", READ_COUNT, "BLOCK", block_ms]
        claim_from, next_housekeeping = "0-0", time.monotonic() + interval
        while True:
            if time.monotonic() >= next_housekeeping:
                next_housekeeping = time.monotonic() + interval
                await self._call("HSET", self.groups, self.group, _now_ms())
                claim_from, claimed = await self._claim(claim_from)
                for message in claimed:
                    yield message
            history = cursor != ">"  # re-reading our pending entries: delivered before
            reply = await self._call("XREADGROUP", *options, "STREAMS", self.stream, cursor)
            entries = reply[0][1] if reply else []
            if history:
                cursor = entries[-1][0] if entries else ">"
            for message in await self._messages(entries, 2 if history else 1):
                yield message

    async def _claim(self, start: str) -> tuple[str, list[BrokerMessage]]:
        """Entries idle past the ack deadline in the group's pending list (a dead stream's)."""
        idle_ms = int(self.ack_deadline * 1000)
        reply = await self._call(
            "XAUTOCLAIM", self.stream, self.group, self.group, idle_ms, start, "COUNT", READ_COUNT
        )
        next_start = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
        return next_start, await self._messages(reply[1], 2)

    async def _messages(self, entries: Sequence[Any], attempt: int) -> list[BrokerMessage]:
        out, trimmed = [], []
        for entry in entries:
            if entry is None or entry[1] is None:  # trimmed away while pending
                if entry is not None and entry[0] is not None:
                    trimmed.append(entry[0])
                continue
            message_id, fields = entry
            if isinstance(fields, list):  # RESP2 flat list (XAUTOCLAIM reply)
                fields = dict(zip(fields[::2], fields[1::2], strict=True))
            payload, meta = fields.get(b"p", b""), decode_fields(fields, b"m:")
            publish_ms = int(message_id.split(b"-")[0])  # a stream id starts with its time
            message_id = message_id.decode()
            out.append(
                BrokerMessage(
                    self.topic, message_id, payload, meta, publish_ms, delivery_attempt=attempt
                )
            )
        if trimmed:
            await self._call("XACK", self.stream, self.group, *trimmed)
        return out

    async def ack(self, messages: Sequence[BrokerMessage]) -> None:
        # A pooled connection: ours may sit in XREADGROUP BLOCK, and an Ack must not wait it out.
        if messages:
            ids = [m.message_id for m in messages]
            await self.backend.command("XACK", self.stream, self.group, *ids)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await self.backend.factory.close(conn)


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
        stream = _keys(namespace, topic)[0]
        cap = self.backend.settings.stream_max_len
        fields = encode_fields("p", payload, "m:", metadata)
        message_id = await self.backend.command(
            "XADD", stream, "MAXLEN", "~", cap, "*", *fields, write=True
        )
        return str(message_id.decode())

    def subscribe(
        self, namespace: str, topic: str, subscriber_id: str, *, ack_deadline: float
    ) -> RedisSubscription:
        return RedisSubscription(
            self.backend, _keys(namespace, topic), topic, subscriber_id, ack_deadline
        )


def _keys(namespace: str, topic: str) -> tuple[str, str]:
    """The topic's stream and its groups' last-active hash (one hash slot: the namespace)."""
    prefix = namespace_prefix(namespace)
    return f"{prefix}t:{topic}", f"{prefix}g:{topic}"
