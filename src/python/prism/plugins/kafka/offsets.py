"""OffsetTracker: which offset a consumer group may commit when clients ack out of order.

A Kafka commit is one position per partition: committing N says "everything below N is done".
Clients ack in any order, so a partition's commit may only move up to its lowest delivered
offset that is not acknowledged yet; anything above it stays uncommitted and comes back after
a resubscribe (at-least-once).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

__all__ = ["OffsetTracker"]


class OffsetTracker:
    """Delivered-but-uncommitted offsets per partition (delivered in increasing order)."""

    def __init__(self) -> None:
        self._delivered: dict[int, deque[int]] = {}  # in delivery (= offset) order
        self._pending: dict[int, set[int]] = {}  # the same offsets, for lookups
        self._acked: dict[int, set[int]] = {}

    def delivered(self, partition: int, offset: int) -> None:
        self._delivered.setdefault(partition, deque()).append(offset)
        self._pending.setdefault(partition, set()).add(offset)
        self._acked.setdefault(partition, set())

    def ack(self, partition: int, offset: int) -> None:
        """Unknown offsets (never delivered, already committed, forgotten) are ignored."""
        if offset in self._pending.get(partition, ()):
            self._acked[partition].add(offset)

    def committable(self) -> dict[int, int]:
        """Per partition whose acked prefix grew: the offset to commit (last of it + 1)."""
        commits: dict[int, int] = {}
        for partition, offsets in self._delivered.items():
            acked, pending = self._acked[partition], self._pending[partition]
            while offsets and offsets[0] in acked:
                offset = offsets.popleft()
                acked.discard(offset)
                pending.discard(offset)
                commits[partition] = offset + 1
        return commits

    def forget(self, partitions: Iterable[int]) -> None:
        """The group took these partitions away: their acks no longer commit anything."""
        for partition in partitions:
            for table in (self._delivered, self._pending, self._acked):
                table.pop(partition, None)
