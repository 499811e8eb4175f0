"""One live Subscribe stream: the outstanding table, ack deadlines, flow control, stoppable writes.

Why here, once: every broker gets the same end-to-end ack model. A delivered message stays
outstanding until the client names its ack id in Ack (then the broker may forget it); one not
acknowledged by its deadline is written again on the same stream; the stream stops pulling
from the broker while ``max_outstanding`` messages are unacknowledged. Writes go through
``context.write`` raced against the stop event, so Unsubscribe and Drain end a stream even
when its client stopped reading and the write waits on flow control.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prism.interfaces import pubsub_basic_pb2
from prism.sdk.errors import PrismError

if TYPE_CHECKING:
    from prism.sdk.patterns.pubsub import BrokerMessage, Subscription

_log = logging.getLogger("prism.sdk.patterns.pubsub")  # one logger for the pub/sub servicer


@dataclass
class _Outstanding:
    message: BrokerMessage
    deadline: float  # time.monotonic()
    attempt: int


@dataclass(frozen=True)
class AckPolicy:
    """What a SubscribeRequest asked for, validated."""

    auto: bool
    deadline: float  # seconds
    max_outstanding: int


class LiveStream:
    """One Subscribe call; ``end`` stops it (``reason``, if given, is raised to the client)."""

    def __init__(self, subscription: Subscription, context: Any, policy: AckPolicy) -> None:
        self.subscription, self.context, self.policy = subscription, context, policy
        self.stop = asyncio.Event()
        self.reason: PrismError | None = None
        # Insertion order is deadline order: a redelivered entry moves to the end.
        self._outstanding: dict[str, _Outstanding] = {}
        self._wake = asyncio.Event()

    def end(self, reason: PrismError | None = None) -> None:
        if reason is not None and self.reason is None:
            self.reason = reason
        self.stop.set()

    async def ack(self, ack_ids: Collection[str]) -> set[str]:
        """Acknowledge the ids outstanding here; returns them (others are ignored)."""
        entries = {i: self._outstanding[i] for i in ack_ids if i in self._outstanding}
        if not entries:
            return set()
        await self.subscription.ack([entry.message for entry in entries.values()])
        for ack_id in entries:  # only once the broker took the ack: a failed one is retried
            self._outstanding.pop(ack_id, None)
        self._wake.set()  # room under max_outstanding
        return set(entries)

    async def run(self) -> None:
        """Deliver until stopped or the broker's messages end."""
        messages = self.subscription.messages()
        stopped = asyncio.ensure_future(self.stop.wait())
        woken: asyncio.Future[Any] | None = None
        next_message: asyncio.Future[BrokerMessage] | None = None
        try:
            while not self.stop.is_set():
                if next_message is None and self._has_room():
                    next_message = asyncio.ensure_future(anext(messages))
                if woken is None:
                    woken = asyncio.ensure_future(self._wake.wait())
                waits = {stopped, woken} | ({next_message} if next_message else set())
                done, _ = await asyncio.wait(
                    waits, timeout=self._until_next_deadline(), return_when=asyncio.FIRST_COMPLETED
                )
                if stopped in done:
                    return
                if woken in done:
                    self._wake.clear()
                    woken = None
                if next_message is not None and next_message in done:
                    pending, next_message = next_message, None
                    try:
                        message = pending.result()
                    except StopAsyncIteration:
                        return
                    if not await self._deliver(message, stopped):
                        return
                if not await self._redeliver_expired(stopped):
                    return
        finally:
            await _settle(stopped)
            if woken is not None:
                await _settle(woken)
            if next_message is not None:
                await _settle(next_message)
            aclose = getattr(messages, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except Exception:  # noqa: BLE001 - the subscription is closed next anyway
                    _log.debug("closing a subscription's message iterator failed", exc_info=True)

    def _has_room(self) -> bool:
        return self.policy.auto or len(self._outstanding) < self.policy.max_outstanding

    def _until_next_deadline(self) -> float | None:
        if self.policy.auto or not self._outstanding:
            return None
        first = next(iter(self._outstanding.values()))
        return max(0.0, first.deadline - time.monotonic())

    async def _deliver(self, message: BrokerMessage, stopped: asyncio.Future[Any]) -> bool:
        if self.policy.auto:
            if not await self._write(message, "", message.delivery_attempt, stopped):
                return False
            await self.subscription.ack([message])  # at-most-once: the transport has it
            return True
        ack_id = message.message_id
        if ack_id in self._outstanding:
            return True  # the broker gave it again while it is outstanding here: not twice
        deadline = time.monotonic() + self.policy.deadline
        self._outstanding[ack_id] = _Outstanding(message, deadline, message.delivery_attempt)
        return await self._write(message, ack_id, message.delivery_attempt, stopped)

    async def _redeliver_expired(self, stopped: asyncio.Future[Any]) -> bool:
        now = time.monotonic()
        expired = []
        for ack_id, entry in self._outstanding.items():
            if entry.deadline > now:
                break
            expired.append((ack_id, entry))
        for ack_id, entry in expired:
            entry.attempt += 1
            entry.deadline = now + self.policy.deadline
            self._outstanding[ack_id] = self._outstanding.pop(ack_id)  # to the end
        for ack_id, entry in expired:
            if not await self._write(entry.message, ack_id, entry.attempt, stopped):
                return False
        return True

    async def _write(
        self, message: BrokerMessage, ack_id: str, attempt: int, stopped: asyncio.Future[Any]
    ) -> bool:
        """Write ``message``; False if the stream was stopped first (the write is cancelled)."""
        proto = pubsub_basic_pb2.Message(
            topic=message.topic,
            message_id=message.message_id,
            payload=message.payload,
            metadata=dict(message.metadata),
            publish_time_ms=message.publish_time_ms,
            ack_id=ack_id,
            delivery_attempt=attempt,
        )
        write = asyncio.ensure_future(self.context.write(proto))
        try:
            await asyncio.wait({write, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not write.done():
                await _settle(write)
        if write.cancelled():
            return False
        write.result()
        return True


_CANCEL_AGAIN_SECONDS = 0.05
"""How long a cancelled task may take to end before it is cancelled again (see _settle)."""


async def _settle(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` if still running and wait for it; its outcome is marked as seen.

    Waiting with ``asyncio.wait`` (not ``await task``) keeps a cancellation of the *caller*
    distinguishable: it propagates, while the task's own CancelledError does not.

    A task that outlives its cancel is cancelled again: Python 3.11's ``asyncio.wait_for``
    returns normally when a cancel lands as its inner future finishes (CPython gh-86296, fixed
    in 3.12), and client libraries wrap their I/O in it (redis-py: every command it sends), so
    a cancelled read loop could go on reading and keep Unsubscribe or Drain waiting for ever.
    """
    if not task.done():
        task.cancel()
        while not (await asyncio.wait({task}, timeout=_CANCEL_AGAIN_SECONDS))[0]:
            task.cancel()
        if task.cancelled():
            return
        error = task.exception()  # it finished anyway, or failed while being cancelled
        if error is not None and not isinstance(error, StopAsyncIteration):
            _log.debug("a cancelled subscription task failed: %r", error, exc_info=error)
    elif not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" at teardown


async def first(work: Awaitable[None], stop: asyncio.Event) -> bool:
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


__all__ = ["AckPolicy", "LiveStream", "first"]
