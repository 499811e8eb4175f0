"""Base for gateway interceptors that need the raw request (to read its namespace).

The SDK's WrappingInterceptor hides the request and turns streaming behaviours into async
generators; the gateway's forwarding handlers take raw bytes and write streams with
``context.write``, so here the behaviour is wrapped as it is: one awaited coroutine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import grpc

Behavior = Callable[[bytes, grpc.aio.ServicerContext], Awaitable[Any]]


class RequestInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc is untyped
    """Wraps the routed contract methods (health, reflection pass through untouched)."""

    def __init__(self) -> None:
        self._routed: frozenset[str] = frozenset()
        self._cache: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def watch(self, routed: Iterable[str]) -> None:
        """The method paths to wrap."""
        self._routed = frozenset(routed)

    def wrap(self, inner: Behavior, path: str) -> Behavior:
        raise NotImplementedError

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        path: str = details.method
        if handler is None or path not in self._routed:
            return handler
        cached = self._cache.get(path)
        if cached is not None and cached[0] is handler:
            return cached[1]
        if handler.unary_unary is not None:
            wrapped = handler._replace(unary_unary=self.wrap(handler.unary_unary, path))
        else:
            wrapped = handler._replace(unary_stream=self.wrap(handler.unary_stream, path))
        self._cache[path] = (handler, wrapped)
        return wrapped
