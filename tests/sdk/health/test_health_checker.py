"""HealthChecker: composition, timeouts, caching, listeners, readiness and liveness."""

from __future__ import annotations

import asyncio

import pytest

from prism.interfaces import lifecycle_pb2
from prism.sdk.health import (
    CheckOutcome,
    HealthChecker,
    HealthReport,
    HealthStatus,
    report_to_proto,
)


class Switch:
    """A check whose outcome the test flips."""

    def __init__(self) -> None:
        self.outcome: CheckOutcome | None = None
        self.error: Exception | None = None
        self.calls = 0

    async def __call__(self) -> CheckOutcome | None:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.outcome


async def test_no_checks_is_healthy() -> None:
    checker = HealthChecker()
    report = await checker.run_checks()
    assert report.status is HealthStatus.HEALTHY
    assert report.message == "no checks registered"
    assert report.checks == {}


async def test_unchecked_checks_are_not_healthy_until_run() -> None:
    checker = HealthChecker()
    checker.register("db", Switch())
    report = checker.report()
    assert report.status is HealthStatus.UNHEALTHY
    assert report.checks["db"].message == "not checked yet"
    report = await checker.run_checks()
    assert report.status is HealthStatus.HEALTHY
    assert report.message == "all 1 checks passing"
    assert report.checks["db"].checked_at > 0


async def test_critical_failure_is_unhealthy_noncritical_is_degraded() -> None:
    checker = HealthChecker()
    critical, optional = Switch(), Switch()
    checker.register("db", critical)
    checker.register("cache", optional, critical=False)

    optional.error = ConnectionError("cache down")
    report = await checker.run_checks()
    assert report.status is HealthStatus.DEGRADED
    assert report.message == "cache: cache down"
    assert report.checks["cache"].status is HealthStatus.UNHEALTHY
    assert report.checks["cache"].critical is False

    critical.error = RuntimeError()
    report = await checker.run_checks()
    assert report.status is HealthStatus.UNHEALTHY
    assert report.message == "cache: cache down; db: RuntimeError"


async def test_check_can_report_degraded_itself() -> None:
    checker = HealthChecker()
    s = Switch()
    s.outcome = CheckOutcome(HealthStatus.DEGRADED, "replica lag 3s")
    checker.register("replica", s)
    report = await checker.run_checks()
    assert report.status is HealthStatus.DEGRADED
    assert report.message == "replica: replica lag 3s"
    s.outcome = CheckOutcome(HealthStatus.DEGRADED)
    assert (await checker.run_checks()).message == "replica: degraded"
    s.outcome = CheckOutcome(HealthStatus.HEALTHY, "fine")
    assert (await checker.run_checks()).status is HealthStatus.HEALTHY


async def test_timeout_is_failure_and_does_not_block_report() -> None:
    checker = HealthChecker(default_timeout=5.0)
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow() -> None:
        started.set()
        await release.wait()

    checker.register("slow", slow, timeout=0.05)
    report = await checker.run_checks()
    assert report.status is HealthStatus.UNHEALTHY
    assert report.checks["slow"].message == "timed out after 0.05s"

    # report() answers from the cache while a check hangs.
    checker2 = HealthChecker()
    checker2.register("hang", slow, timeout=60)
    started.clear()
    running = asyncio.create_task(checker2.run_checks())
    await started.wait()
    assert checker2.report().checks["hang"].message == "not checked yet"
    release.set()
    assert (await running).status is HealthStatus.HEALTHY


async def test_listeners_fire_only_on_overall_status_change() -> None:
    checker = HealthChecker()
    s = Switch()
    checker.register("db", s)
    seen: list[HealthStatus] = []
    unsubscribe = checker.add_listener(lambda r: seen.append(r.status))

    def broken(_: HealthReport) -> None:
        raise RuntimeError("listener bug")

    checker.add_listener(broken)  # a failing listener must not break others or the checker
    await checker.run_checks()
    await checker.run_checks()
    s.error = OSError("down")
    await checker.run_checks()
    s.error = OSError("still down, other message")
    await checker.run_checks()
    assert seen == [HealthStatus.HEALTHY, HealthStatus.UNHEALTHY]
    unsubscribe()
    unsubscribe()  # idempotent
    s.error = None
    await checker.run_checks()
    assert seen == [HealthStatus.HEALTHY, HealthStatus.UNHEALTHY]


async def test_background_loop_reruns_checks_and_stop_is_clean() -> None:
    checker = HealthChecker(interval=0.01)
    s = Switch()
    checker.register("db", s)
    await checker.start()
    assert s.calls == 1  # start runs every check once before returning
    assert checker.running
    await checker.start()  # idempotent
    for _ in range(500):
        if s.calls >= 3:
            break
        await asyncio.sleep(0.01)
    assert s.calls >= 3
    await checker.stop()
    assert not checker.running
    calls = s.calls
    await asyncio.sleep(0.05)
    assert s.calls == calls
    assert checker.report().status is HealthStatus.HEALTHY
    await checker.stop()  # idempotent


