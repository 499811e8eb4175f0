"""retry_call(): tenacity-driven retries of retryable PrismErrors, bounded by the deadline."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn, TypeVar

from tenacity import AsyncRetrying, RetryCallState

from prism.sdk.deadline import check_deadline, time_remaining
from prism.sdk.errors import Classifier, DeadlineExceededError, classify

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts and how long to back off between them (seconds)."""

    max_attempts: int = 3
    initial_backoff: float = 0.05
    max_backoff: float = 2.0
    multiplier: float = 2.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.initial_backoff < 0 or self.max_backoff < 0:
            raise ValueError("backoff times must be >= 0")
        if self.multiplier < 1:
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier}")


DEFAULT_RETRY_POLICY = RetryPolicy()


def backoff_delay(
    policy: RetryPolicy, attempt: int, rng: Callable[[], float] = random.random
) -> float:
    """Back-off after failed attempt number ``attempt`` (1-based).

    ``min(max_backoff, initial_backoff * multiplier ** (attempt - 1))``, and with jitter a
    uniform draw in ``[0, that]`` ("full jitter").
    """
    ceiling = min(policy.max_backoff, policy.initial_backoff * policy.multiplier ** (attempt - 1))
    return ceiling * rng() if policy.jitter else ceiling


async def retry_call(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    *,
    classifiers: Sequence[Classifier] = (),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: Callable[[], float] = random.random,
) -> T:
    """Await ``fn()``, retrying failures that ``classify(exc, classifiers)`` deems retryable.

    Stops after ``policy.max_attempts`` attempts and re-raises the last exception unchanged.
    Non-retryable exceptions (and cancellation) propagate at once. If the active deadline
    (:func:`prism.sdk.deadline.current_deadline`) has passed, or the next back-off would end
    after it, raises ``DeadlineExceededError`` (chained to the last failure) without
    sleeping. ``sleep`` and ``rng`` are injectable for tests.
    """
    check_deadline()
    deadline_hit: list[tuple[float, float]] = []

    def should_retry(state: RetryCallState) -> bool:
        outcome = state.outcome
        if outcome is None or not outcome.failed:
            return False
        exc = outcome.exception()
        if exc is None or isinstance(exc, asyncio.CancelledError):
            return False
        return classify(exc, classifiers).retryable

    def wait(state: RetryCallState) -> float:
        return backoff_delay(policy, state.attempt_number, rng)

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number >= policy.max_attempts:
            return True
        remaining = time_remaining()
        if remaining is not None and state.upcoming_sleep >= remaining:
            deadline_hit.append((state.upcoming_sleep, remaining))
            return True
        return False

    def give_up(state: RetryCallState) -> NoReturn:
        assert state.outcome is not None
        exc = state.outcome.exception()
        assert exc is not None
        if deadline_hit:
            backoff, remaining = deadline_hit[-1]
            raise DeadlineExceededError(
                f"deadline would pass before retry attempt {state.attempt_number + 1} "
                f"(back-off {backoff:.3f}s, {remaining:.3f}s left); "
                f"last error: {classify(exc, classifiers).message}"
            ) from exc
        raise exc

    retrying = AsyncRetrying(
        stop=stop,
        wait=wait,
        retry=should_retry,
        sleep=sleep,
        retry_error_callback=give_up,
    )
    result: T = await retrying(fn)
    return result
