"""grpc.health.v1 service driven by a HealthChecker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from prism.sdk.health.checker import HealthChecker
from prism.sdk.health.types import HealthStatus

LIVENESS_SERVICE = "liveness"

SERVING: Any = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING: Any = health_pb2.HealthCheckResponse.NOT_SERVING


class GrpcHealthService:
    """Serves grpc.health.v1 Check and Watch from the checker's cached state.

    It wraps grpcio-health-checking's asyncio HealthServicer (which already implements Watch
    streaming correctly) instead of re-implementing the protocol, and only decides statuses:
    ``""`` and every name in ``services`` are SERVING when the plugin is ready and not
    UNHEALTHY (DEGRADED still serves); ``"liveness"`` is SERVING while ``is_live()``.
    Statuses are re-synced before every Check and pushed to Watch streams on every checker
    state change, so Check is never stale and Watch needs no polling.
    """

    def __init__(self, checker: HealthChecker, services: Sequence[str] = ()) -> None:
        self._checker = checker
        self._services = ("", *(s for s in services if s and s != LIVENESS_SERVICE))
        self._servicer: Any = health_aio.HealthServicer()
        self._sync_tasks: set[asyncio.Task[None]] = set()
        self._lock: asyncio.Lock | None = None
        self._unsubscribe = checker.add_state_listener(self._on_change)

    @property
    def servicer(self) -> Any:
        """The wrapped grpc_health HealthServicer (e.g. for enter_graceful_shutdown)."""
        return self._servicer

    def desired_statuses(self) -> dict[str, Any]:
        """The serving status each known service name should have right now."""
        serving = (
            self._checker.is_ready() and self._checker.report().status is not HealthStatus.UNHEALTHY
        )
        statuses: dict[str, Any] = {s: SERVING if serving else NOT_SERVING for s in self._services}
        statuses[LIVENESS_SERVICE] = SERVING if self._checker.is_live() else NOT_SERVING
        return statuses

    async def sync(self) -> None:
        """Push the desired statuses into the servicer (wakes Watch streams on change)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            for service, status in self.desired_statuses().items():
                await self._servicer.set(service, status)

    def add_to_server(self, server: grpc.aio.Server) -> None:
        health_pb2_grpc.add_HealthServicer_to_server(self, server)

    async def enter_graceful_shutdown(self) -> None:
        """Report NOT_SERVING for everything from now on (call when the server starts stopping)."""
        self._unsubscribe()
        await self._servicer.enter_graceful_shutdown()

    async def Check(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC method name)
        await self.sync()
        return await self._servicer.Check(request, context)

    async def Watch(self, request: Any, context: Any) -> None:  # noqa: N802 (gRPC method name)
        await self.sync()
        await self._servicer.Watch(request, context)

    def _on_change(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # changed outside a loop: the next Check/Watch syncs
            return
        task = loop.create_task(self.sync())
        self._sync_tasks.add(task)
        task.add_done_callback(self._sync_tasks.discard)

    async def close(self) -> None:
        """Detach from the checker and finish pending syncs."""
        self._unsubscribe()
        for task in list(self._sync_tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
