"""Error standardisation: exceptions become the contract's status codes, never tracebacks.

Servicers just raise :class:`~prism.sdk.errors.PrismError` subclasses (or let backend errors
escape); this interceptor turns them into ``context.abort(status, message)``. Anything that is
not a PrismError (after the plugin's own classifiers had a go) is a bug or an unknown backend
failure: the client gets INTERNAL ``internal error (request id X)`` and the traceback goes to
the server log under the same id, so internals never leak but the failure is still traceable.
Errors raised mid-stream are handled the same way, and so are request bytes that do not parse
(INVALID_ARGUMENT ``malformed <Message>: ...``, see :mod:`._malformed`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, NoReturn

import grpc

from prism.sdk.errors import Classifier, PrismError
from prism.sdk.server._malformed import tolerate_malformed
from prism.sdk.server.request_id import request_id_from_context
from prism.sdk.server.wrapping import WrappingInterceptor

ERROR_LOGGER = "prism.errors"


class ErrorInterceptor(WrappingInterceptor):
    """Maps exceptions escaping a handler to gRPC statuses (see module docstring)."""

    def __init__(
        self,
        classifiers: Sequence[Classifier] = (),
        logger: logging.Logger | None = None,
    ) -> None:
        super().__init__()
        self._classifiers = tuple(classifiers)
        self._log = logger or logging.getLogger(ERROR_LOGGER)

    async def around_unary(
        self,
        method: str,
        call: Callable[[], Awaitable[Any]],
        context: grpc.aio.ServicerContext,
    ) -> Any:
        try:
            return await call()
        except (grpc.aio.AbortError, asyncio.CancelledError):
            raise
        except Exception as exc:
            await self._abort(method, exc, context)

    async def around_stream(
        self,
        method: str,
        call: Callable[[], AsyncIterator[Any]],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[Any]:
        try:
            async for item in call():
                yield item
        except (grpc.aio.AbortError, asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as exc:
            await self._abort(method, exc, context)

    def _wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        return super()._wrap(tolerate_malformed(handler), method)

    def to_prism_error(self, exc: Exception) -> PrismError | None:
        """The PrismError for ``exc``: itself, or a plugin classifier's verdict, else None."""
        if isinstance(exc, PrismError):
            return exc
        for classifier in self._classifiers:
            mapped = classifier(exc)
            if mapped is not None:
                return mapped
        return None

    async def _abort(
        self, method: str, exc: Exception, context: grpc.aio.ServicerContext
    ) -> NoReturn:
        error = self.to_prism_error(exc)
        if error is not None:
            await context.abort(error.grpc_status, error.message)
        if isinstance(exc, NotImplementedError) and context.code() is grpc.StatusCode.UNIMPLEMENTED:
            # A generated servicer base method the plugin did not override: not a bug.
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented")
        request_id = request_id_from_context(context)
        self._log.error(
            "unhandled exception in %s (request id %s)",
            method,
            request_id,
            exc_info=exc,
            extra={"prism": {"request_id": request_id, "method": method}},
        )
        await context.abort(grpc.StatusCode.INTERNAL, f"internal error (request id {request_id})")
        raise AssertionError("context.abort returned")  # pragma: no cover
