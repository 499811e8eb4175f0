"""In-process messaging: the multicast messaging slot when sender and receivers share a process.

A receiver is a bounded queue; a message is delivered when it was put on the queue of at
least one live receiver of the identity (the servicer writes that queue to the Receive stream).
A full queue (a receiver that stopped reading) does not block the sender: that receiver
misses the message, and if no receiver took it the outcome is FAILED.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence

from prism.sdk.patterns import Delivery, Outcome

RECEIVER_BUFFER = 10_000
"""Messages a receiver may have waiting before new ones are refused."""

_Key = tuple[str, str]
_CLOSED = object()


class InProcessReceiver:
    """Implements prism.sdk.patterns.Receiver."""

    def __init__(self, hub: InProcessMessaging, key: _Key, buffer: int) -> None:
        self._hub, self._key = hub, key
        self._queue: asyncio.Queue[Delivery | object] = asyncio.Queue(buffer + 1)
        self._closed = False

    def offer(self, message: Delivery) -> bool:
        if self._closed or self._queue.qsize() >= self._queue.maxsize - 1:
            return False
        self._queue.put_nowait(message)
        return True

    async def start(self) -> None:
        if not self._closed:
            self._hub._receivers[self._key].add(self)

    async def messages(self) -> AsyncIterator[Delivery]:
        while not self._closed:
            item = await self._queue.get()
            if isinstance(item, Delivery):
                yield item

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        receivers = self._hub._receivers.get(self._key)
        if receivers is not None:
            receivers.discard(self)
            if not receivers:
                del self._hub._receivers[self._key]
        self._queue.put_nowait(_CLOSED)  # the slot kept free for it: wakes messages()


class InProcessMessaging:
    """Implements prism.sdk.patterns.MessagingSlot within one process."""

    def __init__(self, receiver_buffer: int = RECEIVER_BUFFER) -> None:
        self._receivers: dict[_Key, set[InProcessReceiver]] = defaultdict(set)
        self._buffer = receiver_buffer

    async def deliver(
        self, namespace: str, identities: Sequence[str], message: Delivery
    ) -> list[Outcome]:
        return [self._deliver_one(namespace, identity, message) for identity in identities]

    def _deliver_one(self, namespace: str, identity: str, message: Delivery) -> Outcome:
        receivers = self._receivers.get((namespace, identity))
        if not receivers:
            return Outcome.NO_RECEIVER
        taken = [r.offer(message) for r in list(receivers)]
        return Outcome.DELIVERED if any(taken) else Outcome.FAILED

    def receiver(self, namespace: str, identity: str) -> InProcessReceiver:
        return InProcessReceiver(self, (namespace, identity), self._buffer)
