"""Plumbing for a plugin's own interceptors (e.g. the plugin state gate).

grpc.aio interceptors only get to swap the ``RpcMethodHandler``; to run code *around* a call
one has to rebuild the handler with a wrapped behaviour for all four call shapes. That
boilerplate lives here once, so an interceptor only says what it does around one call:
``around_unary`` for calls with a single response, ``around_stream`` for calls that stream
responses (including exceptions raised mid-stream, which a plain ``await`` wrapper would miss).
:class:`~prism.sdk.server.PluginServer` applies a WrappingInterceptor once per method when the
service is registered (:meth:`WrappingInterceptor.wrap_handler`), so it costs no grpc.aio
interceptor round per call; it also works as a plain grpc.aio interceptor.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

import grpc

UnaryBehavior = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
StreamBehavior = Callable[[Any, grpc.aio.ServicerContext], Any]


async def iterate_stream_behavior(
    behavior: StreamBehavior, request: Any, context: grpc.aio.ServicerContext
) -> AsyncIterator[Any]:
    """Run a response-streaming behaviour as an async iterator.

    grpc.aio accepts both async generators and coroutines that call ``context.write``;
    this adapts either into one iterator so wrappers need one code path.
    """
    result = behavior(request, context)
    if inspect.isawaitable(result):
        await result
        return
    async for item in result:
        yield item


class WrappingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc is untyped
    """Base class: wraps every handler's behaviour with ``around_unary`` / ``around_stream``."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def around_unary(
        self,
        method: str,
        call: Callable[[], Awaitable[Any]],
        context: grpc.aio.ServicerContext,
    ) -> Any:
        """Run ``call()`` (one response); override to add behaviour around it."""
        return await call()

    def around_stream(
        self,
        method: str,
        call: Callable[[], AsyncIterator[Any]],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[Any]:
        """Iterate ``call()`` (streamed responses); override to add behaviour around it."""
        return call()

    def applies_to(self, method: str) -> bool:
        """Whether this interceptor wraps ``method`` (all methods by default)."""
        return True

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or not self.applies_to(method):
            return handler
        # grpc.aio asks for the handler on every call; the registered handler (and therefore
        # each inner interceptor's cached wrapper) is the same object every time, so the
        # wrapper is built once per method instead of once per call.
        cached = self._cache.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(handler, method)
        self._cache[method] = (handler, wrapped)
        return wrapped

    def wrap_handler(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        """``handler`` wrapped for ``method``, or unchanged if this does not apply to it."""
        return self._wrap(handler, method) if self.applies_to(method) else handler

    def _wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        deser = handler.request_deserializer
        ser = handler.response_serializer
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, method), deser, ser
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._unary(handler.stream_unary, method), deser, ser
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(handler.unary_stream, method), deser, ser
            )
        return grpc.stream_stream_rpc_method_handler(
            self._stream(handler.stream_stream, method), deser, ser
        )

    def _unary(self, behavior: UnaryBehavior, method: str) -> UnaryBehavior:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            return await self.around_unary(method, lambda: behavior(request, context), context)

        return wrapped

    def _stream(
        self, behavior: StreamBehavior, method: str
    ) -> Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]:
        # Must itself be an async generator function: grpc.aio picks how to drive a streaming
        # handler from its function type, not from what it returns.
        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            call = partial(iterate_stream_behavior, behavior, request, context)
            async for item in self.around_stream(method, call, context):
                yield item

        return wrapped
