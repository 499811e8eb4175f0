"""RedisMessaging: the multicast messaging slot over Redis pub/sub, a channel per identity.

PUBLISH returns how many subscribers received the message, so delivery is counted by Redis
itself: a receiver counts as live exactly while its channel's SUBSCRIBE is in effect. The
message is a serialized ``prism.MulticastMessage``. All receivers of one plugin process share
one subscribed connection (a reader task dispatches to per-receiver queues), so a thousand
receivers cost one connection, not a thousand; PUBLISH goes through the guarded pool. If the
shared connection fails, every receiver ends with UNAVAILABLE (clients call Receive again)
and the next receiver opens a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from prism.plugins.redis.connection import Backend, namespace_prefix
from prism.sdk.errors import PrismError, UnavailableError, classify
from prism.sdk.patterns import Delivery, Outcome

RECEIVER_BUFFER = 10_000
POLL_SECONDS = 1.0
_CLOSED = object()


def channel(namespace: str, identity: str) -> str:
    return f"{namespace_prefix(namespace)}r:c:{identity}"


class _Hub:
    """One subscribed connection, its reader task, and the receivers per channel."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.receivers: dict[str, set[RedisReceiver]] = defaultdict(set)
        self._conn: Redis | None = None
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._confirm: dict[str, list[asyncio.Future[None]]] = defaultdict(list)
        self._lock = asyncio.Lock()

    async def subscribe(self, receiver: RedisReceiver) -> None:
        try:
            waiter = asyncio.get_running_loop().create_future()
            self._confirm[receiver.channel].append(waiter)
            self.receivers[receiver.channel].add(receiver)
            async with self._lock:  # the first receiver opens the connection and its reader
                if self._pubsub is None:
                    self._conn = await self.backend.factory.create()
                    self._pubsub = self._conn.pubsub()
                    await cast(Any, self._pubsub).subscribe(receiver.channel)
                    self._reader = asyncio.ensure_future(self._read(self._pubsub))
                else:
                    await cast(Any, self._pubsub).subscribe(receiver.channel)
            await waiter  # live once Redis confirmed it
        except Exception as exc:
            self.receivers[receiver.channel].discard(receiver)
            error = _unavailable(exc)
            if self._pubsub is not None and not isinstance(exc, PrismError):
                await self._reset(error)  # the shared connection failed under the SUBSCRIBE
            raise error from exc

    async def unsubscribe(self, receiver: RedisReceiver) -> None:
        receivers = self.receivers.get(receiver.channel)
        if receivers is None or receiver not in receivers:
            return
        receivers.discard(receiver)
        if not receivers:
            del self.receivers[receiver.channel]
            pubsub = self._pubsub
            if pubsub is not None:
                with contextlib.suppress(Exception):  # a dead connection dropped it already
                    await cast(Any, pubsub).unsubscribe(receiver.channel)

    async def _read(self, pubsub: PubSub) -> None:
        try:
            while True:
                reply: Any = await pubsub.get_message(timeout=POLL_SECONDS)
                if not reply:
                    continue
                kind, name = reply["type"], reply["channel"].decode()
                if kind == "subscribe":
                    for waiter in self._confirm.pop(name, []):
                        if not waiter.done():
                            waiter.set_result(None)
                elif kind == "message":
                    message = Delivery.from_bytes(reply["data"])
                    for receiver in list(self.receivers.get(name, ())):
                        receiver.offer(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the connection failed: end every receiver
            await self._reset(_unavailable(exc))

    async def _reset(self, error: PrismError) -> None:
        conn, reader = self._conn, self._reader
        self._conn, self._pubsub, self._reader = None, None, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        for waiters in self._confirm.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(error)
        self._confirm.clear()
        for receivers in self.receivers.values():
            for receiver in receivers:
                receiver.fail(error)
        self.receivers.clear()
        if conn is not None:
            with contextlib.suppress(Exception):
                await self.backend.factory.close(conn)

    async def close(self) -> None:
        await self._reset(UnavailableError("redis messaging closed"))


def _unavailable(exc: BaseException) -> PrismError:
    if isinstance(exc, PrismError):
        return exc
    error = classify(exc)
    return error if isinstance(error, UnavailableError) else UnavailableError(f"redis: {exc!r}")


class RedisReceiver:
    """Implements prism.sdk.patterns.Receiver on the hub's shared connection."""

    def __init__(self, hub: _Hub, name: str) -> None:
        self.hub, self.channel = hub, name
        self._queue: asyncio.Queue[object] = asyncio.Queue(RECEIVER_BUFFER + 1)
        self._error: PrismError | None = None
        self._closed = False

    def offer(self, message: Delivery) -> None:
        if self._queue.qsize() < RECEIVER_BUFFER:  # a receiver that stopped reading misses it
            self._queue.put_nowait(message)

    def fail(self, error: PrismError) -> None:
        self._error = error
        self._queue.put_nowait(_CLOSED)

    async def start(self) -> None:
        await self.hub.subscribe(self)

    async def messages(self) -> AsyncIterator[Delivery]:
        while not self._closed:
            item = await self._queue.get()
            if isinstance(item, Delivery):
                yield item
            elif self._error is not None and not self._closed:
                raise self._error

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put_nowait(_CLOSED)
        await self.hub.unsubscribe(self)


class RedisMessaging:
    """Implements prism.sdk.patterns.MessagingSlot."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.hub = _Hub(backend)

    async def deliver(
        self, namespace: str, identities: Sequence[str], message: Delivery
    ) -> list[Outcome]:
        """One pipelined round trip of PUBLISHes for the batch."""
        data = message.to_bytes()

        async def publish(conn: Redis) -> list[Any]:
            pipe = conn.pipeline(transaction=False)
            for identity in identities:
                pipe.publish(channel(namespace, identity), data)
            return await pipe.execute()

        counts = await self.backend.run(publish)
        return [Outcome.DELIVERED if n else Outcome.NO_RECEIVER for n in counts]

    def receiver(self, namespace: str, identity: str) -> RedisReceiver:
        return RedisReceiver(self.hub, channel(namespace, identity))

    async def close(self) -> None:
        await self.hub.close()


__all__ = ["RedisMessaging", "RedisReceiver", "channel"]
