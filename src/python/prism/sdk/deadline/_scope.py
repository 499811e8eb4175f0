"""The deadline context variable and its helpers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

from prism.sdk.errors import DeadlineExceededError

_deadline: ContextVar[float | None] = ContextVar("prism_deadline", default=None)


def current_deadline() -> float | None:
    """The active deadline as a ``time.monotonic()`` instant, or None if unbounded."""
    return _deadline.get()


def time_remaining() -> float | None:
    """Seconds left before the active deadline (never negative), or None if unbounded."""
    deadline = _deadline.get()
    if deadline is None:
        return None
    return max(0.0, deadline - time.monotonic())


def push_deadline(timeout: float) -> Token[float | None]:
    """Enter a deadline ``timeout`` seconds from now (the earlier one wins); undo with pop.

    :func:`deadline_scope` without the generator, for the server's per-call path.
    """
    candidate = time.monotonic() + timeout
    outer = _deadline.get()
    return _deadline.set(candidate if outer is None or candidate < outer else outer)


def pop_deadline(token: Token[float | None]) -> None:
    """Leave the deadline entered by :func:`push_deadline`."""
    _deadline.reset(token)


@contextmanager
def deadline_scope(timeout: float | None) -> Iterator[float | None]:
    """Run the block with a deadline ``timeout`` seconds from now.

    ``None`` adds no bound (an outer deadline still applies). When a deadline is already
    active the earlier of the two wins. Yields the effective deadline.
    """
    token = _deadline.set(_deadline.get()) if timeout is None else push_deadline(timeout)
    try:
        yield _deadline.get()
    finally:
        pop_deadline(token)


def check_deadline() -> None:
    """Raise DeadlineExceededError if the active deadline has passed."""
    deadline = _deadline.get()
    if deadline is not None:
        overdue = time.monotonic() - deadline
        if overdue >= 0:
            raise DeadlineExceededError(f"deadline exceeded {overdue:.3f}s ago")
