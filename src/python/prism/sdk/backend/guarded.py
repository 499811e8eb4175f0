"""GuardedPool: a backend's connection pool behind a circuit breaker, with its health checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from prism.sdk.backend.resource import Resource
from prism.sdk.backend.settings import GuardedPoolSettings
from prism.sdk.errors import Classifier, PoolExhaustedError, reraise_classified
from prism.sdk.health import CheckOutcome, HealthChecker, HealthStatus
from prism.sdk.pool import ConnectionFactory, Pool, pool_busy_check
from prism.sdk.resilience import CircuitBreaker

C = TypeVar("C")
T = TypeVar("T")


class GuardedPool(Resource, Generic[C]):
    """``await guarded.run(fn)`` runs ``fn(conn)`` on a pooled connection, behind the breaker.

    Pool, breaker and ``run`` share the plugin's ``classifiers``: a client-library error they
    recognise discards the connection, counts as a breaker failure and is raised as its
    PrismError; other exceptions pass through unchanged. ``settings`` size the pool and time
    the breaker; ``breaker`` replaces the default breaker entirely.
    """

    def __init__(
        self,
        name: str,
        factory: ConnectionFactory[C],
        settings: GuardedPoolSettings = GuardedPoolSettings(),  # noqa: B008 - never mutated
        *,
        classifiers: Sequence[Classifier] = (),
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.name, self.classifiers, self._factory = name, tuple(classifiers), factory
        config = settings.pool_config()
        self.pool: Pool[C] = Pool(factory, config, name=name, classifiers=self.classifiers)
        if breaker is None:
            open_s = settings.breaker_open_seconds
            breaker = CircuitBreaker(name, open_seconds=open_s, classifiers=self.classifiers)
        self.breaker = breaker

    async def start(self) -> None:
        """Start the pool (it begins opening ``pool_min_idle`` connections)."""
        await self.pool.start()

    async def close(self, timeout: float | None = None) -> None:
        """Close the pool (waiting up to ``timeout`` for lent connections)."""
        await self.pool.close(timeout=timeout)

    async def run(self, fn: Callable[[C], Awaitable[T]]) -> T:
        """``fn(conn)`` on a borrowed connection, through the breaker (CircuitOpenError while
        it is open); errors the classifiers recognise are raised as PrismErrors."""

        async def attempt() -> T:
            async with self.pool.acquire() as conn:
                return await fn(conn)

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
