"""PluginServer: a plugin's contract servicers on a grpc.aio server with the SDK's middleware.

Every plugin needs the same server: bound to loopback by default (the proxy is local), the
standard per-call middleware (access log, metrics, error mapping, deadline propagation),
grpc.health.v1 and server reflection for its services, an optional Prometheus endpoint, and a
graceful stop that drains in-flight calls. Keeping that here means a plugin only supplies its
servicers, and all plugins behave the same on the wire.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_reflection.v1alpha.reflection import SERVICE_NAME as REFLECTION_SERVICE_NAME
from prometheus_client import start_http_server

from prism.sdk.errors import Classifier
from prism.sdk.health import GrpcHealthService, HealthChecker
from prism.sdk.server.access_log import AccessLog
from prism.sdk.server.middleware import Middleware
from prism.sdk.server.reflection import enable_server_reflection
from prism.sdk.server.wrapping import WrappingInterceptor

_log = logging.getLogger(__name__)
UNIX_PREFIX = "unix:"

HEALTH_SERVICE_NAME = "grpc.health.v1.Health"
# Values may be 2 MiB (prism.sdk.limits.MAX_VALUE_BYTES); leave room for keys, tags, framing
# and future growth: 4 MiB plus 64 KiB of overhead, both directions.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024 + 64 * 1024


@dataclass(frozen=True)
class ServiceBinding:
    """One gRPC service to serve: generated ``add_XServicer_to_server``, servicer, full name.

    ``name`` is the fully qualified service name (e.g. ``prism.KeyValueBasicInterface``) used
    for reflection and grpc.health.v1 status.
    """

    add_to_server: Callable[[Any, grpc.aio.Server], None]
    servicer: object
    name: str


Wrap = Callable[[grpc.RpcMethodHandler, str], grpc.RpcMethodHandler]


class _CachingGenericHandler(grpc.GenericRpcHandler):  # type: ignore[misc]  # grpc is untyped
    """A generated service's generic handler, each method's handler wrapped on first use.

    Generated handlers answer the same handler for a method every time, so the wrapped one is
    kept: later calls cost one dict lookup.
    """

    def __init__(self, inner: grpc.GenericRpcHandler, wrap: Wrap) -> None:
        self._inner = inner
        self._wrap = wrap
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method: str = details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = self._inner.service(details)
            if handler is None:
                return None
            wrapped = self._wrapped[method] = self._wrap(handler, method)
        return wrapped


class _WrappingRegistrar:
    """Stands in for the server in ``add_XServicer_to_server``: every handler gets wrapped."""

    def __init__(self, server: grpc.aio.Server, wrap: Wrap) -> None:
        self._server = server
        self._wrap = wrap

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(
            tuple(_CachingGenericHandler(h, self._wrap) for h in handlers)
        )

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler]
    ) -> None:
        self._server.add_registered_method_handlers(
            service, {name: self._wrap(h, f"/{service}/{name}") for name, h in handlers.items()}
        )


class PluginServer:
    """A grpc.aio server with the SDK middleware, health, reflection and metrics endpoint.

    Every method handler is wrapped once, at registration: ``interceptors`` that are
    :class:`WrappingInterceptor` s (e.g. the plugin state gate) innermost, then the SDK
    :class:`~prism.sdk.server.middleware.Middleware` (request id, deadline, error mapping,
    metrics, access log), so metrics and the access log see the final status code. Other
    grpc.aio interceptors run as usual, before all of that. ``access_log`` sets the access log
    policy (default: errors, slow calls and 1 in 100 others).
    """

    def __init__(
        self,
        services: Sequence[ServiceBinding] = (),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        health: HealthChecker | None = None,
        metrics_port: int | None = None,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        classifiers: Sequence[Classifier] = (),
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        reflection_enabled: bool = True,
        access_log: AccessLog | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._services = list(services)
        self._own_health = health is None
        self.health = health if health is not None else HealthChecker()
        self._metrics_port = metrics_port
        self._interceptors = list(interceptors)
        self._middleware = Middleware(classifiers, access_log)
        self._max_message_bytes = max_message_bytes
        self._reflection = reflection_enabled
        self._server: grpc.aio.Server | None = None
        self._health_service: GrpcHealthService | None = None
        self._metrics_httpd: Any = None
        self._metrics_thread: threading.Thread | None = None
        self._port: int | None = None

    @property
    def service_names(self) -> list[str]:
        """Fully qualified names of the registered services (without health/reflection)."""
        return [s.name for s in self._services]

    @property
    def port(self) -> int:
        """The bound gRPC port (after ``start()``)."""
        if self._port is None:
            raise RuntimeError("server is not started")
        return self._port

    @property
    def address(self) -> str:
        """``host:port`` the server listens on (after ``start()``), or the ``unix:`` path."""
        if self.host.startswith(UNIX_PREFIX):
            return self.host
        return f"{self.host}:{self.port}"

    @property
    def metrics_port(self) -> int | None:
        """The bound Prometheus HTTP port, if the endpoint is enabled and started."""
        return None if self._metrics_httpd is None else int(self._metrics_httpd.server_port)

    @property
    def health_service(self) -> GrpcHealthService | None:
        return self._health_service

    def add_service(self, binding: ServiceBinding) -> None:
        """Register one more service; only before ``start()``."""
        if self._server is not None:
            raise RuntimeError("cannot add services after start()")
        self._services.append(binding)

    def _wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        for interceptor in reversed(self._interceptors):
            if isinstance(interceptor, WrappingInterceptor):
                handler = interceptor.wrap_handler(handler, method)
        return self._middleware.wrap(handler, method)

    async def start(self) -> int:
        """Bind, register everything and start serving; returns the bound port."""
        if self._server is not None:
            raise RuntimeError("server already started")
        options = [
            ("grpc.max_receive_message_length", self._max_message_bytes),
            ("grpc.max_send_message_length", self._max_message_bytes),
            # Without this a second process could bind the same port and silently share traffic.
            ("grpc.so_reuseport", 0),
        ]
        others = [i for i in self._interceptors if not isinstance(i, WrappingInterceptor)]
        server = grpc.aio.server(interceptors=others or None, options=options)
        registrar: Any = _WrappingRegistrar(server, self._wrap)
        for binding in self._services:
            binding.add_to_server(binding.servicer, registrar)
        self._health_service = GrpcHealthService(self.health, self.service_names)
        self._health_service.add_to_server(registrar)
        if self._reflection:
            names = [*self.service_names, HEALTH_SERVICE_NAME, REFLECTION_SERVICE_NAME]
            enable_server_reflection(names, registrar)
        # host "unix:/dir/x.sock": a Unix domain socket (the proxy's managed plugins); no port.
        unix = self.host.startswith(UNIX_PREFIX)
        address = self.host if unix else f"{self.host}:{self._requested_port}"
        try:
            port = int(server.add_insecure_port(address))
        except Exception as exc:
            await server.stop(None)
            raise OSError(f"could not bind gRPC server to {address}: {exc}") from exc
        if port == 0:  # older grpcio reports a failed bind as port 0
            await server.stop(None)
            raise OSError(f"could not bind gRPC server to {address}")
        await server.start()
        self._server = server
        self._port = port
        if self._own_health:
            self.health.set_ready(True)
        await self._health_service.sync()
        if self._metrics_port is not None:
            self._start_metrics_endpoint(self._metrics_port)
        _log.info("gRPC server listening on %s:%d", self.host, port)
        return port

    def _start_metrics_endpoint(self, port: int) -> None:
        addr = "127.0.0.1" if self.host.startswith(UNIX_PREFIX) else self.host
        httpd, thread = start_http_server(port, addr=addr)
        self._metrics_httpd = httpd
        self._metrics_thread = thread
        _log.info("metrics endpoint on http://%s:%d/metrics", self.host, httpd.server_port)

    async def stop(self, grace: float | None = 5.0) -> None:
        """Stop accepting calls, let in-flight ones finish within ``grace`` s, then cancel them.

        Health turns NOT_SERVING first so probes stop routing here while the drain runs.
        """
        server = self._server
        if server is None:
            return
        if self._health_service is not None:
            await self._health_service.enter_graceful_shutdown()
        await server.stop(grace)
        if self._health_service is not None:
            await self._health_service.close()
        if self._metrics_httpd is not None:
            httpd = self._metrics_httpd
            self._metrics_httpd = None
            await asyncio.to_thread(httpd.shutdown)
            httpd.server_close()
        self._server = None

    async def wait_for_termination(self, timeout: float | None = None) -> bool:
        """Block until the server stops (True) or ``timeout`` passes (False)."""
        if self._server is None:
            return True
        timed_out: bool = await self._server.wait_for_termination(timeout)
        return not timed_out
