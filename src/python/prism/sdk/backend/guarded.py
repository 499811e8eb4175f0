"""GuardedPool: a backend's connection pool behind a circuit breaker, with its health checks."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from prism.sdk.backend.resource import Resource
from prism.sdk.backend.settings import GuardedPoolSettings
from prism.sdk.errors import (
    CircuitOpenError,
    Classifier,
    PoolExhaustedError,
    UnavailableError,
    classify,
    reraise_classified,
)
from prism.sdk.health import CheckOutcome, HealthChecker, HealthStatus
from prism.sdk.pool import ConnectionFactory, Pool, pool_busy_check
from prism.sdk.resilience import BreakerState, CircuitBreaker

C = TypeVar("C")
T = TypeVar("T")


class GuardedPool(Resource, Generic[C]):
    """``await guarded.run(fn)`` runs ``fn(conn)`` on a pooled connection, behind the breaker.

    Pool, breaker and ``run`` share the plugin's ``classifiers``: a client-library error they
    recognise discards the connection, counts as a breaker failure and is raised as its
    PrismError; other exceptions pass through unchanged. ``settings`` size the pool and time
    the breaker; ``breaker`` replaces the default breaker entirely; ``is_broken`` replaces the
    pool's rule for discarding a connection after an error (for clients that recover by
    themselves). A failing backend is never reported as RESOURCE_EXHAUSTED: when the breaker
    opens, callers waiting for a connection fail with CircuitOpenError at once, and see ``run``.
    """

    def __init__(
        self,
        name: str,
        factory: ConnectionFactory[C],
        settings: GuardedPoolSettings = GuardedPoolSettings(),  # noqa: B008 - never mutated
        *,
        classifiers: Sequence[Classifier] = (),
        breaker: CircuitBreaker | None = None,
        is_broken: Callable[[BaseException], bool] | None = None,
    ) -> None:
        self.name, self.classifiers, self._factory = name, tuple(classifiers), factory
        config = settings.pool_config()
        self.pool: Pool[C] = Pool(
            factory, config, name=name, classifiers=self.classifiers, is_broken=is_broken
        )
        if breaker is None:
            open_s = settings.breaker_open_seconds
            breaker = CircuitBreaker(name, open_seconds=open_s, classifiers=self.classifiers)
        self.breaker = breaker
        breaker.add_listener(self._on_breaker)
        self._failed_at = float("-inf")  # when a call on a pooled connection last failed

    def _on_breaker(self, name: str, old: BreakerState, new: BreakerState) -> None:
        """When the breaker opens, callers queued for a connection fail UNAVAILABLE now."""
        if new is BreakerState.OPEN:
            self.pool.fail_waiters(lambda: CircuitOpenError(name, self.breaker.retry_after))

    async def start(self) -> None:
        """Start the pool (it begins opening ``pool_min_idle`` connections)."""
        await self.pool.start()

    async def close(self, timeout: float | None = None) -> None:
        """Close the pool (waiting up to ``timeout`` for lent connections)."""
        await self.pool.close(timeout=timeout)

    async def run(self, fn: Callable[[C], Awaitable[T]]) -> T:
        """``fn(conn)`` on a borrowed connection, through the breaker (CircuitOpenError while
        it is open); errors the classifiers recognise are raised as PrismErrors. A wait for a
        connection that times out within the breaker's window of a failed call (UNAVAILABLE
        or DEADLINE_EXCEEDED) is UNAVAILABLE: the backend is failing or still recovering
        (slow), not short of connections."""

        async def attempt() -> T:
            waiting_since = time.monotonic()
            try:
                async with self.pool.acquire() as conn:
                    try:
                        return await fn(conn)
                    except Exception as exc:
                        if classify(exc, self.classifiers).retryable:
                            self._failed_at = time.monotonic()
                        raise
            except PoolExhaustedError as exc:
                if self._failed_at < waiting_since - self.breaker.window_seconds:
                    raise  # the connections were busy serving: capacity
                raise UnavailableError(f"{exc.message}; the backend is failing") from exc

        with reraise_classified(self.classifiers):
            return await self.breaker.call(attempt)

    def register_health(
        self,
        health: HealthChecker,
        *,
        check: str | None = None,
        pool_check: str = "pool",
        busy_threshold: float = 0.9,
    ) -> None:
        """Register the backend's health checks on ``health``.

        ``check`` (default: the pool's name, critical) validates a borrowed connection with
        ``factory.validate`` through ``run``: a down backend or an open breaker is UNHEALTHY,
        but an exhausted pool is only DEGRADED (the backend is busy serving us, not down).
        ``pool_check`` (non-critical) is :func:`~prism.sdk.pool.pool_busy_check`. A breaker
        state change re-runs the checks at once, so an outage (or the recovery) shows now,
        not at the next interval.
        """

        async def ping() -> CheckOutcome | None:
            try:
                ok = await self.run(self._factory.validate)
            except PoolExhaustedError as exc:
                return CheckOutcome(HealthStatus.DEGRADED, f"ping skipped: {exc.message}")
            return None if ok else CheckOutcome(HealthStatus.UNHEALTHY, "validation failed")

        health.register(check or self.name, ping)
        health.register(pool_check, pool_busy_check(self.pool, busy_threshold), critical=False)
        self.breaker.add_listener(health.recheck_soon)
