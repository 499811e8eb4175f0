"""Prometheus RED metrics for every RPC, identical across plugins.

``prism_requests_total{method,code}`` counts finished calls by final status code and
``prism_request_duration_seconds{method}`` records their latency, so dashboards and alerts work
for any plugin unchanged. Metric objects come from :mod:`prism.sdk.metrics`' idempotent getters
so several servers in one process (tests, benchmarks) share them instead of clashing in the
registry. Label children are looked up once per method, not per call: ``.labels()`` takes a
lock and builds a key each time.
"""

from __future__ import annotations

from typing import Any

import grpc

from prism.sdk.metrics import get_or_create_counter, get_or_create_histogram

REQUESTS_TOTAL = "prism_requests_total"
REQUEST_DURATION = "prism_request_duration_seconds"
# Sub-millisecond resolution matters for an in-memory/cache gateway; the tail goes to 10 s.
DURATION_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class MethodMetrics:
    """One method's label children; ``record`` runs once per call."""

    __slots__ = ("_counters", "_duration", "_method", "_requests")

    def __init__(self, requests: Any, duration: Any, method: str) -> None:
        self._requests = requests
        self._method = method
        self._duration = duration.labels(method=method)
        self._counters: dict[grpc.StatusCode, Any] = {}

    def record(self, code: grpc.StatusCode, seconds: float) -> None:
        counter = self._counters.get(code)
        if counter is None:
            counter = self._counters[code] = self._requests.labels(
                method=self._method, code=code.name
            )
        counter.inc()
        self._duration.observe(seconds)


class RequestMetrics:
    """The two RED metrics, handing out per-method recorders."""

    def __init__(self) -> None:
        self._requests = get_or_create_counter(
            REQUESTS_TOTAL, "gRPC requests handled, by method and status code", ["method", "code"]
        )
        self._duration = get_or_create_histogram(
            REQUEST_DURATION,
            "gRPC request latency in seconds, by method",
            ["method"],
            buckets=DURATION_BUCKETS,
        )

    def for_method(self, method: str) -> MethodMetrics:
        return MethodMetrics(self._requests, self._duration, method)
