"""ProxyServer: builds upstreams and supervisors from a ProxyConfig and serves the contract.

Startup order: bind the port first (a port in use fails before any plugin is launched), start
every plugin instance concurrently and wait for each first attempt (a plugin whose settings
are wrong fails startup with its own message), then serve. Shutdown is the reverse: health
NOT_SERVING, stop accepting calls and let in-flight ones finish, then Drain/Stop the plugins.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import grpc
from grpc_reflection.v1alpha.reflection import SERVICE_NAME as REFLECTION_SERVICE_NAME

from prism.proxy.config import ProxyConfig
from prism.proxy.contract import CONTRACT_SERVICE_NAMES, contract_methods
from prism.proxy.forward import Router, build_handlers
from prism.proxy.health import ProxyHealth
from prism.proxy.supervisor import EndpointSupervisor, ManagedSupervisor, Supervisor
from prism.proxy.upstream import Upstream
from prism.sdk.server import MAX_MESSAGE_BYTES
from prism.sdk.server.reflection import enable_server_reflection

_log = logging.getLogger(__name__)

HEALTH_SERVICE_NAME = "grpc.health.v1.Health"
SERVER_OPTIONS = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # Two proxies must not silently share one port (gRPC's default is SO_REUSEPORT on).
    ("grpc.so_reuseport", 0),
)


class ProxyServer:
    def __init__(self, config: ProxyConfig, *, host: str | None = None, port: int | None = None):
        self.config = config
        self.host = host if host is not None else config.host
        self._requested_port = port if port is not None else config.port
        methods = contract_methods()
        self.upstreams: dict[str, Upstream] = {
            name: Upstream(
                name,
                spec.label,
                methods,
                breaker_open_seconds=config.supervision.breaker_open_seconds,
            )
            for name, spec in config.instances.items()
        }
        self.supervisors: dict[str, Supervisor] = {}
        for name, spec in config.instances.items():
            if spec.managed:
                self.supervisors[name] = ManagedSupervisor(
                    spec, self.upstreams[name], config.supervision
                )
            else:
                self.supervisors[name] = EndpointSupervisor(
                    spec, self.upstreams[name], config.supervision
                )
        self.routes: dict[str, Upstream] = {
            ns: self.upstreams[inst] for ns, inst in config.routes.items()
        }
        self.health = ProxyHealth(self.routes)
        self._server: grpc.aio.Server | None = None
        self.port: int | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def route_table(self) -> Mapping[str, str]:
        """namespace -> human description of its plugin (for the startup banner)."""
        return {
            ns: f"{up.label} (instance {up.name})" if up.name != ns else up.label
            for ns, up in self.routes.items()
        }

    async def start(self) -> int:
        server = grpc.aio.server(options=SERVER_OPTIONS)
        server.add_generic_rpc_handlers(build_handlers(Router(self.routes), contract_methods()))
        self.health.add_to_server(server)
        enable_server_reflection(
            [*CONTRACT_SERVICE_NAMES, HEALTH_SERVICE_NAME, REFLECTION_SERVICE_NAME], server
        )
        try:
            port = server.add_insecure_port(f"{self.host}:{self._requested_port}")
        except RuntimeError as exc:
            raise OSError(f"cannot listen on {self.host}:{self._requested_port}: {exc}") from exc
        if port == 0:
            raise OSError(f"cannot listen on {self.host}:{self._requested_port} (port in use?)")
        self._server = server
        self.port = int(port)
        results = await asyncio.gather(
            *(s.start() for s in self.supervisors.values()), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            await self._stop_supervisors()
            raise errors[0]
        await self.health.sync()
        await server.start()
        _log.info("prism proxy listening on %s", self.address)
        return self.port

    async def stop(self, grace: float = 5.0) -> None:
        await self.health.shutdown()
        if self._server is not None:
            await self._server.stop(grace)
        await self._stop_supervisors()

    async def _stop_supervisors(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.supervisors.values()), return_exceptions=True)

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()
