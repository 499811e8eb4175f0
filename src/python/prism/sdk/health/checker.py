"""HealthChecker: named checks run in the background, results cached for cheap reads."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from prism.sdk.health.types import CheckFn, CheckOutcome, CheckResult, HealthReport, HealthStatus

_log = logging.getLogger(__name__)

NOT_CHECKED_MESSAGE = "not checked yet"

DEFAULT_CHECK_TIMEOUT = 2.0
"""Seconds a check may run before it counts as failed. With the interval it bounds how late an
outage shows: a failing critical check makes the report UNHEALTHY at most ``interval`` plus
its timeout after the backend went down (sooner when a breaker change re-runs the checks)."""

ReportListener = Callable[[HealthReport], None]
StateListener = Callable[[], None]


@dataclass(frozen=True)
class _Check:
    name: str
    fn: CheckFn
    critical: bool
    timeout: float


def _positive(name: str, value: float) -> float:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return float(value)


def _effective(result: CheckResult) -> HealthStatus:
    """A non-critical check can at worst degrade the plugin, never make it unhealthy."""
    if result.critical:
        return result.status
    return min(result.status, HealthStatus.DEGRADED)


def compose_report(results: dict[str, CheckResult]) -> HealthReport:
    """Fold per-check results into the composite status (the worst effective status wins)."""
    if not results:
        return HealthReport(HealthStatus.HEALTHY, "no checks registered", {})
    status = max(_effective(r) for r in results.values())
    if status is HealthStatus.HEALTHY:
        message = f"all {len(results)} checks passing"
    else:
        message = "; ".join(
            f"{r.name}: {r.message or r.status.name.lower()}"
            for r in sorted(results.values(), key=lambda r: r.name)
            if r.status is not HealthStatus.HEALTHY
        )
    return HealthReport(status, message, dict(results))


class HealthChecker:
    """Runs registered checks every ``interval`` seconds and caches the results.

    ``report()`` only reads the cache, so health endpoints answer instantly even while a backend
    hangs; each check is bounded by its own timeout, and a timeout counts as a failure.
    Liveness ("the process works") is kept apart from readiness ("send me traffic"), which the
    lifecycle sets with ``set_ready``.
    """

    def __init__(
        self, *, interval: float = 5.0, default_timeout: float = DEFAULT_CHECK_TIMEOUT
    ) -> None:
        self._interval = _positive("interval", interval)
        self._default_timeout = _positive("default_timeout", default_timeout)
        self._checks: dict[str, _Check] = {}
        self._results: dict[str, CheckResult] = {}
        self._listeners: list[ReportListener] = []
        self._state_listeners: list[StateListener] = []
        self._report = compose_report({})
        self._last_status = self._report.status
        self._ready = False
        self._live = True
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[Any]] = set()  # cancelled by stop()

    @property
    def interval(self) -> float:
        return self._interval

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def register(
        self, name: str, fn: CheckFn, *, critical: bool = True, timeout: float | None = None
    ) -> None:
        """Add a check; it reports "not checked yet" until it first runs.

        Registering while the background loop runs schedules the new check at once, so the
        report is not stuck on a placeholder for a whole interval.
        """
        if not name:
            raise ValueError("health check name must not be empty")
        if name in self._checks:
            raise ValueError(f"health check {name!r} is already registered")
        t = self._default_timeout if timeout is None else _positive("timeout", timeout)
        check = _Check(name, fn, critical, t)
        self._checks[name] = check
        self._results[name] = CheckResult(
            name, HealthStatus.UNHEALTHY, NOT_CHECKED_MESSAGE, critical, 0.0, 0.0
        )
        self._publish()
        if self.running:
            self._spawn(self._run_one(check))

    def recheck_soon(self, *_: object) -> None:
        """Run every check now, in the background, if the loop runs. A circuit breaker
        listener (any arguments): an outage or recovery shows at once, not an interval later."""
        if self.running:
            self._spawn(self.run_checks())

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def unregister(self, name: str) -> bool:
        """Remove a check; returns whether it existed."""
        if self._checks.pop(name, None) is None:
            return False
        del self._results[name]
        self._publish()
        return True

    def add_listener(self, cb: ReportListener) -> Callable[[], None]:
        """Call ``cb(report)`` whenever the overall status changes; returns an unsubscribe."""
        self._listeners.append(cb)
        return lambda: self._remove(self._listeners, cb)

    def add_state_listener(self, cb: StateListener) -> Callable[[], None]:
        """Call ``cb()`` when overall status, readiness or liveness changes (for gRPC health)."""
        self._state_listeners.append(cb)
        return lambda: self._remove(self._state_listeners, cb)

    @staticmethod
    def _remove(listeners: list[Callable[..., None]], cb: Callable[..., None]) -> None:
        with contextlib.suppress(ValueError):
            listeners.remove(cb)

    def report(self) -> HealthReport:
        """The latest composite report; never waits on a check."""
        return self._report

    async def run_checks(self) -> HealthReport:
        """Run every check now (concurrently, each under its timeout) and return the report."""
        await asyncio.gather(*(self._run_one(c) for c in list(self._checks.values())))
        return self._report

    async def start(self) -> None:
        """Run all checks once, then keep running them every interval in the background."""
        if self._task is not None:
            return
        await self.run_checks()
        self._task = asyncio.get_running_loop().create_task(
            self._loop(), name="prism-health-checker"
        )
        self._task.add_done_callback(self._on_loop_done)

    async def stop(self) -> None:
        """Stop the background loop and any in-flight checks; cached results stay readable."""
        tasks: list[asyncio.Task[Any]] = list(self._pending)
        if self._task is not None:
            self._task.remove_done_callback(self._on_loop_done)
            tasks.append(self._task)
            self._task = None
        for task in tasks:
            task.cancel()
        # A crashed loop was already logged (and marked not live) by _on_loop_done.
        await asyncio.gather(*tasks, return_exceptions=True)

    def is_live(self) -> bool:
        """False once the process is known broken (``set_live(False)`` or the loop crashed)."""
        return self._live

    def set_live(self, live: bool) -> None:
        if live != self._live:
            self._live = live
            self._notify_state()

    def is_ready(self) -> bool:
        """Whether the lifecycle says we take traffic (independent of check results)."""
        return self._ready

    def set_ready(self, ready: bool) -> None:
        if ready != self._ready:
            self._ready = ready
            self._notify_state()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.run_checks()

    def _on_loop_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            _log.error("health check loop crashed", exc_info=task.exception())
            self.set_live(False)

    async def _run_one(self, check: _Check) -> CheckResult:
        started = time.monotonic()
        try:
            outcome: CheckOutcome | None = await asyncio.wait_for(check.fn(), check.timeout)
        except TimeoutError:
            status, message = HealthStatus.UNHEALTHY, f"timed out after {check.timeout:g}s"
        except Exception as exc:  # a check's failure is data, not a crash
            status, message = HealthStatus.UNHEALTHY, str(exc) or type(exc).__name__
        else:
            if outcome is None:
                status, message = HealthStatus.HEALTHY, ""
            else:
                status, message = HealthStatus(outcome.status), outcome.message
        result = CheckResult(
            name=check.name,
            status=status,
            message=message,
            critical=check.critical,
            duration_ms=(time.monotonic() - started) * 1000.0,
            checked_at=time.time(),
        )
        if self._checks.get(check.name) is check:  # ignore results of unregistered checks
            self._results[check.name] = result
            self._publish()
        return result

    def _publish(self) -> None:
        self._report = compose_report(self._results)
        if self._report.status is self._last_status:
            return
        self._last_status = self._report.status
        for cb in list(self._listeners):
            try:
                cb(self._report)
            except Exception:
                _log.exception("health listener failed")
        self._notify_state()

    def _notify_state(self) -> None:
        for cb in list(self._state_listeners):
            try:
                cb()
            except Exception:
                _log.exception("health state listener failed")
