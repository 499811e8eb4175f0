"""Requests that fail to parse become INVALID_ARGUMENT instead of UNKNOWN with a traceback.

grpc.aio runs a method's request deserializer before any interceptor code, and an exception
there (protobuf's ``DecodeError`` for a truncated field or a non-UTF-8 string) is answered
with UNKNOWN ``Unexpected <class ...DecodeError>`` and a traceback in the log. A deserializer
cannot abort the call, so :func:`tolerate_malformed` swaps in one that returns a
:class:`MalformedRequest` marker instead, and wraps the handler's behaviour to raise
:class:`~prism.sdk.errors.InvalidArgumentError` when it meets one: the error interceptor then
answers it like any other bad input.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from prism.sdk.errors import InvalidArgumentError

Deserializer = Callable[[bytes], Any]


class MalformedRequest:
    """Stands in for a request message whose bytes did not parse."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def _message_name(deserializer: Deserializer) -> str:
    # Generated handlers pass the bound classmethod ``SetRequest.FromString``.
    cls = getattr(deserializer, "__self__", None)
    descriptor = getattr(cls, "DESCRIPTOR", None)
    name = getattr(descriptor, "full_name", None)
    return name if isinstance(name, str) else "request"


def _tolerant(deserializer: Deserializer) -> Deserializer:
    name = _message_name(deserializer)

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError as exc:
            return MalformedRequest(f"malformed {name}: {exc}")

    return deserialize


def _reject(request: Any) -> Any:
    if isinstance(request, MalformedRequest):
        raise InvalidArgumentError(request.message)
    return request


def _single(behavior: Callable[..., Any]) -> Callable[..., Any]:
    def checked(request: Any, context: grpc.aio.ServicerContext) -> Any:
        return behavior(_reject(request), context)

    return checked


async def _checked_iterator(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        yield _reject(request)


def _streamed(behavior: Callable[..., Any]) -> Callable[..., Any]:
    def checked(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
        return behavior(_checked_iterator(requests), context)

    return checked


def tolerate_malformed(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """``handler`` with a deserializer that never raises DecodeError (see module docstring).

    The wrapped behaviours raise InvalidArgumentError from inside the call, so they must be
    wrapped again by an interceptor that maps exceptions to statuses.
    """
    deserializer = handler.request_deserializer
    if deserializer is None:
        return handler
    ser = handler.response_serializer
    safe = _tolerant(deserializer)
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(_single(handler.unary_unary), safe, ser)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(_single(handler.unary_stream), safe, ser)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(_streamed(handler.stream_unary), safe, ser)
    return grpc.stream_stream_rpc_method_handler(_streamed(handler.stream_stream), safe, ser)
