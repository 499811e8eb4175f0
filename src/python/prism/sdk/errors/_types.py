"""The PrismError hierarchy: one class per error kind, each knowing its gRPC status."""

from __future__ import annotations

import enum
from typing import ClassVar

import grpc


class ErrorKind(enum.Enum):
    """What went wrong, independent of the backend; each kind maps to one gRPC status."""

    NOT_FOUND = "not_found"
    INVALID_ARGUMENT = "invalid_argument"
    ALREADY_EXISTS = "already_exists"
    FAILED_PRECONDITION = "failed_precondition"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    UNAVAILABLE = "unavailable"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    CANCELLED = "cancelled"
    PERMANENT = "permanent"
    INTERNAL = "permanent"  # alias of PERMANENT: reported to clients as INTERNAL

    @property
    def grpc_status(self) -> grpc.StatusCode:
        """The gRPC status code a client sees for this kind."""
        return _STATUS_BY_KIND[self]


_STATUS_BY_KIND: dict[ErrorKind, grpc.StatusCode] = {
    ErrorKind.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorKind.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorKind.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    ErrorKind.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorKind.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorKind.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorKind.DEADLINE_EXCEEDED: grpc.StatusCode.DEADLINE_EXCEEDED,
    ErrorKind.CANCELLED: grpc.StatusCode.CANCELLED,
    ErrorKind.PERMANENT: grpc.StatusCode.INTERNAL,
}


class PrismError(Exception):
    """Base of every error a plugin reports to its caller.

    ``kind`` decides the gRPC status; ``retryable`` tells retry/breaker/pool whether the
    failure is transient (the same request may succeed later) or not.
    """

    kind: ClassVar[ErrorKind] = ErrorKind.PERMANENT
    retryable: ClassVar[bool] = False
    default_message: ClassVar[str] = "internal error"

    def __init__(self, message: str | None = None) -> None:
        self.message: str = self.default_message if message is None else message
        super().__init__(self.message)

    @property
    def grpc_status(self) -> grpc.StatusCode:
        """The gRPC status code for this error (from its kind)."""
        return self.kind.grpc_status

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class NotFoundError(PrismError):
    """The key / namespace / subscription does not exist."""

    kind = ErrorKind.NOT_FOUND
    default_message = "not found"


class InvalidArgumentError(PrismError):
    """The request is malformed (bad key, value too large, ...); retrying cannot help."""

    kind = ErrorKind.INVALID_ARGUMENT
    default_message = "invalid argument"


class AlreadyExistsError(PrismError):
    """Something the request would create already exists."""

    kind = ErrorKind.ALREADY_EXISTS
    default_message = "already exists"


class FailedPreconditionError(PrismError):
    """The system is not in a state where the request can run (e.g. plugin not started)."""

    kind = ErrorKind.FAILED_PRECONDITION
    default_message = "failed precondition"


class ResourceExhaustedError(PrismError):
    """A quota or capacity limit was hit."""

    kind = ErrorKind.RESOURCE_EXHAUSTED
    default_message = "resource exhausted"


class UnavailableError(PrismError):
    """The backend cannot be reached right now; the same request may succeed later."""

    kind = ErrorKind.UNAVAILABLE
    retryable = True
    default_message = "backend unavailable"


class DeadlineExceededError(PrismError):
    """The request's deadline passed (or an operation timed out)."""

    kind = ErrorKind.DEADLINE_EXCEEDED
    retryable = True
    default_message = "timeout"


class RequestCancelledError(PrismError):
    """The caller cancelled the request."""

    kind = ErrorKind.CANCELLED
    default_message = "request cancelled"


class PermanentError(PrismError):
    """An unexpected failure (a bug or an unknown backend error); reported as INTERNAL."""

    kind = ErrorKind.PERMANENT
    default_message = "internal error"


class CircuitOpenError(UnavailableError):
    """Raised by a circuit breaker that is open: the call was rejected without being tried."""

    def __init__(self, breaker: str, retry_after: float) -> None:
        self.breaker = breaker
        self.retry_after = max(0.0, retry_after)
        super().__init__(
            f"circuit breaker {breaker!r} is open; next trial call in {self.retry_after:.2f}s"
        )


class PoolExhaustedError(ResourceExhaustedError):
    """Raised when no pooled connection became free within the acquire timeout."""

    default_message = "connection pool exhausted"
