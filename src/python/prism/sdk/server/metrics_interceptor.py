"""Prometheus RED metrics for every RPC, identical across plugins.

``prism_requests_total{method,code}`` counts finished calls by final status code and
``prism_request_duration_seconds{method}`` records their latency, so dashboards and alerts work
for any plugin unchanged. Metric objects come from :mod:`prism.sdk.metrics`' idempotent getters
so several servers in one process (tests, benchmarks) share them instead of clashing in the
registry.
"""

from __future__ import annotations

import time
from typing import Any

import grpc

from prism.sdk.metrics import get_or_create_counter, get_or_create_histogram
from prism.sdk.server.wrapping import ObservingInterceptor

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


class MetricsInterceptor(ObservingInterceptor[float]):
    """Counts each RPC by method and final code and observes its duration."""

    def __init__(self) -> None:
        super().__init__()
        self._requests = get_or_create_counter(
            REQUESTS_TOTAL, "gRPC requests handled, by method and status code", ["method", "code"]
        )
        self._duration = get_or_create_histogram(
            REQUEST_DURATION,
            "gRPC request latency in seconds, by method",
            ["method"],
            buckets=DURATION_BUCKETS,
        )
        self._counters: dict[tuple[str, grpc.StatusCode], Any] = {}
        self._histograms: dict[str, Any] = {}

    def begin(self, method: str, context: grpc.aio.ServicerContext) -> float:
        return time.perf_counter()

    def finish(
        self, method: str, state: float, code: grpc.StatusCode, messages: int | None
    ) -> None:
        self._record(method, code, state)

    def _record(self, method: str, code: grpc.StatusCode, start: float) -> None:
        # Label children are cached: .labels() takes a lock and builds a key on every call.
        counter = self._counters.get((method, code))
        if counter is None:
            counter = self._requests.labels(method=method, code=code.name)
            self._counters[method, code] = counter
        histogram = self._histograms.get(method)
        if histogram is None:
            histogram = self._histograms[method] = self._duration.labels(method=method)
        counter.inc()
        histogram.observe(time.perf_counter() - start)
