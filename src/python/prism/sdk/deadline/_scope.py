"""The deadline context variable and its helpers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

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


@contextmanager
def deadline_scope(timeout: float | None) -> Iterator[float | None]:
    """Run the block with a deadline ``timeout`` seconds from now.

    ``None`` adds no bound (an outer deadline still applies). When a deadline is already
    active the earlier of the two wins. Yields the effective deadline.
    """
    outer = _deadline.get()
    effective = outer
    if timeout is not None:
        candidate = time.monotonic() + timeout
        effective = candidate if outer is None else min(outer, candidate)
    token = _deadline.set(effective)
    try:
        yield effective
    finally:
        _deadline.reset(token)


def check_deadline() -> None:
    """Raise DeadlineExceededError if the active deadline has passed."""
    deadline = _deadline.get()
    if deadline is not None:
        overdue = time.monotonic() - deadline
        if overdue >= 0:
            raise DeadlineExceededError(f"deadline exceeded {overdue:.3f}s ago")
