"""Per-request id, shared by the middleware and handlers through a contextvar.

The id is the caller's ``x-request-id`` metadata, else a fresh random one, so an access log
line, an INTERNAL error message and the server-side traceback can all be matched up. It is
worked out lazily, the first time something asks: most calls are neither logged nor failed,
and parsing metadata and drawing random bytes for every one of them would be wasted work.
"""

from __future__ import annotations

import contextvars
import os
from typing import Any

REQUEST_ID_METADATA_KEY = "x-request-id"
_MAX_ID_CHARS = 128


class _Call:
    """The call being handled in this context; its id once someone asked for it."""

    __slots__ = ("context", "request_id")

    def __init__(self, context: Any) -> None:
        self.context = context
        self.request_id: str | None = None


_call: contextvars.ContextVar[_Call | None] = contextvars.ContextVar("prism_call", default=None)


def begin_call(context: Any) -> contextvars.Token[_Call | None]:
    """Make ``context``'s call current; returns the token for :func:`end_call`."""
    return _call.set(_Call(context))


def end_call(token: contextvars.Token[_Call | None]) -> None:
    """Restore the previous call (tolerates a token from another context)."""
    try:
        _call.reset(token)
    except ValueError:
        _call.set(None)


def current_request_id() -> str | None:
    """The id of the request being handled in this context, if any."""
    call = _call.get()
    if call is None:
        return None
    request_id = call.request_id
    if request_id is None:
        request_id = call.request_id = _from_metadata(call.context) or new_request_id()
    return request_id


def new_request_id() -> str:
    """A fresh random request id (32 hex chars; cheaper than building a uuid4 object)."""
    return os.urandom(16).hex()


def _from_metadata(context: Any) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_METADATA_KEY and value:
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            return text[:_MAX_ID_CHARS]
    return None
