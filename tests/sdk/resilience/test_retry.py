"""retry_call: attempts, which errors are retried, back-off shape and deadline handling."""

from __future__ import annotations

import asyncio

import pytest

from prism.sdk.deadline import deadline_scope
from prism.sdk.errors import (
    DeadlineExceededError,
    InvalidArgumentError,
    NotFoundError,
    PrismError,
    UnavailableError,
)
from prism.sdk.resilience import RetryPolicy, backoff_delay, retry_call


class Flaky:
    """Fails with the given exceptions in order, then returns "ok"."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


FAST = RetryPolicy(max_attempts=4, initial_backoff=0.1, max_backoff=0.3, jitter=False)


async def test_success_first_time_does_not_sleep() -> None:
    fn, sleep = Flaky(), Sleeps()
    assert await retry_call(fn, FAST, sleep=sleep) == "ok"
    assert fn.calls == 1 and sleep.delays == []


async def test_retries_retryable_errors_until_success() -> None:
    fn, sleep = Flaky(UnavailableError(), ConnectionResetError()), Sleeps()
    assert await retry_call(fn, FAST, sleep=sleep) == "ok"
    assert fn.calls == 3
    assert sleep.delays == pytest.approx([0.1, 0.2])


async def test_stops_at_max_attempts_and_reraises_last_error() -> None:
    errors = [UnavailableError(f"down {i}") for i in range(10)]
    fn, sleep = Flaky(*errors), Sleeps()
    with pytest.raises(UnavailableError) as info:
        await retry_call(fn, FAST, sleep=sleep)
    assert info.value is errors[3]
    assert fn.calls == 4
    assert sleep.delays == pytest.approx([0.1, 0.2, 0.3])  # capped at max_backoff


@pytest.mark.parametrize(
    "error", [NotFoundError(), InvalidArgumentError("bad"), ValueError("bug"), KeyError("k")]
)
async def test_permanent_errors_are_not_retried(error: Exception) -> None:
    fn, sleep = Flaky(error), Sleeps()
    with pytest.raises(type(error)) as info:
        await retry_call(fn, FAST, sleep=sleep)
    assert info.value is error  # re-raised unchanged
    assert fn.calls == 1 and sleep.delays == []


async def test_plugin_classifiers_decide_retryability() -> None:
    class BackendBusy(Exception):
        pass

    def classifier(exc: BaseException) -> PrismError | None:
        return UnavailableError() if isinstance(exc, BackendBusy) else None

    fn = Flaky(BackendBusy())
    assert await retry_call(fn, FAST, classifiers=[classifier], sleep=Sleeps()) == "ok"
    assert fn.calls == 2
    fn = Flaky(BackendBusy())
    with pytest.raises(BackendBusy):
        await retry_call(fn, FAST, sleep=Sleeps())
    assert fn.calls == 1


async def test_cancellation_is_not_retried() -> None:
    fn = Flaky(asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await retry_call(fn, FAST, sleep=Sleeps())
    assert fn.calls == 1


async def test_never_sleeps_past_deadline() -> None:
    policy = RetryPolicy(max_attempts=5, initial_backoff=10.0, max_backoff=20.0, jitter=False)
    cause = UnavailableError("backend down")
    fn, sleep = Flaky(cause), Sleeps()
    with deadline_scope(5.0), pytest.raises(DeadlineExceededError) as info:
        await retry_call(fn, policy, sleep=sleep)
    assert fn.calls == 1
    assert sleep.delays == []  # 10 s back-off > 5 s left: gave up without sleeping
    assert info.value.__cause__ is cause
    assert "before retry attempt 2" in info.value.message
    assert "backend down" in info.value.message


async def test_retries_while_backoff_fits_in_deadline() -> None:
    policy = RetryPolicy(max_attempts=5, initial_backoff=0.01, jitter=False)
    fn, sleep = Flaky(UnavailableError(), UnavailableError()), Sleeps()
    with deadline_scope(60.0):
        assert await retry_call(fn, policy, sleep=sleep) == "ok"
    assert sleep.delays == pytest.approx([0.01, 0.02])


async def test_deadline_already_passed_does_not_call() -> None:
    fn = Flaky()
    with deadline_scope(-1.0), pytest.raises(DeadlineExceededError):
        await retry_call(fn, FAST, sleep=Sleeps())
    assert fn.calls == 0


async def test_real_sleep_default_works() -> None:
    policy = RetryPolicy(max_attempts=2, initial_backoff=0.001, jitter=True)
    fn = Flaky(UnavailableError())
    assert await retry_call(fn, policy) == "ok"
    assert fn.calls == 2


def test_backoff_full_jitter_and_cap() -> None:
    policy = RetryPolicy(initial_backoff=1.0, max_backoff=5.0, multiplier=3.0)
    assert backoff_delay(policy, 1, lambda: 0.5) == pytest.approx(0.5)
    assert backoff_delay(policy, 2, lambda: 0.5) == pytest.approx(1.5)
    assert backoff_delay(policy, 3, lambda: 1.0) == pytest.approx(5.0)  # 9 capped at 5
    assert backoff_delay(policy, 2, lambda: 0.0) == 0.0
    no_jitter = RetryPolicy(initial_backoff=1.0, max_backoff=5.0, jitter=False)
    assert backoff_delay(no_jitter, 2, lambda: 0.0) == 2.0


async def test_jitter_uses_rng() -> None:
    policy = RetryPolicy(max_attempts=3, initial_backoff=1.0, max_backoff=10.0)
    sleep = Sleeps()
    fn = Flaky(UnavailableError(), UnavailableError())
    await retry_call(fn, policy, sleep=sleep, rng=lambda: 0.25)
    assert sleep.delays == pytest.approx([0.25, 0.5])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"initial_backoff": -1.0},
        {"max_backoff": -1.0},
        {"multiplier": 0.5},
    ],
)
def test_policy_validation(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
