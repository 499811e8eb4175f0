"""CircuitBreaker: failure-rate breaker over a sliding time window, asyncio-native."""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from prism.sdk.errors import CircuitOpenError, Classifier, backend_cancel, classify
from prism.sdk.metrics import get_counter, get_gauge

T = TypeVar("T")

log = logging.getLogger(__name__)


class BreakerState(enum.Enum):
    """CLOSED: calls flow. OPEN: calls are rejected. HALF_OPEN: a few probe calls test recovery."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


BreakerListener = Callable[[str, BreakerState, BreakerState], None]
"""Called as ``listener(breaker_name, old_state, new_state)`` on every transition."""


_STATE_GAUGE = "prism_circuit_breaker_state"
_TRANSITIONS = "prism_circuit_breaker_transitions_total"
_REJECTED = "prism_circuit_breaker_rejected_total"
_CALLS = "prism_circuit_breaker_calls_total"


class CircuitBreaker:
    """Stops calling a failing backend for a while, then probes it before resuming.

    CLOSED -> OPEN when, over the last ``window_seconds``, at least ``minimum_calls`` calls
    finished and the fraction that failed is >= ``failure_rate_threshold``. OPEN rejects every
    call immediately with :class:`CircuitOpenError` for ``open_seconds``, then becomes
    HALF_OPEN, which admits at most ``half_open_max_calls`` probe calls (others are
    rejected): any probe failure re-opens the breaker, and once all probes succeeded it
    closes with an empty window. A probe that has not answered within
    ``probe_timeout_seconds`` (default: ``open_seconds``) counts as failed and re-opens the
    breaker, so one caller without a deadline cannot hold it half-open, rejecting everyone
    else, for as long as its call hangs; its late outcome is then ignored.

    ``counts(exc)`` decides whether an exception is a backend failure (default: it classifies
    as retryable, e.g. UNAVAILABLE / DEADLINE_EXCEEDED, with the plugin's ``classifiers``
    tried first, so e.g. a redis-py ConnectionError counts; ``classifiers`` are only used by
    that default). Exceptions it does not count (such as
    NOT_FOUND or INVALID_ARGUMENT) mean the backend answered and are recorded as successes;
    cancellation is not recorded at all.
    """

    def __init__(
        self,
        name: str,
        *,
        failure_rate_threshold: float = 0.5,
        minimum_calls: int = 5,
        window_seconds: float = 10.0,
        open_seconds: float = 5.0,
        half_open_max_calls: int = 1,
        probe_timeout_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        counts: Callable[[BaseException], bool] | None = None,
        classifiers: Sequence[Classifier] = (),
    ) -> None:
        if not 0.0 < failure_rate_threshold <= 1.0:
            raise ValueError(
                f"failure_rate_threshold must be in (0, 1], got {failure_rate_threshold}"
            )
        if minimum_calls < 1:
            raise ValueError(f"minimum_calls must be >= 1, got {minimum_calls}")
        if window_seconds <= 0:
            raise ValueError(f"window_seconds must be > 0, got {window_seconds}")
        if open_seconds < 0:
            raise ValueError(f"open_seconds must be >= 0, got {open_seconds}")
        if half_open_max_calls < 1:
            raise ValueError(f"half_open_max_calls must be >= 1, got {half_open_max_calls}")
        probe_timeout = open_seconds if probe_timeout_seconds is None else probe_timeout_seconds
        if not probe_timeout > 0:
            raise ValueError(f"probe_timeout_seconds must be > 0, got {probe_timeout}")
        self.name = name
        self.failure_rate_threshold = failure_rate_threshold
        self.minimum_calls = minimum_calls
        self.window_seconds = window_seconds
        self.open_seconds = open_seconds
        self.half_open_max_calls = half_open_max_calls
        self.probe_timeout_seconds = probe_timeout
        self._clock = clock
        self._classifiers = tuple(classifiers)
        self._counts = counts if counts is not None else self._default_counts
        self._listeners: list[BreakerListener] = []

        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._window: deque[tuple[float, bool]] = deque()  # (finished_at, failed)
        self._window_failures = 0
        self._probes_admitted = 0
        self._probes_succeeded = 0
        self._probe_starts: list[float] = []  # when each unanswered probe was admitted
        self._generation = 0  # bumped on every transition; stale outcomes are ignored

        self._state_gauge = get_gauge(
            _STATE_GAUGE, "Circuit breaker state: 0 closed, 1 open, 2 half-open.", ["name"]
        ).labels(name=name)
        self._transitions = get_counter(
            _TRANSITIONS, "Circuit breaker state transitions.", ["name", "from_state", "to_state"]
        )
        self._rejected = get_counter(
            _REJECTED, "Calls rejected by an open or saturated half-open breaker.", ["name"]
        ).labels(name=name)
        calls = get_counter(
            _CALLS, "Calls that went through a circuit breaker, by outcome.", ["name", "outcome"]
        )
        self._calls_ok = calls.labels(name=name, outcome="success")
        self._calls_failed = calls.labels(name=name, outcome="failure")
        self._state_gauge.set(BreakerState.CLOSED.value)

    # -- public API -----------------------------------------------------------------------

    @property
    def state(self) -> BreakerState:
        """Current state (an OPEN breaker whose open period ended reports HALF_OPEN)."""
        self._maybe_half_open()
        return self._state

    @property
    def failure_rate(self) -> float:
        """Failed fraction of the calls in the current window (0.0 when empty)."""
        self._prune(self._clock())
        return self._window_failures / len(self._window) if self._window else 0.0

    @property
    def retry_after(self) -> float:
        """Seconds until an OPEN breaker admits probes (0.0 when not open)."""
        self._maybe_half_open()
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.open_seconds - self._clock())

    def add_listener(self, listener: BreakerListener) -> None:
        """Call ``listener(name, old, new)`` on each state change (exceptions are logged)."""
        self._listeners.append(listener)

    def reset(self) -> None:
        """Force the breaker CLOSED with an empty window (operator action / tests)."""
        self._transition(BreakerState.CLOSED)

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Await ``fn()`` through the breaker; raise CircuitOpenError if it is not admitted.

        A CancelledError that is no cancel of this task is raised as the backend failure it is
        (:func:`prism.sdk.errors.backend_cancel`) and counted; a real cancel passes uncounted.
        """
        probe_start = self._admit()
        # Outcomes of calls that began before the latest transition are not recorded: they
        # describe the backend as it was in an earlier period.
        generation = self._generation
        try:
            try:
                result = await fn()
            except asyncio.CancelledError as exc:
                failure = backend_cancel(exc)  # the client library's, not our caller's
                if failure is None:
                    raise
                raise failure from exc
        except asyncio.CancelledError:
            if generation == self._generation and probe_start is not None:
                self._probe_answered(probe_start)
                self._probes_admitted -= 1  # give the probe slot back: we learnt nothing
            raise
        except BaseException as exc:
            failed = self._counts(exc)
            (self._calls_failed if failed else self._calls_ok).inc()
            if generation == self._generation:
                self._probe_answered(probe_start)
                self._on_outcome(failed)
            raise
        self._calls_ok.inc()
        if generation == self._generation:
            self._probe_answered(probe_start)
            self._on_outcome(False)
        return result

    # -- internals ------------------------------------------------------------------------

    def _default_counts(self, exc: BaseException) -> bool:
        return classify(exc, self._classifiers).retryable

    def _admit(self) -> float | None:
        """Let a call through or raise CircuitOpenError; a probe's admission time is returned."""
        self._maybe_half_open()
        if self._state is BreakerState.CLOSED:
            return None
        if self._state is BreakerState.HALF_OPEN:
            if self._probes_admitted < self.half_open_max_calls:
                self._probes_admitted += 1
                now = self._clock()
                self._probe_starts.append(now)
                return now
            self._rejected.inc()
            raise CircuitOpenError(self.name, 0.0)
        self._rejected.inc()
        raise CircuitOpenError(self.name, self._opened_at + self.open_seconds - self._clock())

    def _probe_answered(self, probe_start: float | None) -> None:
        if probe_start is not None:
            self._probe_starts.remove(probe_start)

    def _on_outcome(self, failed: bool) -> None:
        # Only CLOSED or HALF_OPEN here: an OPEN breaker admits nothing, so a call of the
        # current generation cannot have started while it was OPEN.
        if self._state is BreakerState.HALF_OPEN:
            if failed:
                self._transition(BreakerState.OPEN)
                return
            self._probes_succeeded += 1
            if self._probes_succeeded >= self.half_open_max_calls:
                self._transition(BreakerState.CLOSED)
            return
        self._record(failed)
        total = len(self._window)
        if (
            failed
            and total >= self.minimum_calls
            and self._window_failures / total >= self.failure_rate_threshold
        ):
            self._transition(BreakerState.OPEN)

    def _record(self, failed: bool) -> None:
        now = self._clock()
        self._window.append((now, failed))
        if failed:
            self._window_failures += 1
        self._prune(now)

    def _prune(self, now: float) -> None:
        horizon = now - self.window_seconds
        while self._window and self._window[0][0] <= horizon:
            _, failed = self._window.popleft()
            if failed:
                self._window_failures -= 1

    def _maybe_half_open(self) -> None:
        """Apply the transitions that are due to time passing (checked lazily, no timers)."""
        now = self._clock()
        if (
            self._state is BreakerState.HALF_OPEN
            and self._probe_starts
            and now - self._probe_starts[0] >= self.probe_timeout_seconds
        ):
            log.warning(
                "circuit breaker %r: probe unanswered after %.1fs, counted as failed",
                self.name,
                now - self._probe_starts[0],
            )
            self._transition(BreakerState.OPEN)
        if self._state is BreakerState.OPEN and now - self._opened_at >= self.open_seconds:
            self._transition(BreakerState.HALF_OPEN)

    def _transition(self, new: BreakerState) -> None:
        old = self._state
        self._state = new
        self._generation += 1
        self._window.clear()
        self._window_failures = 0
        self._probes_admitted = 0
        self._probes_succeeded = 0
        self._probe_starts.clear()
        if new is BreakerState.OPEN:
            self._opened_at = self._clock()
        if old is new:
            return
        self._state_gauge.set(new.value)
        self._transitions.labels(
            name=self.name, from_state=old.name.lower(), to_state=new.name.lower()
        ).inc()
        log.info("circuit breaker %r: %s -> %s", self.name, old.name, new.name)
        for listener in list(self._listeners):
            try:
                listener(self.name, old, new)
            except Exception:
                log.exception("circuit breaker %r: state listener failed", self.name)
