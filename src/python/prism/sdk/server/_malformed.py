"""Requests that fail to parse become INVALID_ARGUMENT instead of UNKNOWN with a traceback.

grpc.aio runs a method's request deserializer before any interceptor code, and an exception
there (protobuf's ``DecodeError`` for a truncated field or a non-UTF-8 string) is answered
with UNKNOWN ``Unexpected <class ...DecodeError>`` and a traceback in the log. A deserializer
cannot abort the call, so :func:`tolerant_deserializer` makes one that returns a
:class:`MalformedRequest` marker instead, and the server's per-call wrapper raises
:class:`~prism.sdk.errors.InvalidArgumentError` when it meets one (:func:`reject_malformed`),
answered like any other bad input.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

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


def reject_malformed(request: Any) -> None:
    """Raise InvalidArgumentError if ``request`` stands for bytes that did not parse."""
    if type(request) is MalformedRequest:
        raise InvalidArgumentError(request.message)


async def checked_requests(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """``requests`` (a client stream), rejecting the first one that did not parse."""
    async for request in requests:
        reject_malformed(request)
        yield request


def tolerant_deserializer(deserializer: Deserializer | None) -> Deserializer | None:
    """``deserializer`` returning a :class:`MalformedRequest` instead of raising DecodeError.

    The handler must then call :func:`reject_malformed` (or iterate :func:`checked_requests`)
    inside an error mapper, which answers INVALID_ARGUMENT.
    """
    return None if deserializer is None else _tolerant(deserializer)
