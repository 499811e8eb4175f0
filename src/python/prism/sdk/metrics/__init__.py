"""Idempotent prometheus_client metric getters.

Why: prometheus_client registers a collector in the global registry when it is constructed,
and constructing a second one with the same name raises ``ValueError: Duplicated
timeseries``. Tests re-create servers, and one process may host several servers or breakers,
so module-level ``Counter(...)`` calls do not fit. ``get_counter`` / ``get_histogram`` /
``get_gauge`` return the already-registered collector for a name (checking that its type and
labels match) and only create it the first time. We keep prometheus_client's default
registry so anything that exposes it (``start_http_server``) sees every Prism metric.
"""

from prism.sdk.metrics._registry import (
    get_counter,
    get_gauge,
    get_histogram,
    get_or_create_counter,
    get_or_create_gauge,
    get_or_create_histogram,
)

__all__ = [
    "get_counter",
    "get_gauge",
    "get_histogram",
    "get_or_create_counter",
    "get_or_create_gauge",
    "get_or_create_histogram",
]
