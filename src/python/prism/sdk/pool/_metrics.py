"""Prometheus export for a pool: gauges read live from the pool, counters bumped on events.

Gauges use ``set_function`` so the hot acquire/release path never touches them; a weak
reference keeps the registry from holding a closed pool alive.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Protocol

from prism.sdk.metrics import get_or_create_counter, get_or_create_gauge
from prism.sdk.pool.stats import PoolStats


class _HasStats(Protocol):
    def stats(self) -> PoolStats: ...


_GAUGES: dict[str, tuple[str, Callable[[PoolStats], float]]] = {
    "prism_pool_open_connections": ("Connections open (idle + in use).", lambda s: s.open),
    "prism_pool_idle_connections": ("Connections idle in the pool.", lambda s: s.idle),
    "prism_pool_in_use_connections": ("Connections lent out.", lambda s: s.in_use),
    "prism_pool_waiters": ("Tasks waiting in acquire().", lambda s: s.waiters),
    "prism_pool_busy_fraction": ("in_use / max_open.", lambda s: s.busy_fraction),
}


class PoolMetrics:
    """Prometheus series for one pool, labelled ``pool=<name>``."""

    def __init__(self, name: str, pool: _HasStats) -> None:
        self._name = name
        ref = weakref.ref(pool)
        for metric, (doc, read) in _GAUGES.items():
            gauge = get_or_create_gauge(metric, doc, ["pool"])
            gauge.labels(name).set_function(_reader(ref, read))
        self._acquires = get_or_create_counter(
            "prism_pool_acquires_total", "Successful pool acquires.", ["pool"]
        ).labels(name)
        self._acquires_exported = 0
        self.timeouts = get_or_create_counter(
            "prism_pool_acquire_timeouts_total",
            "Acquires that timed out (pool exhausted).",
            ["pool"],
        ).labels(name)
        self.created = get_or_create_counter(
            "prism_pool_connections_created_total", "Connections created.", ["pool"]
        ).labels(name)
        self._destroyed = get_or_create_counter(
            "prism_pool_connections_destroyed_total",
            "Connections closed, by cause.",
            ["pool", "cause"],
        )

    def sync_acquires(self, total: int) -> None:
        """Export the acquire count in batches: Counter.inc() takes a lock (~2 us), too much
        for every acquire, so the pool counts locally and calls this from its upkeep tick."""
        delta = total - self._acquires_exported
        if delta > 0:
            self._acquires.inc(delta)
            self._acquires_exported = total

    def destroyed(self, cause: str) -> None:
        self._destroyed.labels(self._name, cause).inc()

    def unregister(self) -> None:
        """Drop the live gauges (counters stay: they are cumulative per pool name)."""
        for metric, (doc, _) in _GAUGES.items():
            try:
                get_or_create_gauge(metric, doc, ["pool"]).remove(self._name)
            except KeyError:
                pass


def _reader(
    ref: weakref.ReferenceType[_HasStats], read: Callable[[PoolStats], float]
) -> Callable[[], float]:
    def value() -> float:
        pool = ref()
        return float(read(pool.stats())) if pool is not None else 0.0

    return value
