"""LifecycleInterface servicer: the proxy's remote control over a managed plugin."""

from __future__ import annotations

from typing import Any

from prism.interfaces import lifecycle_pb2, lifecycle_pb2_grpc
from prism.sdk.health import report_to_proto
from prism.sdk.plugin.runtime import PluginRuntime
from prism.sdk.server import ServiceBinding

CONTRACT_VERSION = 1
"""The plugin<->proxy contract version (reported by Initialize). Bump it on a change an older
proxy or plugin would misread; the proxy refuses a plugin that reports another version."""

LIFECYCLE_SERVICE_NAME: str = lifecycle_pb2.DESCRIPTOR.services_by_name[
    "LifecycleInterface"
].full_name


class LifecycleServicer(lifecycle_pb2_grpc.LifecycleInterfaceServicer):
    """Maps each lifecycle RPC onto :class:`PluginRuntime`; errors go through the interceptor.

    ``interfaces`` are the contract service names reported by Initialize.
    """

    def __init__(self, runtime: PluginRuntime, interfaces: list[str]) -> None:
        self._runtime = runtime
        self._interfaces = list(interfaces)

    def binding(self) -> ServiceBinding:
        """This servicer as a ServiceBinding for PluginServer."""
        return ServiceBinding(
            lifecycle_pb2_grpc.add_LifecycleInterfaceServicer_to_server,
            self,
            LIFECYCLE_SERVICE_NAME,
        )

    async def Initialize(  # noqa: N802 (gRPC method name)
        self, request: lifecycle_pb2.InitializeRequest, context: Any
    ) -> lifecycle_pb2.InitializeResponse:
        await self._runtime.initialize(dict(request.config), request.name)
        plugin = self._runtime.plugin
        return lifecycle_pb2.InitializeResponse(
            plugin_name=plugin.name,
            version=plugin.version,
            interfaces=self._interfaces,
            contract_version=CONTRACT_VERSION,
        )

    async def Start(  # noqa: N802
        self, request: lifecycle_pb2.StartRequest, context: Any
    ) -> lifecycle_pb2.StartResponse:
        await self._runtime.start()
        return lifecycle_pb2.StartResponse()

    async def Drain(  # noqa: N802
        self, request: lifecycle_pb2.DrainRequest, context: Any
    ) -> lifecycle_pb2.DrainResponse:
        remaining = await self._runtime.drain(request.timeout_seconds or None)
        return lifecycle_pb2.DrainResponse(remaining_requests=remaining)

    async def Stop(  # noqa: N802
        self, request: lifecycle_pb2.StopRequest, context: Any
    ) -> lifecycle_pb2.StopResponse:
        await self._runtime.stop(request.timeout_seconds or None)
        return lifecycle_pb2.StopResponse()

    async def HealthCheck(  # noqa: N802
        self, request: lifecycle_pb2.HealthCheckRequest, context: Any
    ) -> lifecycle_pb2.HealthCheckResponse:
        return report_to_proto(self._runtime.plugin.health.report())
