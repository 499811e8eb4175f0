"""Gateway metrics for Prometheus: calls, latency, upstream and breaker state, denials.

Off unless a metrics port is configured. Each gateway has its own registry (tests run several
in one process). The namespace label is the requested one only when it is configured, else
``other``, so a client cannot grow the label set by sending random names.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from prism.proxy._wrapping import Behavior
from prism.proxy.upstream import Upstream, UpstreamState
from prism.proxy.wire import WireError, read_namespace

__all__ = ["GatewayMetrics"]


class _UpstreamCollector(Collector):
    """Reads upstream and breaker state at scrape time (nothing to keep in sync)."""

    def __init__(self, upstreams: Mapping[str, Upstream]) -> None:
        self._upstreams = upstreams

    def collect(self) -> Iterator[GaugeMetricFamily]:
        state = GaugeMetricFamily(
            "prism_gateway_upstream_state",
            "1 for the state each plugin instance is in",
            labels=["instance", "state"],
        )
        breaker = GaugeMetricFamily(
            "prism_gateway_breaker_state",
            "Circuit breaker per instance: 0 closed, 1 open, 2 half-open",
            labels=["instance"],
        )
        for name, up in self._upstreams.items():
            for s in UpstreamState:
                state.add_metric([name, s.value], 1.0 if up.state is s else 0.0)
            breaker.add_metric([name], float(up.breaker.state.value))
        yield state
        yield breaker


class GatewayMetrics:
    """Counts and times every contract call (a MethodWrapper); serves /metrics on its own port."""

    def __init__(self, upstreams: Mapping[str, Upstream], routes: Mapping[str, Upstream]) -> None:
        self.registry = CollectorRegistry()
        self._namespaces = frozenset(routes)
        self.calls = Counter(
            "prism_gateway_calls",
            "Contract calls by namespace, method and final status",
            ["namespace", "method", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "prism_gateway_call_seconds",
            "Time to answer a contract call (streams: until the stream ends)",
            ["namespace", "method"],
            registry=self.registry,
        )
        self.denials = Counter(
            "prism_gateway_denials",
            "Calls refused by authentication or authorization",
            ["reason", "operation"],
            registry=self.registry,
        )
        self.registry.register(_UpstreamCollector(upstreams))
        self._http: Any = None

    def deny(self, reason: str, operation: str) -> None:
        self.denials.labels(reason, operation).inc()

    def serve(self, host: str, port: int) -> int:
        """Start the /metrics HTTP server; returns the bound port."""
        server, _thread = start_http_server(port, host, registry=self.registry)
        self._http = server
        return int(server.server_port)

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def wrap(self, inner: Behavior, path: str) -> Behavior:
        method = path.rsplit("/", 1)[-1]

        async def timed(request: bytes, context: grpc.aio.ServicerContext) -> Any:
            try:
                namespace = read_namespace(request)
            except WireError:
                namespace = ""
            if namespace not in self._namespaces:
                namespace = "other"
            start = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                return await inner(request, context)
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED  # the client went away
                raise
            except BaseException:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            finally:
                self.latency.labels(namespace, method).observe(time.perf_counter() - start)
                name = code.name if isinstance(code, grpc.StatusCode) else str(code)
                self.calls.labels(namespace, method, name).inc()

        return timed
