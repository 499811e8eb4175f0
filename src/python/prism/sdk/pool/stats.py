"""PoolStats: a point-in-time snapshot of a pool's gauges and counters."""

from __future__ import annotations

from dataclasses import dataclass, field

DESTROY_CAUSES: tuple[str, ...] = ("lifetime", "idle", "broken", "validation", "close")
"""Why a connection was closed; every cause is always present in destroyed_by_cause."""


@dataclass
class PoolStats:
    """Snapshot returned by Pool.stats(); plain numbers so it is cheap to log or assert on."""

    open: int
    idle: int
    in_use: int
    waiters: int
    acquires: int
    acquire_timeouts: int
    wait_seconds_total: float
    wait_seconds_max: float
    created: int
    destroyed_by_cause: dict[str, int] = field(default_factory=dict)
    pending_creates: int = 0
    create_failures: int = 0
    max_open: int = 0
    name: str = ""

    @property
    def busy_fraction(self) -> float:
        """in_use / max_open: 1.0 means every allowed connection is lent out."""
        return self.in_use / self.max_open if self.max_open else 0.0

    @property
    def destroyed(self) -> int:
        """Total connections closed, whatever the cause."""
        return sum(self.destroyed_by_cause.values())
