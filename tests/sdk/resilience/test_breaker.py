"""CircuitBreaker state machine, driven by an injected clock (no real sleeps)."""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest
from prometheus_client import REGISTRY

from prism.sdk.errors import CircuitOpenError, NotFoundError, PrismError, UnavailableError
from prism.sdk.resilience import BreakerState, CircuitBreaker

_ids = itertools.count()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def ok() -> str:
    return "ok"


async def down() -> str:
    raise UnavailableError("down")


async def missing() -> str:
    raise NotFoundError("k")


def make(clock: Clock, **kwargs: object) -> CircuitBreaker:
    params: dict[str, object] = {
        "failure_rate_threshold": 0.5,
        "minimum_calls": 4,
        "window_seconds": 10.0,
        "open_seconds": 5.0,
        "half_open_max_calls": 2,
    }
    params.update(kwargs)
    return CircuitBreaker(f"test-breaker-{next(_ids)}", clock=clock, **params)  # type: ignore[arg-type]


async def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    """``times`` calls that reach the backend and fail (a rejection fails the test)."""
    for _ in range(times):
        with pytest.raises(UnavailableError) as info:
            await breaker.call(down)
        assert not isinstance(info.value, CircuitOpenError)


async def succeed(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        assert await breaker.call(ok) == "ok"


async def trip(breaker: CircuitBreaker) -> None:
    """Open a fresh (empty-window) breaker with minimum_calls failures."""
    await fail(breaker, breaker.minimum_calls)
    assert state_of(breaker) is BreakerState.OPEN


async def half_open(half_open_max_calls: int) -> tuple[Clock, CircuitBreaker]:
    """A breaker just tripped, with its clock moved to the end of the open period."""
    clock = Clock()
    b = make(clock, half_open_max_calls=half_open_max_calls)
    await trip(b)
    clock.now += 5.0
    return clock, b


def state_of(breaker: CircuitBreaker) -> BreakerState:
    # A function (not the property) so mypy does not narrow the state across awaits.
    return breaker.state


def sample(metric: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


async def test_stays_closed_below_minimum_calls() -> None:
    b = make(Clock())
    await fail(b, 3)  # 100% failures, but only 3 < minimum_calls calls
    assert state_of(b) is BreakerState.CLOSED
    assert b.failure_rate == 1.0


async def test_opens_at_failure_rate() -> None:
    b = make(Clock())
    await succeed(b, 2)
    await fail(b, 1)
    assert state_of(b) is BreakerState.CLOSED  # 1/3, below minimum calls
    await fail(b, 1)  # 2/4 = 0.5 >= threshold
    assert state_of(b) is BreakerState.OPEN


async def test_stays_closed_below_failure_rate() -> None:
    b = make(Clock())
    await succeed(b, 7)
    await fail(b, 3)  # 3/10 < 0.5
    assert state_of(b) is BreakerState.CLOSED
    assert b.failure_rate == pytest.approx(0.3)


async def test_old_calls_leave_the_window() -> None:
    clock = Clock()
    b = make(clock)
    await fail(b, 3)
    clock.now += 10.0  # those failures are now outside the 10 s window
    await succeed(b, 3)
    await fail(b, 1)  # window: 3 ok + 1 failure = 0.25
    assert state_of(b) is BreakerState.CLOSED
    assert b.failure_rate == pytest.approx(0.25)
    clock.now += 100.0
    assert b.failure_rate == 0.0


async def test_uncounted_errors_are_successes() -> None:
    b = make(Clock())
    for _ in range(10):
        with pytest.raises(NotFoundError):
            await b.call(missing)
    await fail(b, 3)
    assert state_of(b) is BreakerState.CLOSED  # 3/13


async def test_custom_counts_predicate() -> None:
    b = make(Clock(), counts=lambda exc: isinstance(exc, NotFoundError))
    for _ in range(4):
        with pytest.raises(NotFoundError):
            await b.call(missing)
    assert state_of(b) is BreakerState.OPEN


class ClientDown(Exception):
    """Like redis-py's ConnectionError: a client library error that is not an OSError."""


def classify_client(exc: BaseException) -> PrismError | None:
    return UnavailableError(str(exc)) if isinstance(exc, ClientDown) else None


async def client_down() -> str:
    raise ClientDown("connection refused")


async def test_plugin_classifiers_make_client_errors_count() -> None:
    b = make(Clock(), classifiers=[classify_client])
    for _ in range(4):
        with pytest.raises(ClientDown):  # the original exception reaches the caller
            await b.call(client_down)
    assert state_of(b) is BreakerState.OPEN


async def test_without_classifiers_client_errors_do_not_count() -> None:
    b = make(Clock())
    for _ in range(4):
        with pytest.raises(ClientDown):
            await b.call(client_down)
    assert state_of(b) is BreakerState.CLOSED


async def test_custom_counts_wins_over_classifiers() -> None:
    b = make(Clock(), classifiers=[classify_client], counts=lambda exc: False)
    for _ in range(4):
        with pytest.raises(ClientDown):
            await b.call(client_down)
    assert state_of(b) is BreakerState.CLOSED


async def test_open_rejects_at_once_without_calling() -> None:
    clock = Clock()
    b = make(clock)
    await trip(b)
    calls = 0

    async def counted() -> str:
        nonlocal calls
        calls += 1
        return "ok"

    clock.now += 2.0
    before = sample("prism_circuit_breaker_rejected_total", name=b.name)
    with pytest.raises(CircuitOpenError) as info:
        await b.call(counted)
    assert calls == 0
    assert info.value.breaker == b.name
    assert info.value.retry_after == pytest.approx(3.0)
    assert b.name in info.value.message and "3.00s" in info.value.message
    assert b.retry_after == pytest.approx(3.0)
    assert sample("prism_circuit_breaker_rejected_total", name=b.name) == before + 1


async def test_half_open_after_open_seconds_admits_only_n_probes() -> None:
    _, b = await half_open(2)
    assert state_of(b) is BreakerState.HALF_OPEN
    assert b.retry_after == 0.0

    gate = asyncio.Event()
    started = 0

    async def slow_probe() -> str:
        nonlocal started
        started += 1
        await gate.wait()
        return "ok"

    probes = [asyncio.create_task(b.call(slow_probe)) for _ in range(2)]
    await asyncio.sleep(0)
    assert started == 2
    with pytest.raises(CircuitOpenError):  # third concurrent call is rejected
        await b.call(ok)
    gate.set()
    assert await asyncio.gather(*probes) == ["ok", "ok"]
    assert state_of(b) is BreakerState.CLOSED
    assert b.failure_rate == 0.0  # closed with a fresh window


async def test_half_open_closes_after_all_probes_succeed() -> None:
    _, b = await half_open(2)
    await succeed(b, 1)
    assert state_of(b) is BreakerState.HALF_OPEN  # one probe of two so far
    await succeed(b, 1)
    assert state_of(b) is BreakerState.CLOSED
    await succeed(b, 5)


async def test_half_open_failure_reopens() -> None:
    clock, b = await half_open(1)
    await fail(b, 1)
    assert state_of(b) is BreakerState.OPEN
    with pytest.raises(CircuitOpenError):
        await b.call(ok)
    assert b.retry_after == pytest.approx(5.0)  # open period restarted
    clock.now += 5.0
    await succeed(b, 1)
    assert state_of(b) is BreakerState.CLOSED


async def test_half_open_uncounted_error_counts_as_probe_success() -> None:
    _, b = await half_open(1)
    with pytest.raises(NotFoundError):
        await b.call(missing)
    assert state_of(b) is BreakerState.CLOSED


async def test_cancelled_probe_frees_its_slot() -> None:
    _, b = await half_open(1)

    async def hang() -> str:
        await asyncio.Event().wait()
        return "never"

    task = asyncio.create_task(b.call(hang))
    await asyncio.sleep(0)
    with pytest.raises(CircuitOpenError):
        await b.call(ok)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert state_of(b) is BreakerState.HALF_OPEN
    await succeed(b, 1)
    assert state_of(b) is BreakerState.CLOSED


async def test_probe_that_never_answers_reopens_after_probe_timeout() -> None:
    clock, b = await half_open(1)  # probe_timeout_seconds defaults to open_seconds (5 s)

    async def hang() -> str:
        await asyncio.Event().wait()
        return "never"

    stuck = asyncio.create_task(b.call(hang))  # a probe with no deadline
    await asyncio.sleep(0)
    with pytest.raises(CircuitOpenError):
        await b.call(ok)
    clock.now += 5.0  # the probe has not answered within probe_timeout: it failed
    assert state_of(b) is BreakerState.OPEN
    clock.now += 5.0
    await succeed(b, 1)  # a new probe is admitted instead of waiting for the stuck one
    assert state_of(b) is BreakerState.CLOSED
    stuck.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stuck
    assert state_of(b) is BreakerState.CLOSED  # the stale probe changes nothing


def test_probe_timeout_defaults_to_open_seconds_and_must_be_positive() -> None:
    assert make(Clock(), open_seconds=7.0).probe_timeout_seconds == 7.0
    assert make(Clock(), probe_timeout_seconds=2.0).probe_timeout_seconds == 2.0
    with pytest.raises(ValueError, match="probe_timeout_seconds"):
        make(Clock(), probe_timeout_seconds=0)


async def test_calls_from_before_a_transition_are_ignored() -> None:
    clock = Clock()
    b = make(clock, minimum_calls=2)
    gate = asyncio.Event()

    async def late_failure() -> str:
        await gate.wait()
        raise UnavailableError("late")

    async def late_success() -> str:
        await gate.wait()
        return "late"

    stale = [asyncio.create_task(b.call(late_failure)), asyncio.create_task(b.call(late_success))]
    await asyncio.sleep(0)
    await trip(b)
    clock.now += 5.0
    assert state_of(b) is BreakerState.HALF_OPEN
    gate.set()
    results = await asyncio.gather(*stale, return_exceptions=True)
    assert isinstance(results[0], UnavailableError) and results[1] == "late"
    assert state_of(b) is BreakerState.HALF_OPEN  # neither reopened nor closed it


async def test_listeners_get_every_transition() -> None:
    clock = Clock()
    b = make(clock, half_open_max_calls=1)
    seen: list[tuple[str, BreakerState, BreakerState]] = []
    b.add_listener(lambda name, old, new: seen.append((name, old, new)))
    await trip(b)
    clock.now += 5.0
    await fail(b, 1)
    clock.now += 5.0
    await succeed(b, 1)
    assert seen == [
        (b.name, BreakerState.CLOSED, BreakerState.OPEN),
        (b.name, BreakerState.OPEN, BreakerState.HALF_OPEN),
        (b.name, BreakerState.HALF_OPEN, BreakerState.OPEN),
        (b.name, BreakerState.OPEN, BreakerState.HALF_OPEN),
        (b.name, BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]


async def test_failing_listener_is_logged_and_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    b = make(Clock())
    seen: list[BreakerState] = []

    def broken(name: str, old: BreakerState, new: BreakerState) -> None:
        raise RuntimeError("listener bug")

    b.add_listener(broken)
    b.add_listener(lambda name, old, new: seen.append(new))
    with caplog.at_level(logging.ERROR):
        await trip(b)
    assert seen == [BreakerState.OPEN]
    assert "state listener failed" in caplog.text


async def test_metrics_track_state_transitions_and_calls() -> None:
    clock = Clock()
    b = make(clock, half_open_max_calls=1)
    state = "prism_circuit_breaker_state"
    assert sample(state, name=b.name) == 0.0
    await succeed(b, 1)
    await fail(b, 3)  # 3/4 failed: opens
    assert state_of(b) is BreakerState.OPEN
    assert sample(state, name=b.name) == 1.0
    clock.now += 5.0
    assert state_of(b) is BreakerState.HALF_OPEN
    assert sample(state, name=b.name) == 2.0
    transitions = "prism_circuit_breaker_transitions_total"
    assert sample(transitions, name=b.name, from_state="closed", to_state="open") == 1.0
    assert sample(transitions, name=b.name, from_state="open", to_state="half_open") == 1.0
    calls = "prism_circuit_breaker_calls_total"
    assert sample(calls, name=b.name, outcome="success") == 1.0
    assert sample(calls, name=b.name, outcome="failure") == 3.0


async def test_two_breakers_with_same_name_do_not_crash() -> None:
    clock = Clock()
    CircuitBreaker("shared-name", clock=clock)
    CircuitBreaker("shared-name", clock=clock)


async def test_reset_closes() -> None:
    b = make(Clock())
    await trip(b)
    b.reset()
    assert state_of(b) is BreakerState.CLOSED
    await succeed(b, 1)


async def test_default_clock_and_settings() -> None:
    b = CircuitBreaker(f"defaults-{next(_ids)}")
    assert state_of(b) is BreakerState.CLOSED
    assert await b.call(ok) == "ok"
    assert b.retry_after == 0.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_rate_threshold": 0.0},
        {"failure_rate_threshold": 1.5},
        {"minimum_calls": 0},
        {"window_seconds": 0.0},
        {"open_seconds": -1.0},
        {"half_open_max_calls": 0},
    ],
)
def test_invalid_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker("bad", **kwargs)  # type: ignore[arg-type]


async def test_reset_of_closed_breaker_clears_window_without_notifying() -> None:
    b = make(Clock())
    seen: list[BreakerState] = []
    b.add_listener(lambda name, old, new: seen.append(new))
    await fail(b, 3)
    b.reset()
    assert b.failure_rate == 0.0
    await fail(b, 3)  # window was cleared, so still below minimum_calls
    assert state_of(b) is BreakerState.CLOSED
    assert seen == []


async def test_library_cancelled_error_is_a_counted_unavailable() -> None:
    """A CancelledError that is no cancel of the caller's task is the backend failing."""
    b = make(Clock())

    async def library_cancels() -> str:
        inner: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        inner.cancel()
        return await inner

    with pytest.raises(UnavailableError) as info:
        await b.call(library_cancels)
    assert isinstance(info.value.__cause__, asyncio.CancelledError)
    assert b.failure_rate == 1.0
