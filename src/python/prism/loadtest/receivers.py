"""Live receivers for the registry runs that multicast, and what they count at receipt.

Why counted at receipt: a multicast is delivered when a live receiver read it, not when the slot
said so. Each payload starts with :data:`HEADER`: the multicast's sequence number and its
*intended* start on ``CLOCK_MONOTONIC``, a clock every process on the machine shares (Linux), so
a receipt in any process measures end-to-end latency open-loop, like the operations.

Where they run: live receivers are other clients, not the load generator, so with a network
messaging slot they run in a child process (``receiver_process``) and their reads do not queue
in the generator's event loop. :class:`LiveReceivers` opens and reads them in the process it
is in: that child, or the generator itself for in-process messaging, whose receivers can only
live next to the slot.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from prism.loadtest.stats import LatencyHistogram
from prism.sdk.patterns import Coordinator, Receiver

__all__ = ["HEADER", "LiveReceivers", "Receipts", "Receivers", "monotonic"]

_log = logging.getLogger(__name__)

HEADER = struct.Struct(">Qd")
"""Multicast sequence number, intended start (:func:`monotonic` seconds)."""
RECEIVER_BATCH = 8
"""Receivers started at once (each within the slot's connect/subscribe timeout)."""
CLOSE_WAIT_S = 5.0


def monotonic() -> float:
    """Seconds on CLOCK_MONOTONIC: comparable between processes on one machine."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


class Receipts:
    """Distinct receipts per multicast sequence number, duplicates, receiver errors, latency.

    ``delta()`` / ``add_delta()`` carry the counts from the process that reads to the one that
    reports, as they grow (a JSON-friendly dict).
    """

    def __init__(self) -> None:
        self.received: Counter[int] = Counter()  # seq -> distinct identities that read it
        self.duplicates = 0
        self.errors = 0
        self.latency = LatencyHistogram()
        self._seen: dict[int, set[int]] = {}
        self._unsent: Counter[int] = Counter()
        self._sent_duplicates = self._sent_errors = 0

    def record(self, index: int, payload: bytes) -> None:
        """Receiver ``index`` read ``payload`` now."""
        now = monotonic()
        if len(payload) < HEADER.size:
            return
        seq, due = HEADER.unpack_from(payload)
        seen = self._seen.setdefault(seq, set())
        if index in seen:
            self.duplicates += 1
            return
        seen.add(index)
        self.received[seq] += 1
        self._unsent[seq] += 1
        self.latency.record(now - due)

    def delivered(self, seqs: Sequence[int] | Mapping[int, Any]) -> int:
        return sum(self.received.get(seq, 0) for seq in seqs)

    def delta(self) -> dict[str, Any] | None:
        """What grew since the last call (None if nothing did)."""
        if not self._unsent and (self._sent_duplicates, self._sent_errors) == (
            self.duplicates,
            self.errors,
        ):
            return None
        out = {
            "received": {str(seq): n for seq, n in self._unsent.items()},
            "duplicates": self.duplicates - self._sent_duplicates,
            "errors": self.errors - self._sent_errors,
        }
        self._unsent = Counter()
        self._sent_duplicates, self._sent_errors = self.duplicates, self.errors
        return out

    def add_delta(self, delta: Mapping[str, Any]) -> None:
        for seq, n in delta["received"].items():
            self.received[int(seq)] += int(n)
        self.duplicates += int(delta["duplicates"])
        self.errors += int(delta["errors"])


class Receivers(Protocol):
    """Live receivers of a run's identities, wherever they run."""

    receipts: Receipts
    count: int  # receivers confirmed live
    where: str  # "child process" or "generator process", for the report
    error: str | None  # set when they stopped counting (e.g. their process died)

    async def start(self, namespace: str, identities: Sequence[str]) -> None:
        """Return once every receiver is live; raise if one cannot be opened."""
        ...

    async def finish(self) -> None:
        """Close them; the counts (and latency) in ``receipts`` are final after this."""
        ...


class LiveReceivers:
    """Implements :class:`Receivers` in this process, over ``coordinator.receiver()``."""

    where = "generator process"

    def __init__(self, coordinator: Coordinator, receipts: Receipts | None = None) -> None:
        self.coordinator = coordinator
        self.receipts = receipts or Receipts()
        self.count = 0
        self.error: str | None = None
        self._receivers: list[Receiver] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    async def start(self, namespace: str, identities: Sequence[str]) -> None:
        for first in range(0, len(identities), RECEIVER_BATCH):
            batch = range(first, min(first + RECEIVER_BATCH, len(identities)))
            opened = [self.coordinator.receiver(namespace, identities[i]) for i in batch]
            self._receivers.extend(opened)  # closed by finish() even if start() fails
            await asyncio.gather(*(r.start() for r in opened))
            self.count += len(opened)
            self._tasks.extend(
                asyncio.ensure_future(self._consume(i, identities[i], r))
                for i, r in zip(batch, opened, strict=True)
            )

    async def _consume(self, index: int, identity: str, receiver: Receiver) -> None:
        while True:
            try:
                async for message in receiver.messages():
                    self.receipts.record(index, message.payload)
                return
            except Exception as exc:  # noqa: BLE001 - counted; the receiver keeps reading
                task = asyncio.current_task()
                if self._closing or (task is not None and task.cancelling()):
                    raise asyncio.CancelledError from exc
                self.receipts.errors += 1
                _log.warning("receiver %s: %r", identity, exc)
                await asyncio.sleep(0.1)

    async def finish(self) -> None:
        """Close the receivers (bounded, best effort); idempotent."""
        if self._closing:
            return
        self._closing = True
        for task in self._tasks:
            task.cancel()
        closes = [asyncio.wait_for(r.close(), CLOSE_WAIT_S) for r in self._receivers]
        for outcome in await asyncio.gather(*closes, return_exceptions=True):
            if isinstance(outcome, BaseException):
                _log.warning("closing a receiver failed: %r", outcome)
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=CLOSE_WAIT_S)
            if pending:
                _log.warning("%d receiver(s) did not stop in time", len(pending))
