"""Per-request id, shared by the interceptors through a contextvar.

The logging interceptor decides the id once (the caller's ``x-request-id`` metadata, else a
fresh one) and every later interceptor and handler reads the same value, so a log line, an
INTERNAL error message and the server-side traceback can all be matched up.
"""

from __future__ import annotations

import contextvars
import os

import grpc

REQUEST_ID_METADATA_KEY = "x-request-id"
_MAX_ID_CHARS = 128

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "prism_request_id", default=None
)


def current_request_id() -> str | None:
    """The id of the request being handled in this context, if any."""
    return _request_id.get()


def set_request_id(request_id: str) -> contextvars.Token[str | None]:
    """Make ``request_id`` current; returns the token to reset it with."""
    return _request_id.set(request_id)


def reset_request_id(token: contextvars.Token[str | None]) -> None:
    """Restore the previous request id (tolerates a token from another context)."""
    try:
        _request_id.reset(token)
    except ValueError:
        _request_id.set(None)


def new_request_id() -> str:
    """A fresh random request id (32 hex chars; cheaper than building a uuid4 object)."""
    return os.urandom(16).hex()


def request_id_from_context(context: grpc.aio.ServicerContext) -> str:
    """The current id, else the caller's ``x-request-id`` (trimmed), else a new one."""
    current = _request_id.get()
    if current:
        return current
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_METADATA_KEY and value:
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            return text[:_MAX_ID_CHARS]
    return new_request_id()
