"""ProxyServer: builds upstreams and supervisors from a ProxyConfig and serves the contract.

Startup order: bind the port first (a port in use fails before any plugin is launched), start
every plugin instance concurrently and wait for each first attempt (a plugin whose settings
are wrong fails startup with its own message), then serve. Shutdown is the reverse: health
NOT_SERVING, stop accepting calls and let in-flight ones finish, then Drain/Stop the plugins.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping

import grpc
from grpc_reflection.v1alpha.reflection import SERVICE_NAME as REFLECTION_SERVICE_NAME

from prism.proxy._wrapping import MethodWrapper
from prism.proxy.auth import AuthWrapper, build_authorizer
from prism.proxy.config import DEFAULT_HOST, ProxyConfig
from prism.proxy.contract import CONTRACT_SERVICE_NAMES, contract_methods
from prism.proxy.forward import Router, build_handlers
from prism.proxy.health import ProxyHealth
from prism.proxy.metrics import GatewayMetrics
from prism.proxy.supervisor import EndpointSupervisor, ManagedSupervisor, Supervisor
from prism.proxy.tls import TlsFiles, server_credentials
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
    def __init__(
        self,
        config: ProxyConfig,
        *,
        host: str | None = None,
        port: int | None = None,
        metrics_port: int | None = None,
    ):
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
        # Secured gateway: managed plugins listen on Unix sockets in a directory only this
        # user can enter (mkdtemp makes it 0700), so nothing reaches them past the gateway.
        self.socket_dir: str | None = None
        if config.tls is not None or config.auth is not None:
            self.socket_dir = tempfile.mkdtemp(prefix="prism-plugins-")
        for i, (name, spec) in enumerate(config.instances.items()):
            if spec.managed:
                host = "127.0.0.1"
                if self.socket_dir is not None:  # numbered: a socket path has ~100 bytes
                    host = f"unix:{os.path.join(self.socket_dir, str(i))}.sock"
                self.supervisors[name] = ManagedSupervisor(
                    spec, self.upstreams[name], config.supervision, host=host
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
        mc = config.metrics
        self._metrics_host = mc.host if mc is not None else DEFAULT_HOST
        if metrics_port is None and mc is not None:
            metrics_port = mc.port
        self._metrics_port = metrics_port
        self.metrics: GatewayMetrics | None = None
        if self._metrics_port is not None:
            self.metrics = GatewayMetrics(self.upstreams, self.routes)
        self.metrics_port: int | None = None

    @property
    def metrics_url(self) -> str | None:
        if self.metrics_port is None:
            return None
        return f"http://{self._metrics_host}:{self.metrics_port}/metrics"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def route_table(self) -> Mapping[str, str]:
        """namespace -> human description of its plugin (for the startup banner)."""
        return {
            ns: f"{up.label} (instance {up.name})" if up.name != ns else up.label
            for ns, up in self.routes.items()
        }

    def _wrappers(self) -> list[MethodWrapper]:
        """Metrics outermost (so denials are counted with their status), then auth."""
        out: list[MethodWrapper] = []
        if self.metrics is not None:
            out.append(self.metrics)
        if self.config.auth is not None:
            authorizer = build_authorizer(self.config.auth)
            if self.metrics is not None:
                authorizer.on_deny = self.metrics.deny
            out.append(AuthWrapper(authorizer))
        return out

    async def start(self) -> int:
        credentials = None
        if self.config.tls is not None:
            tls = self.config.tls
            credentials = server_credentials(TlsFiles(tls.cert, tls.key, tls.client_ca))
        server = grpc.aio.server(options=SERVER_OPTIONS)
        server.add_generic_rpc_handlers(
            build_handlers(Router(self.routes), contract_methods(), self._wrappers())
        )
        self.health.add_to_server(server)
        enable_server_reflection(
            [*CONTRACT_SERVICE_NAMES, HEALTH_SERVICE_NAME, REFLECTION_SERVICE_NAME], server
        )
        try:
            bind = f"{self.host}:{self._requested_port}"
            if credentials is not None:
                port = server.add_secure_port(bind, credentials)
            else:
                port = server.add_insecure_port(bind)
        except RuntimeError as exc:
            raise OSError(f"cannot listen on {self.host}:{self._requested_port}: {exc}") from exc
        if port == 0:
            raise OSError(f"cannot listen on {self.host}:{self._requested_port} (port in use?)")
        self._server = server
        self.port = int(port)
        if self.metrics is not None and self._metrics_port is not None:
            self.metrics_port = self.metrics.serve(self._metrics_host, self._metrics_port)
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
        if self.metrics is not None:
            self.metrics.close()

    async def _stop_supervisors(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.supervisors.values()), return_exceptions=True)
        if self.socket_dir is not None:
            shutil.rmtree(self.socket_dir, ignore_errors=True)

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()
