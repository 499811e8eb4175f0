"""GuardedPool: pool + breaker + classifiers on one call path, and its health wiring."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from prism.sdk.backend import GuardedPool, GuardedPoolSettings
from prism.sdk.errors import (
    CircuitOpenError,
    PoolExhaustedError,
    PrismError,
    UnavailableError,
)
from prism.sdk.health import HealthChecker, HealthStatus
from prism.sdk.resilience import BreakerState, CircuitBreaker
from sdk.pool.pool_fakes import FakeConn, FakeFactory, eventually

_ids = itertools.count()


class ClientDown(Exception):
    """Like redis-py's ConnectionError: a client-library error that is no OSError."""


class ClientRefused(Exception):
    """A backend reply the plugin inspects itself (like Redis "BUSYGROUP")."""


def classify_client(exc: BaseException) -> PrismError | None:
    return UnavailableError(f"backend down: {exc}") if isinstance(exc, ClientDown) else None


def make(
    factory: FakeFactory, *, breaker: CircuitBreaker | None = None, **settings: object
) -> GuardedPool[FakeConn]:
    knobs = GuardedPoolSettings.model_validate({"pool_min_idle": 0, **settings})
    name = f"guarded-{next(_ids)}"
    return GuardedPool(name, factory, knobs, classifiers=[classify_client], breaker=breaker)


async def lost(conn: FakeConn) -> None:
    raise ClientDown("gone")


async def trip(guarded: GuardedPool[FakeConn]) -> None:
    """Open the breaker the way production does: a run of backend failures."""
    for _ in range(guarded.breaker.minimum_calls):
        with pytest.raises(UnavailableError):
            await guarded.run(lost)
    assert guarded.breaker.state is BreakerState.OPEN


async def test_start_opens_min_idle_connections() -> None:
    factory = FakeFactory()
    guarded = make(factory, pool_min_idle=2)
    try:
        await guarded.start()
        await eventually(lambda: guarded.pool.stats().idle == 2)
    finally:
        await guarded.close()
    assert len(factory.closed) == 2


async def test_run_lends_a_connection_and_gives_it_back() -> None:
    guarded = make(FakeFactory(), pool_max_open=2)
    try:
        seen = await guarded.run(lambda conn: asyncio.sleep(0, conn))
        assert isinstance(seen, FakeConn)
        assert await guarded.run(lambda conn: asyncio.sleep(0, conn)) is seen  # reused
        stats = guarded.pool.stats()
        assert (stats.in_use, stats.idle, stats.max_open) == (0, 1, 2)
    finally:
        await guarded.close()


async def test_a_classified_client_error_discards_counts_and_reaches_the_caller() -> None:
    guarded = make(FakeFactory())
    try:
        with pytest.raises(UnavailableError, match="backend down: gone") as info:
            await guarded.run(lost)
        assert isinstance(info.value.__cause__, ClientDown)
        assert guarded.pool.stats().destroyed_by_cause["broken"] == 1
        assert guarded.breaker.failure_rate == 1.0
    finally:
        await guarded.close()


async def test_an_unclassified_error_passes_through_and_keeps_the_connection() -> None:
    guarded = make(FakeFactory())

    async def refused(conn: FakeConn) -> None:
        raise ClientRefused("BUSYGROUP")

    try:
        with pytest.raises(ClientRefused):
            await guarded.run(refused)
        assert guarded.pool.stats().destroyed_by_cause["broken"] == 0
        assert guarded.breaker.failure_rate == 0.0  # the backend answered
    finally:
        await guarded.close()


async def test_the_breaker_opens_from_settings_and_rejects_fast() -> None:
    guarded = make(FakeFactory(), breaker_open_seconds=60.0)
    try:
        assert guarded.breaker.open_seconds == 60.0
        await trip(guarded)
        with pytest.raises(CircuitOpenError):
            await guarded.run(lambda conn: asyncio.sleep(0, conn))
    finally:
        await guarded.close()


async def test_a_given_breaker_is_used() -> None:
    breaker = CircuitBreaker(f"given-{next(_ids)}")
    guarded = make(FakeFactory(), breaker=breaker)
    assert guarded.breaker is breaker
    await guarded.close()


async def test_health_ping_and_pool_load() -> None:
    factory = FakeFactory()
    guarded = make(factory, pool_max_open=2)
    health = HealthChecker(interval=60.0)
    guarded.register_health(health)
    try:
        report = await health.run_checks()
        assert report.status is HealthStatus.HEALTHY
        assert set(report.checks) == {guarded.name, "pool"}
        assert factory.validated, "the ping validates a borrowed connection"

        async with guarded.pool.acquire(), guarded.pool.acquire():  # 100% busy, no ping possible
            report = await health.run_checks()
        assert report.status is HealthStatus.DEGRADED
        assert "100% busy" in report.checks["pool"].message
        ping = report.checks[guarded.name]
        assert ping.status is HealthStatus.DEGRADED and "ping skipped" in ping.message

        for conn in factory.created:
            conn.healthy = False
        report = await health.run_checks()
        assert report.status is HealthStatus.UNHEALTHY
        assert report.checks[guarded.name].message == "validation failed"
    finally:
        await guarded.close()


