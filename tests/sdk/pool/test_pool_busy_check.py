"""pool_busy_check(): DEGRADED while more than the threshold of the pool is lent out."""

from __future__ import annotations

from typing import Any

import pytest

from prism.sdk.health import HealthStatus
from prism.sdk.pool import Pool, PoolConfig, pool_busy_check
from sdk.pool.pool_fakes import FakeFactory

QUIET: dict[str, Any] = dict(health_interval=None, leak_threshold=None, idle_timeout=None)


async def test_degraded_above_the_threshold() -> None:
    pool = Pool(FakeFactory(), PoolConfig(max_open=4, **QUIET), name="busy-check")
    check = pool_busy_check(pool, threshold=0.5)
    try:
        assert await check() is None
        async with pool.acquire(), pool.acquire():
            assert await check() is None  # 50% is not above 50%
            async with pool.acquire():
                outcome = await check()
        assert outcome is not None and outcome.status is HealthStatus.DEGRADED
        assert outcome.message == "busy-check pool 75% busy"
        assert await check() is None
    finally:
        await pool.close()


@pytest.mark.parametrize("threshold", [-0.1, 1.0, 2.0])
def test_threshold_must_be_a_fraction_below_one(threshold: float) -> None:
    pool = Pool(FakeFactory(), PoolConfig(**QUIET), name="busy-check-bad")
    with pytest.raises(ValueError, match="threshold"):
        pool_busy_check(pool, threshold)
