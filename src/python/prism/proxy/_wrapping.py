"""Per-method wrappers around the gateway's forwarding handlers (auth, metrics).

They are applied once, when the handlers are built, not as grpc.aio server interceptors: an
interceptor runs in Python on every call (a coroutine and a handler lookup before the method
starts; the SDK moved its middleware to registration time for the same reason). Only
contract methods are wrapped; health and reflection are other handlers and pass through
untouched. The forwarding handlers take raw bytes and write streams with ``context.write``,
so a behaviour is one awaited coroutine whether its method streams or not.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import grpc

Behavior = Callable[[bytes, grpc.aio.ServicerContext], Awaitable[Any]]


class MethodWrapper(Protocol):
    def wrap(self, inner: Behavior, path: str) -> Behavior:
        """``inner`` (the behaviour of method ``path``) with this wrapper's work around it."""
        ...
