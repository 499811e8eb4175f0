"""Acquire/release behaviour: reuse, exhaustion, FIFO, cancellation, failures, broken conns."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from prism.sdk.errors import (
    DeadlineExceededError,
    FailedPreconditionError,
    PermanentError,
    PoolExhaustedError,
    UnavailableError,
)
from prism.sdk.pool import Lease, Pool, PoolConfig, default_is_broken
from sdk.pool.pool_fakes import FakeConn, FakeFactory, eventually, settle

QUIET: dict[str, Any] = dict(health_interval=None, leak_threshold=None, idle_timeout=None)


def make(factory: FakeFactory, **kw: object) -> Pool[FakeConn]:
    opts: dict[str, object] = {**QUIET, **kw}
    return Pool(factory, PoolConfig(**opts), name="t")  # type: ignore[arg-type]


async def hold_only_connection_and_queue(
    pool: Pool[FakeConn],
) -> tuple[Lease[FakeConn], FakeConn, asyncio.Task[FakeConn]]:
    """Lend out the only connection of a max_open=1 pool and queue a second acquire behind it."""
    held = pool.acquire()
    conn = await held.__aenter__()
    waiter = asyncio.create_task(pool.acquire().__aenter__())
    await eventually(lambda: pool.stats().waiters == 1)
    return held, conn, waiter


async def test_release_reuses_connection() -> None:
    f = FakeFactory()
    pool = make(f)
    async with pool.acquire() as a:
        assert pool.stats().in_use == 1
    async with pool.acquire() as b:
        pass
    assert a is b
    s = pool.stats()
    assert (s.acquires, s.created, s.open, s.idle, s.in_use) == (2, 1, 1, 1, 0)
    await pool.close()
    assert a.closed


async def test_exhaustion_raises_pool_exhausted_with_details() -> None:
    pool = make(FakeFactory(), max_open=1, acquire_timeout=0.05)
    async with pool.acquire():
        with pytest.raises(PoolExhaustedError) as ei:
            async with pool.acquire():
                pass  # pragma: no cover
    msg = str(ei.value)
    assert "'t'" in msg and "1/1" in msg and "waited" in msg
    s = pool.stats()
    assert s.acquire_timeouts == 1 and s.waiters == 0 and s.wait_seconds_max >= 0.04
    async with pool.acquire():  # nothing leaked by the timed-out waiter
        pass
    await pool.close()


async def test_waiters_are_served_fifo() -> None:
    pool = make(FakeFactory(), max_open=1, acquire_timeout=5)
    order: list[int] = []

    async def worker(i: int) -> None:
        async with pool.acquire():
            order.append(i)
            await asyncio.sleep(0)

    held = pool.acquire()
    await held.__aenter__()
    tasks = []
    for i in range(6):
        tasks.append(asyncio.create_task(worker(i)))
        await eventually(lambda n=i + 1: pool.stats().waiters == n)  # type: ignore[misc]
    await held.__aexit__(None, None, None)
    await asyncio.gather(*tasks)
    assert order == list(range(6))
    assert pool.stats().created == 1
    await pool.close()


async def test_newcomer_does_not_jump_the_queue() -> None:
    pool = make(FakeFactory(), max_open=1)
    held = pool.acquire()
    await held.__aenter__()
    order: list[str] = []

    async def worker(tag: str) -> None:
        async with pool.acquire():
            order.append(tag)

    first = asyncio.create_task(worker("waiter"))
    await eventually(lambda: pool.stats().waiters == 1)
    await held.__aexit__(None, None, None)  # handed straight to the waiter, not parked idle
    assert pool.stats().idle == 0
    second = asyncio.create_task(worker("newcomer"))
    await asyncio.gather(first, second)
    assert order == ["waiter", "newcomer"]
    await pool.close()


async def test_cancelled_waiter_leaks_nothing() -> None:
    pool = make(FakeFactory(), max_open=1)
    held, _, waiter = await hold_only_connection_and_queue(pool)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert pool.stats().waiters == 0
    await held.__aexit__(None, None, None)
    s = pool.stats()
    assert (s.in_use, s.idle, s.open) == (0, 1, 1)
    await pool.close()


async def test_connection_handed_to_cancelled_waiter_is_passed_on() -> None:
    pool = make(FakeFactory(), max_open=1)
    held, _, waiter = await hold_only_connection_and_queue(pool)
    # Release hands the connection to the waiter's future; cancel before the waiter resumes.
    await held.__aexit__(None, None, None)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    s = pool.stats()
    assert (s.in_use, s.idle, s.open) == (0, 1, 1)
    await pool.close()


async def test_late_connection_goes_to_next_waiter() -> None:
    f = FakeFactory()
    f.gate = asyncio.Event()
    pool = make(f, max_open=1)
    a = asyncio.create_task(pool.acquire().__aenter__())
    await eventually(lambda: pool.stats().pending_creates == 1)
    got: list[FakeConn] = []

    async def b_worker() -> None:
        async with pool.acquire() as conn:
            got.append(conn)

    b = asyncio.create_task(b_worker())
    await eventually(lambda: pool.stats().waiters == 2)
    a.cancel()
    with pytest.raises(asyncio.CancelledError):
        await a
    assert pool.stats().pending_creates == 1  # creation outlives its waiter
    f.gate.set()
    await b
    assert got == f.created and len(f.created) == 1
    await pool.close()


async def test_late_connection_without_waiters_goes_idle() -> None:
    f = FakeFactory()
    f.gate = asyncio.Event()
    pool = make(f, max_open=2)
    a = asyncio.create_task(pool.acquire().__aenter__())
    await eventually(lambda: pool.stats().pending_creates == 1)
    a.cancel()
    with pytest.raises(asyncio.CancelledError):
        await a
    f.gate.set()
    await eventually(lambda: pool.stats().idle == 1)
    assert pool.stats().in_use == 0
    await pool.close()


async def test_create_failure_is_classified_and_frees_slot() -> None:
    f = FakeFactory()
    f.fail = ConnectionRefusedError("nope")
    pool = make(f, max_open=1)
    with pytest.raises(UnavailableError) as ei:
        async with pool.acquire():
            pass  # pragma: no cover
    assert isinstance(ei.value.__cause__, ConnectionRefusedError)
    s = pool.stats()
    assert (s.open, s.pending_creates, s.create_failures, s.waiters) == (0, 0, 1, 0)
    f.fail = None
    async with pool.acquire() as conn:
        assert conn in f.created
    await pool.close()


async def test_create_failure_other_error_is_permanent() -> None:
    f = FakeFactory()
    f.fail = ValueError("bad config")
    pool = make(f)
    with pytest.raises(PermanentError):
        async with pool.acquire():
            pass  # pragma: no cover
    await pool.close()


async def test_create_failure_fails_each_waiter_once() -> None:
    f = FakeFactory()
    f.gate = asyncio.Event()
    f.fail = ConnectionError("down")
    pool = make(f, max_open=1)
    tasks = [asyncio.create_task(pool.acquire().__aenter__()) for _ in range(3)]
    await eventually(lambda: pool.stats().waiters == 3)
    f.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, UnavailableError) for r in results)
    assert pool.stats().create_failures == 3
    await pool.close()


async def test_broken_connection_is_discarded_and_replaced() -> None:
    f = FakeFactory()
    pool = make(f, max_open=1)
    with pytest.raises(ConnectionResetError):
        async with pool.acquire() as first:
            raise ConnectionResetError("reset")
    await settle()
    assert first.closed
    async with pool.acquire() as second:
        assert second is not first
    s = pool.stats()
    assert s.destroyed_by_cause["broken"] == 1 and s.open == 1 and s.created == 2
    await pool.close()


async def test_broken_connection_replacement_serves_waiter() -> None:
    pool = make(FakeFactory(), max_open=1)
    held, first, waiter = await hold_only_connection_and_queue(pool)
    await held.__aexit__(OSError, OSError("broken pipe"), None)
    second = await asyncio.wait_for(waiter, 2)
    assert second is not first
    await pool.close(timeout=0.01)


async def test_application_error_keeps_connection() -> None:
    pool = make(FakeFactory())
    with pytest.raises(KeyError):
        async with pool.acquire() as first:
            raise KeyError("app bug")
    async with pool.acquire() as second:
        assert second is first
    assert pool.stats().destroyed == 0
    await pool.close()


async def test_cancel_inside_block_discards_connection() -> None:
    pool = make(FakeFactory())
    started = asyncio.Event()

    async def user() -> None:
        async with pool.acquire():
            started.set()
            await asyncio.sleep(10)

    t = asyncio.create_task(user())
    await started.wait()
    t.cancel()
    with pytest.raises(asyncio.CancelledError):
        await t
    assert pool.stats().destroyed_by_cause["broken"] == 1
    await pool.close()


async def test_custom_is_broken() -> None:
    pool = Pool(FakeFactory(), PoolConfig(**QUIET), is_broken=lambda e: isinstance(e, KeyError))
    with pytest.raises(KeyError):
        async with pool.acquire():
            raise KeyError("x")
    assert pool.stats().destroyed_by_cause["broken"] == 1
    await pool.close()


def test_default_is_broken() -> None:
    assert default_is_broken(ConnectionError())
    assert default_is_broken(TimeoutError())
    assert default_is_broken(UnavailableError("x"))
    assert default_is_broken(DeadlineExceededError())
    assert default_is_broken(asyncio.CancelledError())
    assert not default_is_broken(KeyError("k"))
    assert not default_is_broken(ValueError())


async def test_validate_on_borrow_discards_bad_idle_connection() -> None:
    f = FakeFactory()
    pool = make(f, validate_on_borrow=True)
    async with pool.acquire() as first:
        pass
    first.healthy = False
    async with pool.acquire() as second:
        assert second is not first
    async with pool.acquire() as third:
        assert third is second
    f.validate_error = RuntimeError("probe blew up")
    async with pool.acquire() as fourth:
        assert fourth is not third
    assert pool.stats().destroyed_by_cause["validation"] == 2
    assert f.validated == [first, second, third]
    await pool.close()


async def test_validate_on_borrow_cancelled_discards() -> None:
    f = FakeFactory()
    pool = make(f, validate_on_borrow=True)
    async with pool.acquire():
        pass
    f.validate_gate = asyncio.Event()
    t = asyncio.create_task(pool.acquire().__aenter__())
    await eventually(lambda: len(f.validated) == 1)
    t.cancel()
    with pytest.raises(asyncio.CancelledError):
        await t
    s = pool.stats()
    assert s.in_use == 0 and s.destroyed_by_cause["broken"] == 1
    await pool.close()


async def test_acquire_after_close_fails() -> None:
    pool = make(FakeFactory())
    await pool.close()
    assert pool.closed
    with pytest.raises(FailedPreconditionError, match="pool 't' closed"):
        async with pool.acquire():
            pass  # pragma: no cover
    with pytest.raises(FailedPreconditionError):
        await pool.start()


async def test_lease_cannot_be_entered_twice() -> None:
    pool = make(FakeFactory())
    lease = pool.acquire()
    await lease.__aenter__()
    with pytest.raises(RuntimeError):
        await lease.__aenter__()
    await lease.__aexit__(None, None, None)
    await lease.__aexit__(None, None, None)  # second exit is a no-op
    assert pool.stats().in_use == 0
    await pool.close()


async def test_no_acquire_timeout_waits() -> None:
    pool = make(FakeFactory(), max_open=1, acquire_timeout=None)
    held, _, waiter = await hold_only_connection_and_queue(pool)
    await held.__aexit__(None, None, None)
    assert isinstance(await waiter, FakeConn)
    await pool.close(timeout=0.01)


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        PoolConfig(max_open=0)
    with pytest.raises(ValueError):
        PoolConfig(min_idle=11)
    with pytest.raises(ValueError):
        PoolConfig(lifetime_jitter=1.0)
    with pytest.raises(ValueError):
        PoolConfig(idle_timeout=-1)


async def test_staggered_waiters_each_time_out_after_their_own_wait() -> None:
    # Timeouts long enough that a loaded machine still sees both waiters queued at once.
    pool = make(FakeFactory(), max_open=1, acquire_timeout=1.0)
    held = pool.acquire()
    await held.__aenter__()
    first = asyncio.create_task(pool.acquire().__aenter__())
    await eventually(lambda: pool.stats().waiters == 1)
    await asyncio.sleep(0.3)
    second = asyncio.create_task(pool.acquire().__aenter__())
    await eventually(lambda: pool.stats().waiters == 2)
    with pytest.raises(PoolExhaustedError):
        await first
    assert not second.done() or isinstance(second.exception(), PoolExhaustedError)
    with pytest.raises(PoolExhaustedError):
        await second
    s = pool.stats()
    assert s.acquire_timeouts == 2 and s.waiters == 0
    assert s.wait_seconds_max >= 0.9  # each waited its own full timeout
    await held.__aexit__(None, None, None)
    await pool.close()


async def test_timer_survives_served_head_waiter() -> None:
    pool = make(FakeFactory(), max_open=1, acquire_timeout=0.2)
    held = pool.acquire()
    await held.__aenter__()
    first = asyncio.create_task(pool.acquire().__aenter__())
    await eventually(lambda: pool.stats().waiters == 1)
    await asyncio.sleep(0.01)
    second = asyncio.create_task(pool.acquire().__aenter__())
    await eventually(lambda: pool.stats().waiters == 2)
    await held.__aexit__(None, None, None)  # head served; its timer now fires for nobody
    await first
    with pytest.raises(PoolExhaustedError):
        await second
    await pool.close(timeout=0.01)


async def test_faulty_is_broken_discards(caplog: pytest.LogCaptureFixture) -> None:
    def bad(exc: BaseException) -> bool:
        raise RuntimeError("predicate bug")

    pool = Pool(FakeFactory(), PoolConfig(**QUIET), is_broken=bad)
    with pytest.raises(KeyError):
        async with pool.acquire():
            raise KeyError("x")
    assert pool.stats().destroyed_by_cause["broken"] == 1
    assert "is_broken raised" in caplog.text
    await pool.close()
