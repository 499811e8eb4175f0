"""The SDK's per-call work — request id, deadline, error mapping, metrics, access log — in one.

Every plugin call goes through this, so it is written for the hot path: one wrapper per method,
built once when the service is registered (not per call, and not as a chain of grpc.aio
interceptors, each of which costs an extra coroutine per call and a handler lookup), with
everything that can be worked out per method (metric label children, whether the method is a
quiet probe) looked up then. Per call it sets two context variables, reads the clock twice,
records two metrics and asks the access log whether to write a line (usually not). What each
concern does lives in its own module (:mod:`.request_id`, :mod:`prism.sdk.deadline`,
:mod:`.error_mapping`, :mod:`.request_metrics`, :mod:`.access_log`); this one only orders them:
the error mapper picks the status first, metrics and the access log then see that final code.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import grpc

from prism.sdk.deadline import pop_deadline, push_deadline
from prism.sdk.errors import Classifier
from prism.sdk.server._malformed import checked_requests, reject_malformed, tolerant_deserializer
from prism.sdk.server.access_log import AccessLog
from prism.sdk.server.error_mapping import ErrorMapper
from prism.sdk.server.request_id import begin_call, end_call
from prism.sdk.server.request_metrics import RequestMetrics
from prism.sdk.server.wrapping import iterate_stream_behavior

Behavior = Callable[..., Any]


def final_code(context: grpc.aio.ServicerContext, exc: BaseException | None) -> grpc.StatusCode:
    """The status code the client will see, from the context and the escaping exception."""
    code: grpc.StatusCode | None = context.code()
    if code is not None:
        return code
    if exc is None:
        return grpc.StatusCode.OK
    if isinstance(exc, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


class Middleware:
    """Wraps method handlers with the SDK's per-call behaviour (see module docstring)."""

    def __init__(
        self,
        classifiers: Sequence[Classifier] = (),
        access_log: AccessLog | None = None,
    ) -> None:
        self.errors = ErrorMapper(classifiers)
        self.access_log = access_log if access_log is not None else AccessLog()
        self._metrics = RequestMetrics()

    def wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        """``handler`` for ``method`` (``/pkg.Service/Method``) with the middleware around it."""
        deser = tolerant_deserializer(handler.request_deserializer)
        ser = handler.response_serializer
        if handler.unary_unary is not None:
            behavior = self._unary(handler.unary_unary, method, streamed_requests=False)
            return grpc.unary_unary_rpc_method_handler(behavior, deser, ser)
        if handler.stream_unary is not None:
            behavior = self._unary(handler.stream_unary, method, streamed_requests=True)
            return grpc.stream_unary_rpc_method_handler(behavior, deser, ser)
        if handler.unary_stream is not None:
            behavior = self._stream(handler.unary_stream, method, streamed_requests=False)
            return grpc.unary_stream_rpc_method_handler(behavior, deser, ser)
        behavior = self._stream(handler.stream_stream, method, streamed_requests=True)
        return grpc.stream_stream_rpc_method_handler(behavior, deser, ser)

    def _unary(self, behavior: Behavior, method: str, *, streamed_requests: bool) -> Behavior:
        record = self._metrics.for_method(method).record
        log = self.access_log.finish
        quiet = self.access_log.is_quiet(method)
        abort = self.errors.abort
        clock = time.perf_counter

        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            token = begin_call(context)
            start = clock()
            error: BaseException | None = None
            try:
                if streamed_requests:
                    request = checked_requests(request)
                else:
                    reject_malformed(request)
                timeout = context.time_remaining()
                if timeout is None:
                    return await behavior(request, context)
                deadline = push_deadline(timeout)
                try:
                    return await behavior(request, context)
                finally:
                    pop_deadline(deadline)
            except grpc.aio.AbortError as exc:
                error = exc
                raise
            except Exception as exc:
                error = exc
                await abort(method, exc, context)
            except BaseException as exc:  # cancelled: the client went away
                error = exc
                raise
            finally:
                seconds = clock() - start
                code = final_code(context, error)
                record(code, seconds)
                log(method, quiet, code, seconds, None)
                end_call(token)

        return call

    def _stream(self, behavior: Behavior, method: str, *, streamed_requests: bool) -> Behavior:
        record = self._metrics.for_method(method).record
        log = self.access_log.finish
        quiet = self.access_log.is_quiet(method)
        abort = self.errors.abort
        clock = time.perf_counter

        # Must itself be an async generator function: grpc.aio picks how to drive a streaming
        # handler from its function type, not from what it returns.
        async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            token = begin_call(context)
            start = clock()
            error: BaseException | None = None
            sent = 0
            try:
                if streamed_requests:
                    request = checked_requests(request)
                else:
                    reject_malformed(request)
                responses = iterate_stream_behavior(behavior, request, context)
                while True:
                    # One deadline per step rather than one across yields: a context variable
                    # must not stay set while the generator is suspended.
                    timeout = context.time_remaining()
                    deadline = None if timeout is None else push_deadline(timeout)
                    try:
                        item = await anext(responses)
                    except StopAsyncIteration:
                        return
                    finally:
                        if deadline is not None:
                            pop_deadline(deadline)
                    sent += 1
                    yield item
            except (grpc.aio.AbortError, GeneratorExit) as exc:
                error = exc
                raise
            except Exception as exc:
                error = exc
                await abort(method, exc, context)
            except BaseException as exc:
                error = exc
                raise
            finally:
                seconds = clock() - start
                code = final_code(context, error)
                record(code, seconds)
                log(method, quiet, code, seconds, sent)
                end_call(token)

        return call
