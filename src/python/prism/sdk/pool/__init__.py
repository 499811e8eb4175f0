"""A generic asyncio connection pool for any backend client.

What it is for: every Prism plugin talks to a backend through client connections that are
slow to open and limited in number (Redis, Kafka admin clients, SQL drivers). ``Pool``
bounds how many are open, lends them out with ``async with pool.acquire() as conn:``, and
looks after them: it keeps ``min_idle`` ready in the background, waits FIFO (with a timeout
that raises a descriptive PoolExhaustedError) when all ``max_open`` are lent out, recycles
connections after a jittered ``max_lifetime`` and after ``idle_timeout``, validates them on
borrow (optional) and every ``health_interval``, discards ones that broke while in use, warns
with the borrower's stack when one is held longer than ``leak_threshold``, and closes
gracefully (refusing new acquires, waiting for lent connections). ``stats()`` and the
``prism_pool_*`` Prometheus series (label ``pool``) show how it is doing.

Why our own code: there is no well-kept asyncio *generic* pool offering lifetime jitter,
leak detection and cancellation-safe FIFO waiting together. redis-py's pool is specific to
Redis connections (and has no idle/lifetime policy or leak detection); aiopg/asyncpg pools
are driver-specific; the generic ones on PyPI are unmaintained or lack these features.

Cancellation safety: a waiter that is cancelled or times out leaves nothing behind; a
connection whose creation finishes after its waiter left goes to the next waiter, or idle.
A failing ``factory.create()`` frees its slot and reaches the waiter as a classified
PrismError (UnavailableError for connection errors); an acquire that times out while nothing
is lent out but a connection is still being opened raises UnavailableError ("could not open a
connection"), not PoolExhaustedError. ``classifiers=`` (the plugin's) are used by that
classification and by the default ``is_broken``, so client-library errors that are not
OSErrors (redis-py's ConnectionError) still discard the connection.

``pool_busy_check(pool)`` is the matching health check: DEGRADED above 90% busy.
``connect_within(...)`` is for a factory's ``create``: a bounded handshake that closes the
half-open client on failure and reports a backend that does not answer as UNAVAILABLE.
"""

from prism.sdk.pool.busy import pool_busy_check
from prism.sdk.pool.config import ConnectionFactory, PoolConfig
from prism.sdk.pool.connect import connect_within
from prism.sdk.pool.pool import Lease, Pool, default_is_broken
from prism.sdk.pool.stats import DESTROY_CAUSES, PoolStats

__all__ = [
    "DESTROY_CAUSES",
    "ConnectionFactory",
    "Lease",
    "Pool",
    "PoolConfig",
    "PoolStats",
    "connect_within",
    "default_is_broken",
    "pool_busy_check",
]
