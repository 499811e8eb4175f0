"""Deadline propagation: the caller's gRPC deadline becomes the handler's deadline scope.

Inside a handler, :func:`prism.sdk.deadline.time_remaining` / ``check_deadline`` and the retry
helper then know how long the caller will still wait, so backend calls and retries never run
past it. Wrapping the handler here means plugins get it for free.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from prism.sdk.deadline import deadline_scope
from prism.sdk.server.wrapping import WrappingInterceptor


class DeadlineInterceptor(WrappingInterceptor):
    """Runs each handler inside ``deadline_scope(context.time_remaining())``."""

    async def around_unary(
        self,
        method: str,
        call: Callable[[], Awaitable[Any]],
        context: grpc.aio.ServicerContext,
    ) -> Any:
        with deadline_scope(context.time_remaining()):
            return await call()

    async def around_stream(
        self,
        method: str,
        call: Callable[[], AsyncIterator[Any]],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[Any]:
        # One scope per step rather than one across yields: a context variable must not stay
        # set while the generator is suspended (its consumer's context would see it).
        iterator = call()
        while True:
            with deadline_scope(context.time_remaining()):
                try:
                    item = await anext(iterator)
                except StopAsyncIteration:
                    return
            yield item