async def test_health_ping_fails_when_the_backend_is_down() -> None:
    factory = FakeFactory()
    factory.fail = ClientDown("refused")
    guarded = make(factory)
    health = HealthChecker(interval=60.0)
    guarded.register_health(health, check="db", pool_check="db-pool")
    try:
        report = await health.run_checks()
        assert set(report.checks) == {"db", "db-pool"}
        assert report.status is HealthStatus.UNHEALTHY
        assert "backend down" in report.checks["db"].message
    finally:
        await guarded.close()


async def test_a_breaker_transition_rechecks_health_at_once() -> None:
    factory = FakeFactory()
    guarded = make(factory, breaker_open_seconds=60.0)
    health = HealthChecker(interval=60.0)  # the next scheduled run is a minute away
    guarded.register_health(health)
    await health.start()
    try:
        assert health.report().status is HealthStatus.HEALTHY
        await trip(guarded)
        await eventually(lambda: health.report().status is HealthStatus.UNHEALTHY)
        assert "circuit" in health.report().checks[guarded.name].message.lower()
    finally:
        await health.stop()
        await guarded.close()


async def test_no_recheck_while_the_checker_is_not_running() -> None:
    guarded = make(FakeFactory())
    health = HealthChecker(interval=60.0)
    guarded.register_health(health)
    await trip(guarded)
    assert not health._pending
    assert health.report().checks["pool"].message == "not checked yet"
    await guarded.close()


async def test_stopping_the_checker_cancels_pending_rechecks() -> None:
    factory = FakeFactory()
    guarded = make(factory)
    health = HealthChecker(interval=60.0)
    guarded.register_health(health)
    await health.start()
    try:
        await trip(guarded)
        assert health._pending  # scheduled, not yet run
        await health.stop()
        await eventually(lambda: not health._pending)
    finally:
        await guarded.close(timeout=0.0)


async def test_pool_exhausted_reaches_the_caller() -> None:
    guarded = make(FakeFactory(), pool_max_open=1, pool_acquire_timeout=0.01)
    try:
        async with guarded.pool.acquire():
            with pytest.raises(PoolExhaustedError):
                await guarded.run(lambda conn: asyncio.sleep(0, conn))
    finally:
        await guarded.close()


async def test_waiters_fail_unavailable_when_the_breaker_opens() -> None:
    """Callers queued for a connection behind failing calls used to wait out the acquire
    timeout and get PoolExhaustedError (RESOURCE_EXHAUSTED) for a backend that was down."""
    guarded = make(FakeFactory(), pool_max_open=1, pool_acquire_timeout=30.0)
    release = asyncio.Event()

    async def hang_then_fail(conn: FakeConn) -> None:
        await release.wait()
        raise ClientDown("gone")

    try:
        holder = asyncio.ensure_future(guarded.run(hang_then_fail))
        await eventually(lambda: guarded.pool.stats().in_use == 1)
        queued = asyncio.ensure_future(guarded.run(lambda conn: asyncio.sleep(0, conn)))
        await eventually(lambda: guarded.pool.stats().waiters == 1)
        guarded.breaker._transition(BreakerState.OPEN)  # as a run of failures would
        with pytest.raises(CircuitOpenError):
            await asyncio.wait_for(queued, 5.0)  # at once, not after the 30 s acquire timeout
        release.set()
        with pytest.raises(UnavailableError):
            await holder
    finally:
        await guarded.close()


async def test_a_wait_behind_failing_calls_is_unavailable_not_exhausted() -> None:
    guarded = make(FakeFactory(), pool_max_open=1, pool_acquire_timeout=0.2)
    failing = asyncio.Event()

    async def slow_failure(conn: FakeConn) -> None:
        await asyncio.sleep(0.05)
        if failing.is_set():
            raise ClientDown("gone")
        await asyncio.sleep(0.5)

    try:
        # Busy, not failing: a capacity error.
        holder = asyncio.ensure_future(guarded.run(slow_failure))
        await eventually(lambda: guarded.pool.stats().in_use == 1)
        with pytest.raises(PoolExhaustedError):
            await guarded.run(lambda conn: asyncio.sleep(0, conn))
        await holder
        # The lent connection's calls fail (or failed within the breaker's window) while we
        # wait: the backend is failing or recovering.
        failing.set()
        calls = [asyncio.ensure_future(guarded.run(slow_failure)) for _ in range(8)]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        assert outcomes and all(isinstance(o, UnavailableError) for o in outcomes), outcomes
        assert not any(isinstance(o, PoolExhaustedError) for o in outcomes)
    finally:
        await guarded.close()


async def test_is_broken_decides_which_errors_discard_the_connection() -> None:
    knobs = GuardedPoolSettings(pool_min_idle=0)
    guarded = GuardedPool(
        f"guarded-{next(_ids)}",
        FakeFactory(),
        knobs,
        classifiers=[classify_client],
        is_broken=lambda exc: False,  # a client that recovers by itself
    )
    try:
        with pytest.raises(UnavailableError):
            await guarded.run(lost)
        stats = guarded.pool.stats()
        assert (stats.destroyed_by_cause["broken"], stats.idle) == (0, 1)
    finally:
        await guarded.close()
