"""The state gate: contract calls are refused unless the plugin is serving.

Done once here as an interceptor instead of in every servicer: before Start (or after Drain)
any call to one of the plugin's contract services fails fast with UNAVAILABLE
``plugin <name> is not started`` (so clients retry elsewhere), and calls that are let through
are counted so Drain knows when the plugin is idle. Lifecycle, health and reflection are not
gated.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import grpc

from prism.sdk.errors import UnavailableError
from prism.sdk.plugin.runtime import PluginRuntime
from prism.sdk.server import WrappingInterceptor


def service_of(method: str) -> str:
    """``/pkg.Service/Method`` -> ``pkg.Service``."""
    return method.lstrip("/").split("/", 1)[0]


class PluginStateInterceptor(WrappingInterceptor):
    """Rejects contract calls while the plugin is not serving; tracks in-flight calls."""

    def __init__(self, runtime: PluginRuntime, services: Iterable[str]) -> None:
        super().__init__()
        self._runtime = runtime
        self._services = frozenset(services)

    def applies_to(self, method: str) -> bool:
        return service_of(method) in self._services

    def _check(self) -> None:
        if not self._runtime.serving:
            raise UnavailableError(f"plugin {self._runtime.plugin.name} is not started")

    async def around_unary(
        self,
        method: str,
        call: Callable[[], Awaitable[Any]],
        context: grpc.aio.ServicerContext,
    ) -> Any:
        self._check()
        with self._runtime.track():
            return await call()

    async def around_stream(
        self,
        method: str,
        call: Callable[[], AsyncIterator[Any]],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[Any]:
        self._check()
        with self._runtime.track():
            async for item in call():
                yield item
