"""Get-or-create for Counter, Histogram and Gauge, keyed by (registry, name)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.registry import Collector

M = TypeVar("M", Counter, Gauge, Histogram)

_lock = threading.Lock()


def _base_name(kind: type[Collector], name: str) -> str:
    # prometheus_client stores a counter "x_total" as "x"; look both spellings up the same way.
    if kind is Counter and name.endswith("_total"):
        return name[: -len("_total")]
    return name


def _get_or_create(
    kind: type[M],
    name: str,
    labelnames: Sequence[str],
    registry: CollectorRegistry,
    create: Callable[[], M],
) -> M:
    # The registry itself is the cache: whatever registered the name first (us or direct
    # prometheus_client code) is returned, and unregistering a collector is respected.
    with _lock:
        found = registry._names_to_collectors.get(_base_name(kind, name))
        if found is None:
            return create()
    if not isinstance(found, kind):
        raise ValueError(
            f"metric {name!r} is already registered as {type(found).__name__}, not {kind.__name__}"
        )
    existing = tuple(getattr(found, "_labelnames", ()))
    if existing != tuple(labelnames):
        raise ValueError(
            f"metric {name!r} is already registered with labels {list(existing)}, "
            f"not {list(labelnames)}"
        )
    return found


def get_counter(
    name: str,
    documentation: str,
    labelnames: Sequence[str] = (),
    *,
    registry: CollectorRegistry = REGISTRY,
) -> Counter:
    """The Counter called ``name`` in ``registry``, created on first use."""
    return _get_or_create(
        Counter,
        name,
        labelnames,
        registry,
        lambda: Counter(name, documentation, labelnames, registry=registry),
    )


def get_gauge(
    name: str,
    documentation: str,
    labelnames: Sequence[str] = (),
    *,
    registry: CollectorRegistry = REGISTRY,
) -> Gauge:
    """The Gauge called ``name`` in ``registry``, created on first use."""
    return _get_or_create(
        Gauge,
        name,
        labelnames,
        registry,
        lambda: Gauge(name, documentation, labelnames, registry=registry),
    )


def get_histogram(
    name: str,
    documentation: str,
    labelnames: Sequence[str] = (),
    *,
    buckets: Sequence[float] = Histogram.DEFAULT_BUCKETS,
    registry: CollectorRegistry = REGISTRY,
) -> Histogram:
    """The Histogram called ``name`` in ``registry``, created on first use.

    ``buckets`` only matter on creation; a later call gets the existing histogram as is.
    """
    return _get_or_create(
        Histogram,
        name,
        labelnames,
        registry,
        lambda: Histogram(name, documentation, labelnames, registry=registry, buckets=buckets),
    )


# Names used in the shared plan; same functions.
get_or_create_counter = get_counter
get_or_create_gauge = get_gauge
get_or_create_histogram = get_histogram
