"""Request deadline propagation.

Why: a gRPC request arrives with a deadline, but the code that should honour it (retry
back-off, pool acquire, backend calls) sits several awaits away from the servicer. Passing a
``timeout`` argument through every layer is noisy and easy to forget, so the deadline rides
in a :mod:`contextvars` variable instead: it follows the request's task (and tasks it spawns,
which copy the context) and never leaks into other requests.

Deadlines are absolute ``time.monotonic()`` instants, so they are immune to wall-clock jumps.
Nested :func:`deadline_scope` blocks keep the earliest deadline: an inner layer may shorten
the time budget, never extend it. Our own code because it is a few lines over contextvars.
"""

from prism.sdk.deadline._scope import (
    check_deadline,
    current_deadline,
    deadline_scope,
    pop_deadline,
    push_deadline,
    time_remaining,
)

__all__ = [
    "check_deadline",
    "current_deadline",
    "deadline_scope",
    "pop_deadline",
    "push_deadline",
    "time_remaining",
]
