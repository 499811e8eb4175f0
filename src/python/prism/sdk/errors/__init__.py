"""Error classification for Prism plugins.

Why: every plugin talks to a different backend (Redis, Kafka, ...) that raises its own
exception types. Servicers, the retry helper, the circuit breaker and the pool all need one
answer to two questions about any exception: "which gRPC status does the caller see?" and
"is it worth trying again?". ``PrismError`` subclasses carry both answers as class
attributes (``kind`` / ``grpc_status`` and ``retryable``), and :func:`classify` turns any
exception into one of them, trying plugin-supplied classifiers before the built-in rules.
``with reraise_classified(classifiers):`` raises a client library's errors that a plugin
classifier recognises as their PrismError right where they happen (others pass unchanged).

This is our own code rather than a library because the mapping *is* the contract: the
status codes a client sees are defined by Prism, not by any backend.
"""

from prism.sdk.errors._classify import Classifier, backend_cancel, classify, error_for_status
from prism.sdk.errors._reraise import reraise_classified
from prism.sdk.errors._types import (
    AlreadyExistsError,
    CircuitOpenError,
    DeadlineExceededError,
    ErrorKind,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermanentError,
    PoolExhaustedError,
    PrismError,
    RequestCancelledError,
    ResourceExhaustedError,
    UnavailableError,
)

__all__ = [
    "AlreadyExistsError",
    "CircuitOpenError",
    "Classifier",
    "DeadlineExceededError",
    "ErrorKind",
    "FailedPreconditionError",
    "InvalidArgumentError",
    "NotFoundError",
    "PermanentError",
    "PoolExhaustedError",
    "PrismError",
    "RequestCancelledError",
    "ResourceExhaustedError",
    "UnavailableError",
    "backend_cancel",
    "classify",
    "error_for_status",
    "reraise_classified",
]
