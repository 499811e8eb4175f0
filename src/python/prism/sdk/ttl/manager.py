"""TTLManager: per-key deadlines for stores that have no native expiry.

Data structure (bucketed deadlines; the package docstring has the figures and the reasons):

* ``_deadlines``: dict key -> absolute deadline (float, manager clock). The one source of
  truth: ``remaining``/``expires_at``/``is_expired`` read it, ``remove`` pops it.
* ``_slots``: dict bucket -> list of keys, bucket = ``deadline // tick`` (an integral float:
  one arithmetic op, no ``int()`` call; nan flags a non-finite deadline). ``set`` appends the
  bare key (O(1), no tuple). The entry is live while the key's current deadline falls in that
  bucket; a re-set or removed key leaves a stale entry that is skipped when reached.
* ``_order``: min-heap of occupied buckets: only a new bucket costs a heap push.
* ``_cursor``: bucket -> entries already consumed, only for a bucket cut short by the budget.
* ``_stale``: exact count of stale entries (entries - live keys), so compaction runs only
  when needed and the loop never wakes up just to look for stale entries.

A bucket is consumed in one pass: for each entry, a dict lookup says whether the key is due
(expire it), still pending in this bucket (keep it) or stale (skip it). Exactly the keys with
deadline <= now expire; callbacks run in bucket order, in ``set`` order within a bucket.

Granularity (Redis-style): reads are exact at any time (``is_expired``/``remaining`` compare
the deadline with the clock, so a due key is gone for every caller at once), while the sweep
that reclaims memory and runs ``on_expire`` is coarse: default ``tick_interval=0.1`` (Redis's
active expiry also runs 10 times a second). The loop wakes once per occupied bucket, at its
end, so callbacks run up to one tick (plus event-loop latency) late, never early. A wake-up
costs ~0.1-0.2 ms of CPU on a busy VM, so fewer, fuller buckets are most of the saving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Hashable
from heapq import heapify, heappop, heappush
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

logger = logging.getLogger(__name__)

_INF = math.inf
_MIN_COMPACT = 1024  # compact once stale entries exceed live keys + this


class TTLManager(Generic[K]):
    """Tracks per-key deadlines and calls ``on_expire(key)`` once when each one passes.

    Not thread-safe: use it from the event loop thread (callbacks run there too). The
    callback may call ``set``/``remove`` on this manager.
    """

    def __init__(
        self,
        on_expire: Callable[[K], None],
        *,
        tick_interval: float = 0.1,
        max_expirations_per_tick: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not tick_interval > 0 or not math.isfinite(tick_interval):
            raise ValueError(f"tick_interval must be a positive number, got {tick_interval!r}")
        if max_expirations_per_tick < 1:
            raise ValueError(
                f"max_expirations_per_tick must be >= 1, got {max_expirations_per_tick!r}"
            )
        self._on_expire = on_expire
        self._tick = float(tick_interval)
        self._max = int(max_expirations_per_tick)
        self._clock = clock
        self._deadlines: dict[K, float] = {}
        self._slots: dict[float, list[K]] = {}
        self._order: list[float] = []
        self._cursor: dict[float, int] = {}
        self._stale = 0
        self._expiring = False
        # set() wakes the sleeping loop for a deadline before this (-inf: not sleeping).
        self._wake_at = -_INF
        self._waiter: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ key operations

    def set(self, key: K, ttl_seconds: float) -> None:
        """Expire ``key`` ``ttl_seconds`` from now, replacing any earlier deadline."""
        # Hot path (~0.4 us): one clock read, one float op, a list append, one dict op.
        deadline = self._clock() + ttl_seconds
        idx = deadline // self._tick  # nan for an infinite or nan deadline
        try:
            self._slots[idx].append(key)
        except KeyError:  # first key of this bucket (try is free when nothing is raised)
            if idx != idx:  # nan is never a slot key, so the check costs nothing per key
                raise ValueError(f"ttl_seconds must be finite, got {ttl_seconds!r}") from None
            self._slots[idx] = [key]
            heappush(self._order, idx)
            # The sleeping loop waits for the head bucket; only a new, earlier bucket
            # (necessarily a new one) must wake it.
            if deadline < self._wake_at:
                self._wake()
        deadlines = self._deadlines
        # One lookup for the common new-key case; a re-set leaves its old entry stale.
        if deadlines.setdefault(key, deadline) is not deadline:
            deadlines[key] = deadline
            self._add_stale()

    def remove(self, key: K) -> bool:
        """Cancel ``key``'s expiry; True if it had one (its callback will not run)."""
        if self._deadlines.pop(key, None) is None:
            return False
        self._add_stale()
        return True

    def persist(self, key: K) -> bool:
        """Redis PERSIST: same as ``remove`` (the key stays, its TTL goes)."""
        return self.remove(key)

    def expires_at(self, key: K) -> float | None:
        """Absolute deadline on the manager's clock, or None without a TTL."""
        return self._deadlines.get(key)

    def remaining(self, key: K) -> float | None:
        """Seconds left (0.0 once due), or None if the key has no TTL."""
        deadline = self._deadlines.get(key)
        if deadline is None:
            return None
        return max(0.0, deadline - self._clock())

    def is_expired(self, key: K) -> bool:
        """True once the deadline passed, even if the callback has not run yet.

        Stores must treat such a key as gone: expiry is processed in batches, after the fact.
        """
        deadline = self._deadlines.get(key)
        return deadline is not None and deadline <= self._clock()

    def __len__(self) -> int:
        return len(self._deadlines)

    def __contains__(self, key: object) -> bool:
        return key in self._deadlines

    # ------------------------------------------------------------------ expiry

    def expire_due(self, now: float | None = None) -> int:
        """Expire the keys with deadline <= ``now``, at most ``max_expirations_per_tick``.

        Returns how many callbacks ran. One bounded batch: the background loop calls it
        repeatedly, yielding to the event loop in between.
        """
        if now is None:
            now = self._clock()
        return self._expire_batch(now, now // self._tick)[0]

    def _expire_batch(self, now: float, last: float) -> tuple[int, bool]:
        """One bounded batch over buckets <= ``last``; returns (expired, more_may_be_due)."""
        if self._expiring:  # re-entered from a callback: the outer batch carries on
            return 0, False
        self._expiring = True
        try:
            return self._expire_locked(now, last)
        finally:
            self._expiring = False

    def _expire_locked(self, now: float, last: float) -> tuple[int, bool]:
        budget = self._max  # entries scanned, stale ones included: bounded work
        expired = 0
        order = self._order
        slots = self._slots
        cursor = self._cursor
        deadlines = self._deadlines
        pop = deadlines.pop
        on_expire = self._on_expire
        tick = self._tick
        while order and order[0] <= last:
            if budget <= 0:
                return expired, True
            idx = order[0]
            entries = slots[idx]
            pos = cursor.pop(idx, 0) if cursor else 0
            end = len(entries)
            stop = end if end - pos <= budget else pos + budget
            keep: list[K] = []
            skipped = 0
            for key in entries[pos:stop]:  # a copy: callbacks may append to this bucket
                # Pop first: nearly every entry reached is due (one dict operation a key).
                deadline = pop(key, None)
                if deadline is None:
                    skipped += 1  # removed, or expired through another entry
                elif deadline <= now:
                    try:
                        on_expire(key)
                    except Exception:
                        logger.exception("TTL expiry callback failed for key %r", key)
                else:
                    deadlines[key] = deadline  # not due: put it back
                    if deadline // tick == idx:
                        keep.append(key)  # this bucket, not due yet (only when idx is current)
                    else:
                        skipped += 1  # re-set to a later bucket: that entry is the live one
            expired += stop - pos - skipped - len(keep)
            budget -= stop - pos
            self._stale -= skipped
            if len(entries) > stop:  # cut by the budget, or callbacks appended keys
                if keep:  # reuse the consumed room: the kept keys are scanned again
                    stop -= len(keep)
                    entries[stop : stop + len(keep)] = keep
                cursor[idx] = stop
            elif keep:
                slots[idx] = keep
                if order[0] == idx:
                    return expired, False  # the rest of this bucket is not due yet
            else:
                self._drop_slot(idx)
        return expired, False

    def _drop_slot(self, idx: float) -> None:
        """Forget a fully consumed bucket (normally the heap head)."""
        order = self._order
        if order[0] == idx:
            heappop(order)
        else:  # a callback pushed an earlier bucket meanwhile
            order.remove(idx)
            heapify(order)
        del self._slots[idx]

    def _add_stale(self) -> None:
        self._stale += 1
        if self._stale > len(self._deadlines) + _MIN_COMPACT:
            self._wake()  # the loop compacts when it runs

    def compact(self) -> bool:
        """Drop stale entries (re-set or removed keys) once they outnumber live keys.

        The background loop calls it when ``set``/``remove`` push the stale count over the
        threshold: O(live keys) when it runs, so amortised O(1) per ``set``/``remove``.
        Returns True if it rebuilt the buckets.
        """
        if self._expiring or self._stale <= len(self._deadlines) + _MIN_COMPACT:
            return False
        tick = self._tick
        slots: dict[float, list[K]] = {}
        for key, deadline in self._deadlines.items():
            idx = deadline // tick
            slot = slots.get(idx)
            if slot is None:
                slots[idx] = [key]
            else:
                slot.append(key)
        self._slots = slots
        self._order = list(slots)
        heapify(self._order)
        self._cursor.clear()
        self._stale = 0
        return True

    # ------------------------------------------------------------------ background loop

    async def start(self) -> None:
        """Run the expiry loop in a background task (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="prism-ttl-expiry"
            )

    async def stop(self) -> None:
        """Stop the expiry loop; pending keys keep their deadlines (idempotent)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self._wake_at = -_INF

    def _wake(self) -> None:
        self._wake_at = -_INF
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _run(self) -> None:
        """Expire each bucket once it is complete; sleep until the head bucket's end.

        One wake-up per occupied bucket (at most one per tick), none while idle: callbacks
        run at most one tick (plus event-loop latency) late, never early.
        """
        loop = asyncio.get_running_loop()
        clock = self._clock
        tick = self._tick
        try:
            while True:
                if self._stale > len(self._deadlines) + _MIN_COMPACT:
                    self.compact()
                now = clock()
                # Only complete buckets: each one is scanned once, everything in it is due.
                if self._expire_batch(now, now // tick - 1)[1]:
                    await asyncio.sleep(0)  # bounded batch done: let others run, then go on
                    continue
                while self._stale <= len(self._deadlines) + _MIN_COMPACT:
                    if not self._order:
                        await self._sleep_until(loop, _INF, _INF)
                        continue
                    head = self._order[0]
                    if clock() // tick > head:
                        break
                    await self._sleep_until(loop, (head + 1) * tick, head * tick)
        finally:
            self._wake_at = -_INF
            self._waiter = None

    async def _sleep_until(
        self, loop: asyncio.AbstractEventLoop, target: float, wake_before: float
    ) -> None:
        """Sleep until ``target``, or until ``set`` brings a deadline before ``wake_before``."""
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiter = waiter
        self._wake_at = wake_before
        handle = None
        if target != _INF:
            handle = loop.call_later(max(0.0, target - self._clock()), _release, waiter)
        try:
            await waiter
        finally:
            if handle is not None:
                handle.cancel()
            self._waiter = None
            self._wake_at = -_INF


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
