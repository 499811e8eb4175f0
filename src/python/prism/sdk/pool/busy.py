"""pool_busy_check(): a health check that reports DEGRADED while a pool is nearly all lent out."""

from __future__ import annotations

from typing import Any

from prism.sdk.health import CheckFn, CheckOutcome, HealthStatus
from prism.sdk.pool.pool import Pool


def pool_busy_check(pool: Pool[Any], threshold: float = 0.9) -> CheckFn:
    """DEGRADED while more than ``threshold`` of ``max_open`` connections are in use.

    Still serving, but the next burst will queue for connections: worth an operator's look
    before callers see PoolExhaustedError. Register it as a non-critical check.
    """
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must be in [0, 1), got {threshold}")

    async def check() -> CheckOutcome | None:
        busy = pool.busy_fraction
        if busy > threshold:
            return CheckOutcome(HealthStatus.DEGRADED, f"{pool.name} pool {busy:.0%} busy")
        return None

    return check
