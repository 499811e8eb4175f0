"""Background upkeep and shutdown: lifetime, idle timeout, validation, min idle, leaks, close."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import pytest
from prometheus_client import REGISTRY

from prism.sdk.errors import FailedPreconditionError
from prism.sdk.pool import Pool, PoolConfig
from prism.sdk.pool.leak import capture_stack, format_stack
from sdk.pool.pool_fakes import FakeConn, FakeFactory, eventually, settle

QUIET: dict[str, Any] = dict(health_interval=None, leak_threshold=None, idle_timeout=None)


def make(factory: FakeFactory, name: str = "life", **kw: object) -> Pool[FakeConn]:
    opts: dict[str, object] = {**QUIET, **kw}
    return Pool(factory, PoolConfig(**opts), name=name)  # type: ignore[arg-type]


async def test_lifetime_recycles_on_borrow_and_release() -> None:
    f = FakeFactory()
    pool = make(f, max_lifetime=0.05, lifetime_jitter=0.0)
    async with pool.acquire() as first:
        await asyncio.sleep(0.06)  # expires while lent: closed on release
    await settle()
    assert first.closed
    async with pool.acquire() as second:
        pass
    await asyncio.sleep(0.06)  # expires while idle: skipped on borrow
    async with pool.acquire() as third:
        pass
    assert len({first, second, third}) == 3
    assert pool.stats().destroyed_by_cause["lifetime"] == 2
    await pool.close()


async def test_lifetime_jitter_spreads_expiry_within_bound() -> None:
    random.seed(1234)
    pool = make(FakeFactory(), max_open=40, max_lifetime=100.0, lifetime_jitter=0.2)
    leases = [pool.acquire() for _ in range(40)]
    for lease in leases:
        await lease.__aenter__()
    lifetimes = [e.expires_at - e.created_at for e in pool._in_use]
    assert all(80.0 - 1e-9 <= t <= 100.0 for t in lifetimes)
    assert max(lifetimes) - min(lifetimes) > 5.0  # not all recycled at the same moment
    for lease in leases:
        await lease.__aexit__(None, None, None)
    await pool.close()


async def test_no_lifetime_means_never_expires() -> None:
    pool = make(FakeFactory(), max_lifetime=None)
    async with pool.acquire():
        (entry,) = pool._in_use
        assert entry.expires_at == float("inf")
    await pool.close()


async def test_background_reaps_expired_idle() -> None:
    f = FakeFactory()
    pool = make(f, max_lifetime=0.03, lifetime_jitter=0.0)
    async with pool.acquire():
        pass
    await eventually(lambda: pool.stats().destroyed_by_cause["lifetime"] == 1)
    assert pool.stats().open == 0
    await pool.close()


async def test_idle_timeout_keeps_min_idle() -> None:
    f = FakeFactory()
    pool = make(f, max_open=4, min_idle=1, idle_timeout=0.03)
    leases = [pool.acquire() for _ in range(4)]
    for lease in leases:
        await lease.__aenter__()
    for lease in leases:
        await lease.__aexit__(None, None, None)
    await eventually(lambda: pool.stats().destroyed_by_cause["idle"] == 3)
    await asyncio.sleep(0.05)
    s = pool.stats()
    assert (s.idle, s.open, s.destroyed_by_cause["idle"]) == (1, 1, 3)
    await pool.close()


async def test_background_validation_replaces_bad_connection() -> None:
    f = FakeFactory()
    pool = make(f, min_idle=1, health_interval=0.02)
    await pool.start()
    await eventually(lambda: pool.stats().idle == 1)
    bad = f.created[0]
    bad.healthy = False
    await eventually(lambda: pool.stats().destroyed_by_cause["validation"] == 1)
    await eventually(lambda: pool.stats().idle == 1 and len(f.created) == 2)
    assert bad.closed and f.created[1].healthy
    await eventually(lambda: f.validated.count(f.created[1]) >= 1)  # good one re-validated
    assert pool.stats().destroyed_by_cause["validation"] == 1
    await pool.close()


async def test_min_idle_filled_in_background() -> None:
    f = FakeFactory()
    async with make(f, min_idle=3, max_open=5) as pool:
        await eventually(lambda: pool.stats().idle == 3)
        async with pool.acquire():
            await eventually(lambda: pool.stats().idle == 3 and pool.stats().open == 4)
    assert all(c.closed for c in f.created)
    assert pool.stats().destroyed_by_cause["close"] == 4


async def test_refill_failure_logged_and_backed_off(caplog: pytest.LogCaptureFixture) -> None:
    f = FakeFactory()
    f.fail = ConnectionError("backend down")
    caplog.set_level(logging.WARNING, logger="prism.sdk.pool")
    pool = make(f, min_idle=2, health_interval=0.05)  # short timers -> short retry backoff
    await pool.start()
    await eventually(lambda: pool.stats().create_failures >= 2)
    assert "creating a connection failed" in caplog.text
    f.fail = None
    await eventually(lambda: pool.stats().idle == 2)
    await pool.close()


async def test_leak_warning_has_borrower_stack(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="prism.sdk.pool")
    pool = make(FakeFactory(), leak_threshold=0.03)
    async with pool.acquire():
        await eventually(lambda: "possible leak" in caplog.text)
    assert "test_leak_warning_has_borrower_stack" in caplog.text
    assert "returned after" in caplog.text
    leak_records = [r for r in caplog.records if "possible leak" in r.getMessage()]
    assert len(leak_records) == 1  # reported once, not every tick
    await pool.close()


def test_format_stack_renders_caller() -> None:
    def inner() -> str:
        return format_stack(capture_stack(0))

    text = inner()
    assert "in inner" in text and "in test_format_stack_renders_caller" in text
    assert text.index("test_format_stack_renders_caller") < text.index("in inner")
    assert "format_stack(capture_stack(0))" in text


async def test_close_waits_for_in_flight() -> None:
    f = FakeFactory()
    pool = make(f, max_open=2)
    async with pool.acquire():
        pass  # one idle
    release = asyncio.Event()
    entered = asyncio.Event()

    async def user() -> None:
        async with pool.acquire() as c:
            entered.set()
            await release.wait()
            assert not c.closed

    held = pool.acquire()
    await held.__aenter__()
    t = asyncio.create_task(user())
    await entered.wait()
    waiter_task = asyncio.create_task(pool.acquire().__aenter__())
    await settle()
    closer = asyncio.create_task(pool.close(timeout=5))
    await settle(20)
    assert not closer.done()
    with pytest.raises(FailedPreconditionError):
        await waiter_task  # queued acquirers are refused
    await held.__aexit__(None, None, None)
    await settle(20)
    assert not closer.done()
    release.set()
    await asyncio.wait_for(closer, 2)
    await t
    assert all(c.closed for c in f.created)
    s = pool.stats()
    assert s.open == 0 and s.destroyed_by_cause["close"] == 2
    await pool.close()  # idempotent


async def test_close_timeout_closes_late_returns(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="prism.sdk.pool")
    f = FakeFactory()
    pool = make(f)
    lease = pool.acquire()
    conn = await lease.__aenter__()
    await pool.close(timeout=0.02)
    assert "close timed out" in caplog.text
    assert not conn.closed
    await lease.__aexit__(None, None, None)
    await eventually(lambda: conn.closed)
    assert pool.stats().destroyed_by_cause["close"] == 1


async def test_close_waits_for_pending_creation() -> None:
    f = FakeFactory()
    f.gate = asyncio.Event()
    pool = make(f)
    t = asyncio.create_task(pool.acquire().__aenter__())
    await eventually(lambda: pool.stats().pending_creates == 1)
    closer = asyncio.create_task(pool.close(timeout=5))
    with pytest.raises(FailedPreconditionError):
        await t
    await settle(10)
    assert not closer.done()
    f.gate.set()
    await asyncio.wait_for(closer, 2)
    assert f.created[0].closed
    assert pool.stats().destroyed_by_cause["close"] == 1


async def test_close_abandons_hung_creation() -> None:
    f = FakeFactory()
    f.gate = asyncio.Event()
    pool = make(f, min_idle=1)
    await pool.start()
    await eventually(lambda: pool.stats().pending_creates == 1)
    await pool.close(timeout=0.02)
    assert pool.stats().pending_creates == 0 and not f.created


async def test_close_during_health_check() -> None:
    f = FakeFactory()
    pool = make(f, health_interval=0.01)
    async with pool.acquire():
        pass
    f.validate_gate = asyncio.Event()
    await eventually(lambda: len(f.validated) == 1)
    assert pool.stats().idle == 0 and pool.stats().open == 1  # taken out while probed
    await pool.close(timeout=1)
    assert f.created[0].closed
    assert pool.stats().destroyed_by_cause["close"] == 1


async def test_close_error_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="prism.sdk.pool")
    f = FakeFactory()
    f.close_error = OSError("already gone")
    pool = make(f)
    async with pool.acquire():
        pass
    await pool.close()
    assert "closing a connection failed" in caplog.text


async def test_stats_numbers_and_busy_fraction() -> None:
    pool = make(FakeFactory(), name="stats-pool", max_open=4, acquire_timeout=0.03)
    assert pool.name == "stats-pool" and pool.config.max_open == 4
    leases = [pool.acquire() for _ in range(4)]
    for lease in leases:
        await lease.__aenter__()
    s = pool.stats()
    assert (s.open, s.in_use, s.idle, s.waiters, s.created, s.acquires) == (4, 4, 0, 0, 4, 4)
    assert s.busy_fraction == 1.0 and pool.busy_fraction == 1.0
    assert s.name == "stats-pool" and s.max_open == 4
    with pytest.raises(Exception, match="exhausted"):
        async with pool.acquire():
            pass  # pragma: no cover
    await leases[0].__aexit__(ConnectionError, ConnectionError(), None)
    await leases[1].__aexit__(None, None, None)
    s = pool.stats()
    assert s.acquire_timeouts == 1
    assert s.wait_seconds_total >= s.wait_seconds_max >= 0.02
    assert (s.in_use, s.idle, s.open) == (2, 1, 3)
    assert pool.busy_fraction == 0.5 and s.busy_fraction == 0.5
    assert s.destroyed_by_cause == {
        "lifetime": 0,
        "idle": 0,
        "broken": 1,
        "validation": 0,
        "close": 0,
    }
    for lease in leases[2:]:
        await lease.__aexit__(None, None, None)
    await pool.close()
    assert pool.stats().destroyed_by_cause["close"] == 3 and pool.stats().destroyed == 4


async def test_prometheus_series() -> None:
    pool = make(FakeFactory(), name="metrics-pool")
    labels = {"pool": "metrics-pool"}
    before = REGISTRY.get_sample_value("prism_pool_acquires_total", labels) or 0.0
    async with pool.acquire():
        assert REGISTRY.get_sample_value("prism_pool_in_use_connections", labels) == 1.0
        assert REGISTRY.get_sample_value("prism_pool_busy_fraction", labels) == 0.1
    assert REGISTRY.get_sample_value("prism_pool_idle_connections", labels) == 1.0
    await pool.run_maintenance()  # acquire counts are exported in batches by upkeep
    assert REGISTRY.get_sample_value("prism_pool_acquires_total", labels) == before + 1
    async with pool.acquire():
        pass
    await pool.close()
    assert REGISTRY.get_sample_value("prism_pool_acquires_total", labels) == before + 2
    assert REGISTRY.get_sample_value("prism_pool_idle_connections", labels) is None
    destroyed = REGISTRY.get_sample_value(
        "prism_pool_connections_destroyed_total", {**labels, "cause": "close"}
    )
    assert destroyed is not None and destroyed >= 1


async def test_run_maintenance_directly() -> None:
    f = FakeFactory()
    pool = make(f, min_idle=2, health_interval=0.0001)
    await pool.run_maintenance()
    await eventually(lambda: pool.stats().idle == 2)
    await pool.run_maintenance()
    assert len(f.validated) >= 2
    await pool.close()
