"""The open-loop runner: start each operation when the profile says it is due.

Why open-loop, and why latency from the *intended* start: a closed loop (send, wait, send) lets
a slow backend throttle the generator, so a 2-second stall shows up as one slow request and a
lower rate instead of thousands of late requests — coordinated omission. Here the schedule is
fixed in advance (``Profile.schedule``); an operation that starts late because the backend or
the concurrency bound held it back still counts its full delay, measured from when it was due.
``service`` time (from the actual start) is kept too, to tell queueing from backend slowness.

Bounds: at most ``concurrency`` operations are in flight (waiting for a slot is part of the
latency); the run ends by itself at ``duration + drain_timeout`` — operations not started by
then are reported as missed, those still running are cancelled and reported as unfinished.
:meth:`Runner.stop` (Ctrl-C) stops issuing at once and drains briefly, for a partial report.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from prism.loadtest.profiles import Profile
from prism.loadtest.stats import Recorder
from prism.sdk.errors import Classifier, classify

__all__ = ["OpResult", "Operation", "Progress", "RunResult", "Runner", "Scenario"]

Operation = Callable[[float], Awaitable[None]]
"""One operation; its argument is the intended start (``time.perf_counter()`` seconds)."""

INTERRUPT_DRAIN_S = 1.0
"""How long in-flight operations may finish after :meth:`Runner.stop`."""

DISPATCH_YIELD_S = 0.002
"""The last stretch before an operation is due is waited out by yielding to the loop, not by a
timer: asyncio's timers fire on the selector's 1 ms grid, which made every start up to ~1 ms
late, a floor larger than an in-process store's whole service time."""


class Scenario(Protocol):
    """What the runner drives: it picks the next operation (name + coroutine function)."""

    def next_op(self) -> tuple[str, Operation]: ...


@dataclass(frozen=True)
class OpResult:
    """One finished operation (given to the optional observer, e.g. tests)."""

    op: str
    due: float  # seconds from the run start
    latency: float  # seconds from due to done
    service: float  # seconds from actual start to done
    error: str | None  # ErrorKind value, or None on success


@dataclass(frozen=True)
class Progress:
    """A once-a-second snapshot for the progress line."""

    elapsed: float
    interval_rate: float  # completed operations per second over the last interval
    target_rate: float  # operations due per second over the same interval
    p99_ms: float  # all successful operations so far
    errors: int
    in_flight: int


@dataclass
class RunResult:
    profile: Profile
    recorder: Recorder
    target_ops: int  # operations due over the time actually run
    issued: int
    unfinished: int  # cancelled at the end while still running
    elapsed: float  # seconds from start to the end of the drain
    interrupted: bool
    completed: int = field(init=False)

    def __post_init__(self) -> None:
        self.completed = self.recorder.total.count

    @property
    def missed(self) -> int:
        """Due but never started (the run's hard end came first)."""
        return max(self.target_ops - self.issued, 0)


class Runner:
    """Runs ``scenario`` at ``profile``'s rate; see the module docstring."""

    def __init__(
        self,
        profile: Profile,
        scenario: Scenario,
        *,
        concurrency: int = 64,
        drain_timeout: float = 5.0,
        classifiers: Sequence[Classifier] = (),
        progress: Callable[[Progress], None] | None = None,
        observer: Callable[[OpResult], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.profile, self.scenario = profile, scenario
        self.concurrency, self.drain_timeout = concurrency, drain_timeout
        self.classifiers = classifiers
        self._progress, self._observer, self._clock = progress, observer, clock
        self.recorder = Recorder()
        self._stop = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._start = 0.0

    def stop(self) -> None:
        """Stop issuing operations now (safe from a signal handler on the loop)."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    async def run(self) -> RunResult:
        self._start = start = self._clock()
        hard_end = start + self.profile.duration + self.drain_timeout
        issued = 0
        ticker = asyncio.ensure_future(self._tick()) if self._progress else None
        try:
            for offset in self.profile.schedule():
                due = start + offset
                if not await self._wait_until(min(due, hard_end)) or self._clock() >= hard_end:
                    break
                if not await self._acquire(hard_end):
                    break
                name, op = self.scenario.next_op()
                task = asyncio.ensure_future(self._one(name, op, due))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                issued += 1
            unfinished = await self._drain(hard_end)
        finally:
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
        elapsed = self._clock() - start
        run_time = min(elapsed, self.profile.duration)
        interrupted = self._stop.is_set()
        target = self.profile.expected_ops(run_time if interrupted else None)
        return RunResult(
            self.profile, self.recorder, round(target), issued, unfinished, elapsed, interrupted
        )

    async def _wait_until(self, when: float) -> bool:
        """Wait until ``when`` in short steps (so stop() is noticed); False if stopped."""
        while not self._stop.is_set():
            delay = when - self._clock()
            if delay <= 0:
                return True
            # Other tasks (operations in flight) run during the yield, so nothing else waits.
            await asyncio.sleep(
                min(delay - DISPATCH_YIELD_S, 0.1) if delay > DISPATCH_YIELD_S else 0
            )
        return False

    async def _acquire(self, hard_end: float) -> bool:
        """A concurrency slot, unless stop() or the hard end comes first."""
        if self._stop.is_set():
            return False
        if not self._slots.locked():
            await self._slots.acquire()
            return True
        slot = asyncio.ensure_future(self._slots.acquire())
        stopped = asyncio.ensure_future(self._stop.wait())
        timeout = max(hard_end - self._clock(), 0.0)
        await asyncio.wait({slot, stopped}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not slot.done():
            slot.cancel()
            await asyncio.wait({slot})
        got = not slot.cancelled() and slot.exception() is None
        if got and (self._stop.is_set() or self._clock() >= hard_end):
            self._slots.release()
            return False
        return got

    async def _one(self, name: str, op: Operation, due: float) -> None:
        started = self._clock()
        error: str | None = None
        try:
            await op(due)
        except asyncio.CancelledError:
            raise  # cancelled at the hard end: counted as unfinished, not as an error
        except Exception as exc:  # noqa: BLE001 - every failure is classified and counted
            error = classify(exc, self.classifiers).kind.value
        finally:
            self._slots.release()
        done = self._clock()
        self.recorder.record(name, done - due, done - started, error)
        if self._observer is not None:
            self._observer(OpResult(name, due - self._start, done - due, done - started, error))

    async def _drain(self, hard_end: float) -> int:
        """Wait for in-flight operations until the hard end; cancel the rest (their count)."""
        if not self._tasks:
            return 0
        end = hard_end
        if self._stop.is_set():
            end = min(end, self._clock() + INTERRUPT_DRAIN_S)
        _, pending = await asyncio.wait(set(self._tasks), timeout=max(end - self._clock(), 0))
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        return len(pending)

    async def _tick(self) -> None:
        assert self._progress is not None
        last_time, last_count = self._start, 0
        while True:
            await asyncio.sleep(1.0)
            now = self._clock()
            total = self.recorder.total
            span = max(now - last_time, 1e-9)
            rate = (total.count - last_count) / span
            due = self.profile.expected_ops(now - self._start)
            due_before = self.profile.expected_ops(last_time - self._start)
            last_time, last_count = now, total.count
            self._progress(
                Progress(
                    elapsed=now - self._start,
                    interval_rate=rate,
                    target_rate=(due - due_before) / span,
                    p99_ms=total.latency.percentile_ms(99.0),
                    errors=sum(total.errors.values()),
                    in_flight=len(self._tasks),
                )
            )
