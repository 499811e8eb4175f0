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
        # partition -> (offsets in delivery order, offset -> acked?)
        self._partitions: dict[int, tuple[deque[int], dict[int, bool]]] = {}

    def delivered(self, partition: int, offset: int) -> None:
        order, acked = self._partitions.setdefault(partition, (deque(), {}))
        order.append(offset)
        acked[offset] = False

    def ack(self, partition: int, offset: int) -> None:
        """Unknown offsets (never delivered, already committed, forgotten) are ignored."""
        tracked = self._partitions.get(partition)
        if tracked is not None and offset in tracked[1]:
            tracked[1][offset] = True

    def committable(self) -> dict[int, int]:
        """Per partition whose acked prefix grew: the offset to commit (last of it + 1)."""
        commits: dict[int, int] = {}
        for partition, (order, acked) in self._partitions.items():
            while order and acked[order[0]]:
                del acked[offset := order.popleft()]
                commits[partition] = offset + 1
        return commits

    def forget(self, partitions: Iterable[int]) -> None:
        """The group took these partitions away: their acks no longer commit anything."""
        for partition in partitions:
            self._partitions.pop(partition, None)
