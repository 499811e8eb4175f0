"""classify(): map any exception to a PrismError (plugin classifiers first, then built-ins)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import grpc

from prism.sdk.errors._types import (
    AlreadyExistsError,
    DeadlineExceededError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermanentError,
    PrismError,
    RequestCancelledError,
    ResourceExhaustedError,
    UnavailableError,
)

Classifier = Callable[[BaseException], PrismError | None]
"""A plugin hook: return a PrismError for exceptions it recognises, else None."""

_ERROR_BY_STATUS: dict[grpc.StatusCode, type[PrismError]] = {
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgumentError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.CANCELLED: RequestCancelledError,
}


def error_for_status(code: grpc.StatusCode, message: str | None = None) -> PrismError:
    """The PrismError a gRPC status stands for (unknown / INTERNAL codes -> PermanentError)."""
    return _ERROR_BY_STATUS.get(code, PermanentError)(message)


def backend_cancel(exc: BaseException) -> UnavailableError | None:
    """An UnavailableError for a CancelledError that is not a cancel of the running task.

    Client libraries cancel their own futures when a connection drops (nats-py's flush awaits
    a PONG future its disconnect cancels): that is the backend failing, not the caller going
    away, so it must be retryable and counted by the breaker. A cancel of the running task
    (``cancelling() > 0``), or one seen outside any task, stays a cancel (None).
    """
    if not isinstance(exc, asyncio.CancelledError):
        return None
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no running loop: nothing tells us whose cancel it is
        return None
    if task is None or task.cancelling() > 0:
        return None
    return UnavailableError("backend client cancelled its own operation")


def _builtin(exc: BaseException) -> PrismError:
    if isinstance(exc, asyncio.CancelledError):
        return backend_cancel(exc) or RequestCancelledError()
    # TimeoutError (== asyncio.TimeoutError) is an OSError: test it first.
    if isinstance(exc, TimeoutError):
        return DeadlineExceededError(str(exc) or None)
    if isinstance(exc, OSError):  # includes ConnectionError
        return UnavailableError(str(exc) or None)
    if isinstance(exc, grpc.RpcError):
        code = getattr(exc, "code", None)
        details = getattr(exc, "details", None)
        if callable(code):
            message = details() if callable(details) else None
            return error_for_status(code(), message if isinstance(message, str) else None)
    return PermanentError("internal error")


def classify(exc: BaseException, classifiers: Sequence[Classifier] = ()) -> PrismError:
    """Return the PrismError describing ``exc``.

    A PrismError is returned as-is. Otherwise each plugin classifier is tried in order and
    the first non-None answer wins; failing that: TimeoutError -> DeadlineExceededError,
    OSError / ConnectionError -> UnavailableError, grpc.RpcError -> by its status code,
    asyncio.CancelledError -> RequestCancelledError (UnavailableError if it is no cancel of
    the running task, see :func:`backend_cancel`), anything else -> PermanentError.
    The original exception is attached as ``__cause__`` of a newly built error.
    """
    if isinstance(exc, PrismError):
        return exc
    err: PrismError | None = None
    for classifier in classifiers:
        err = classifier(exc)
        if err is not None:
            break
    if err is None:
        err = _builtin(exc)
    if err is not exc and err.__cause__ is None:
        err.__cause__ = exc
    return err