async def test_register_while_running_checks_at_once() -> None:
    checker = HealthChecker(interval=3600)
    await checker.start()
    s = Switch()
    checker.register("late", s)
    assert checker.report().checks["late"].message == "not checked yet"
    for _ in range(500):
        if checker.report().status is HealthStatus.HEALTHY:
            break
        await asyncio.sleep(0.01)
    assert checker.report().status is HealthStatus.HEALTHY
    await checker.stop()


async def test_stop_cancels_pending_late_check() -> None:
    checker = HealthChecker(interval=3600)
    await checker.start()

    async def hang() -> None:
        await asyncio.Event().wait()

    checker.register("hang", hang, timeout=60)
    await checker.stop()
    assert checker.report().checks["hang"].message == "not checked yet"


async def test_unregister() -> None:
    checker = HealthChecker()
    s = Switch()
    s.error = OSError("x")
    checker.register("db", s)
    await checker.run_checks()
    assert checker.unregister("db") is True
    assert checker.unregister("db") is False
    assert checker.report().status is HealthStatus.HEALTHY


async def test_result_of_unregistered_check_is_ignored() -> None:
    checker = HealthChecker()
    gate = asyncio.Event()

    async def gated() -> None:
        await gate.wait()

    checker.register("db", gated)
    running = asyncio.create_task(checker.run_checks())
    await asyncio.sleep(0)
    checker.unregister("db")
    gate.set()
    report = await running
    assert "db" not in report.checks


def test_register_validation() -> None:
    checker = HealthChecker()
    checker.register("db", Switch())
    with pytest.raises(ValueError, match="already registered"):
        checker.register("db", Switch())
    with pytest.raises(ValueError, match="must not be empty"):
        checker.register("", Switch())
    with pytest.raises(ValueError, match="timeout must be > 0"):
        checker.register("x", Switch(), timeout=0)
    with pytest.raises(ValueError, match="interval"):
        HealthChecker(interval=0)
    with pytest.raises(ValueError, match="default_timeout"):
        HealthChecker(default_timeout=-1)
    assert HealthChecker(interval=7).interval == 7.0


def test_readiness_and_liveness_are_separate() -> None:
    checker = HealthChecker()
    changes: list[tuple[bool, bool]] = []
    checker.add_state_listener(lambda: changes.append((checker.is_live(), checker.is_ready())))

    def broken() -> None:
        raise RuntimeError("bug")

    checker.add_state_listener(broken)
    assert checker.is_live() and not checker.is_ready()
    checker.set_ready(True)
    checker.set_ready(True)  # no change, no notification
    checker.set_live(False)
    checker.set_ready(False)
    assert changes == [(True, True), (False, True), (False, False)]


async def test_loop_crash_marks_not_live() -> None:
    checker = HealthChecker(interval=0.01)
    await checker.start()

    async def explode() -> HealthReport:
        raise RuntimeError("bug in loop")

    checker.run_checks = explode  # type: ignore[method-assign]
    for _ in range(500):
        if not checker.is_live():
            break
        await asyncio.sleep(0.01)
    assert not checker.is_live()
    assert not checker.running
    await checker.stop()


async def test_report_to_proto() -> None:
    checker = HealthChecker()
    ok, bad = Switch(), Switch()
    bad.error = OSError("kafka unreachable")
    checker.register("redis", ok)
    checker.register("kafka", bad, critical=False)
    report = await checker.run_checks()
    msg = report_to_proto(report)
    assert isinstance(msg, lifecycle_pb2.HealthCheckResponse)
    assert msg.status == lifecycle_pb2.HEALTH_STATUS_DEGRADED
    assert msg.message == "kafka: kafka unreachable"
    assert set(msg.details) == {"redis", "kafka"}
    kafka = msg.details["kafka"]
    assert kafka.status == lifecycle_pb2.HEALTH_STATUS_UNHEALTHY
    assert kafka.message == "kafka unreachable"
    assert kafka.critical is False
    assert kafka.duration_ms >= 0
    assert kafka.checked_at_ms == int(report.checks["kafka"].checked_at * 1000)
    assert msg.details["redis"].status == lifecycle_pb2.HEALTH_STATUS_HEALTHY
    assert msg.details["redis"].critical is True


def test_status_numbers_match_proto() -> None:
    assert int(HealthStatus.HEALTHY) == lifecycle_pb2.HEALTH_STATUS_HEALTHY
    assert int(HealthStatus.DEGRADED) == lifecycle_pb2.HEALTH_STATUS_DEGRADED
    assert int(HealthStatus.UNHEALTHY) == lifecycle_pb2.HEALTH_STATUS_UNHEALTHY
