"""grpc.health.v1 on the proxy, aggregated over namespaces.

Service names: ``""`` (and each contract service name) is SERVING only when every namespace's
plugin is serving; each namespace name reports its own plugin, so a probe can watch one
namespace (``prism health -n cache``). Statuses are pushed from upstream state changes into
grpcio-health-checking's servicer, which already implements Check and Watch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from prism.proxy.contract import CONTRACT_SERVICE_NAMES
from prism.proxy.upstream import Upstream, UpstreamState

SERVING: Any = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING: Any = health_pb2.HealthCheckResponse.NOT_SERVING


class ProxyHealth:
    def __init__(self, routes: Mapping[str, Upstream]) -> None:
        self._routes = dict(routes)
        self.servicer: Any = health_aio.HealthServicer()
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        for upstream in set(self._routes.values()):
            upstream.add_listener(self._on_change)

    def statuses(self) -> dict[str, Any]:
        """What every health service name should report now."""
        out: dict[str, Any] = {
            ns: SERVING if up.state is UpstreamState.SERVING else NOT_SERVING
            for ns, up in self._routes.items()
        }
        overall = SERVING if all(s == SERVING for s in out.values()) else NOT_SERVING
        out[""] = overall
        for name in CONTRACT_SERVICE_NAMES:
            out.setdefault(name, overall)
        return out

    async def sync(self) -> None:
        async with self._lock:
            for service, status in self.statuses().items():
                await self.servicer.set(service, status)

    def _on_change(self, upstream: Upstream) -> None:
        try:
            task = asyncio.get_running_loop().create_task(self.sync())
        except RuntimeError:  # no loop (shutdown): nothing to update
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def add_to_server(self, server: grpc.aio.Server) -> None:
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)

    async def shutdown(self) -> None:
        """NOT_SERVING everywhere from now on (the proxy is stopping)."""
        await self.servicer.enter_graceful_shutdown()
