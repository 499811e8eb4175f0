"""Behaviour of prism.sdk.ttl.TTLManager: deadlines, batches, the background loop."""

from __future__ import annotations

import asyncio
import logging
import math
import time

import pytest

from prism.sdk.ttl import TTLManager


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(
    clock: FakeClock | None = None, **kwargs: float
) -> tuple[TTLManager[str], list[str], FakeClock]:
    clock = clock or FakeClock()
    fired: list[str] = []
    mgr: TTLManager[str] = TTLManager(fired.append, clock=clock, **kwargs)  # type: ignore[arg-type]
    return mgr, fired, clock


async def wait_for(predicate: object, timeout: float = 5.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


# ---------------------------------------------------------------- deadlines (injected clock)


def test_keys_expire_once_each_in_deadline_order() -> None:
    mgr, fired, clock = make()
    mgr.set("a", 3.0)
    mgr.set("b", 1.0)
    mgr.set("c", 2.02)
    mgr.set("d", 2.024)  # same 100 ms slot as c: order inside a slot is exact too
    assert mgr.expires_at("c") // 0.1 == mgr.expires_at("d") // 0.1  # type: ignore[operator]
    assert len(mgr) == 4
    assert mgr.expire_due(clock.now + 0.5) == 0
    assert mgr.expire_due(clock.now + 10) == 4
    assert fired == ["b", "c", "d", "a"]
    assert mgr.expire_due(clock.now + 20) == 0
    assert fired == ["b", "c", "d", "a"]
    assert len(mgr) == 0


def test_expire_due_defaults_to_clock() -> None:
    mgr, fired, clock = make()
    mgr.set("a", 1.0)
    assert mgr.expire_due() == 0
    clock.now += 1.0
    assert mgr.expire_due() == 1
    assert fired == ["a"]


def test_only_keys_due_by_now_expire_within_a_slot() -> None:
    mgr, fired, clock = make(FakeClock(1.0))
    for i, ttl in enumerate((0.001, 0.002, 0.003)):
        mgr.set(f"k{i}", ttl)
    assert mgr.expire_due(1.0025) == 2
    assert fired == ["k0", "k1"]
    assert "k2" in mgr
    assert mgr.expire_due(1.003) == 1
    assert fired == ["k0", "k1", "k2"]


def test_set_again_replaces_deadline_later() -> None:
    mgr, fired, clock = make()
    mgr.set("k", 1.0)
    mgr.set("k", 5.0)
    assert mgr.expires_at("k") == clock.now + 5.0
    assert mgr.expire_due(clock.now + 2) == 0
    assert mgr.expire_due(clock.now + 5) == 1
    assert mgr.expire_due(clock.now + 50) == 0
    assert fired == ["k"]


def test_set_again_replaces_deadline_earlier() -> None:
    mgr, fired, clock = make()
    mgr.set("k", 5.0)
    mgr.set("k", 1.0)
    assert mgr.expire_due(clock.now + 1) == 1
    assert mgr.expire_due(clock.now + 50) == 0
    assert fired == ["k"]


def test_set_again_same_deadline_fires_once() -> None:
    mgr, fired, clock = make()
    mgr.set("k", 1.0)
    mgr.set("k", 1.0)
    assert mgr.expire_due(clock.now + 1) == 1
    assert fired == ["k"]


def test_remove_and_persist_cancel() -> None:
    mgr, fired, clock = make()
    mgr.set("a", 1.0)
    mgr.set("b", 1.0)
    mgr.set("c", 1.0)
    assert mgr.remove("a") is True
    assert mgr.remove("a") is False
    assert mgr.persist("b") is True
    assert mgr.persist("b") is False
    assert mgr.persist("never") is False
    assert "a" not in mgr and "b" not in mgr and "c" in mgr
    assert len(mgr) == 1
    assert mgr.expire_due(clock.now + 10) == 1
    assert fired == ["c"]


def test_remaining_decreases_and_expires_at() -> None:
    mgr, _, clock = make()
    assert mgr.remaining("k") is None
    assert mgr.expires_at("k") is None
    mgr.set("k", 10.0)
    assert mgr.expires_at("k") == pytest.approx(110.0)
    assert mgr.remaining("k") == pytest.approx(10.0)
    clock.now += 4.0
    assert mgr.remaining("k") == pytest.approx(6.0)
    clock.now += 100.0
    assert mgr.remaining("k") == 0.0


def test_is_expired_true_once_due_before_processing() -> None:
    mgr, fired, clock = make()
    mgr.set("k", 2.0)
    assert mgr.is_expired("k") is False
    assert mgr.is_expired("unknown") is False
    clock.now += 2.0
    assert mgr.is_expired("k") is True
    assert "k" in mgr  # still tracked until a batch processes it
    assert fired == []
    mgr.expire_due()
    assert mgr.is_expired("k") is False
    assert fired == ["k"]


def test_zero_and_negative_ttl_are_due_at_once() -> None:
    mgr, fired, clock = make()
    mgr.set("zero", 0.0)
    mgr.set("neg", -1.0)
    assert mgr.is_expired("zero") and mgr.is_expired("neg")
    assert mgr.expire_due() == 2
    assert fired == ["neg", "zero"]


def test_bounded_batch() -> None:
    mgr, fired, clock = make(max_expirations_per_tick=10)
    for i in range(25):
        mgr.set(f"k{i:02d}", 1.0 + i * 0.001)
    now = clock.now + 10
    assert [mgr.expire_due(now) for _ in range(4)] == [10, 10, 5, 0]
    assert fired == [f"k{i:02d}" for i in range(25)]


def test_bounded_batch_across_slots() -> None:
    mgr, fired, clock = make(max_expirations_per_tick=3)
    for i in range(7):
        mgr.set(f"k{i}", 1.0 + i)  # one slot each
    now = clock.now + 10
    assert [mgr.expire_due(now) for _ in range(4)] == [3, 3, 1, 0]
    assert fired == [f"k{i}" for i in range(7)]


def test_unorderable_keys_with_equal_deadlines() -> None:
    fired: list[object] = []
    clock = FakeClock()
    mgr: TTLManager[object] = TTLManager(fired.append, clock=clock)
    keys = [object() for _ in range(5)]
    for key in keys:
        mgr.set(key, 1.0)
    assert mgr.expire_due(clock.now + 1) == 5
    assert fired == keys  # ties keep insertion order


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="tick_interval"):
        TTLManager(print, tick_interval=0)
    with pytest.raises(ValueError, match="tick_interval"):
        TTLManager(print, tick_interval=math.inf)
    with pytest.raises(ValueError, match="max_expirations_per_tick"):
        TTLManager(print, max_expirations_per_tick=0)
    mgr, _, _ = make()
    with pytest.raises(ValueError, match="finite"):
        mgr.set("k", math.nan)
    with pytest.raises(ValueError, match="finite"):
        mgr.set("k", math.inf)
    with pytest.raises(ValueError, match="finite"):
        mgr.set("k", -math.inf)
    assert "k" not in mgr
    mgr.set("k", 1.0)
    with pytest.raises(ValueError, match="finite"):
        mgr.set("k", math.nan)
    assert mgr.expires_at("k") == pytest.approx(101.0)  # a rejected re-set changes nothing


def test_default_sweep_is_coarse_but_reads_are_exact() -> None:
    mgr, fired, clock = make(FakeClock(1.05))  # default tick_interval: 100 ms
    mgr.set("k", 0.01)
    clock.now = 1.0601
    assert mgr.is_expired("k") and mgr.remaining("k") == 0.0  # gone for readers at once
    assert mgr.expire_due() == 1  # an explicit sweep is exact too
    assert fired == ["k"]
    mgr.set("huge", 1e308)  # finite: accepted, never due
    assert mgr.expire_due(1e300) == 0 and "huge" in mgr


def test_callback_exception_is_logged_and_batch_continues(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fired: list[str] = []

    def on_expire(key: str) -> None:
        if key == "bad":
            raise RuntimeError("boom")
        fired.append(key)

    clock = FakeClock()
    mgr: TTLManager[str] = TTLManager(on_expire, clock=clock)
    mgr.set("bad", 1.0)
    mgr.set("good", 2.0)
    with caplog.at_level(logging.ERROR, logger="prism.sdk.ttl.manager"):
        assert mgr.expire_due(clock.now + 5) == 2
    assert fired == ["good"]
    assert "bad" in caplog.text and "boom" in caplog.text


def test_callback_may_set_and_reenter() -> None:
    clock = FakeClock(1.05)  # mid-slot: "a", "b" and "same-slot" share the 100 ms slot
    fired: list[str] = []
    mgr: TTLManager[str]

    def on_expire(key: str) -> None:
        fired.append(key)
        assert mgr.expire_due() == 0  # re-entry is a no-op
        if key == "a":
            mgr.set("same-slot", 0.0)  # appended to the slot being processed
            mgr.set("earlier-slot", -0.5)  # a slot before the one being processed
            mgr.set("later", 10.0)

    mgr = TTLManager(on_expire, clock=clock, tick_interval=0.1)
    mgr.set("a", 0.0)
    mgr.set("b", 0.001)
    clock.now = 1.055
    total = 0
    while n := mgr.expire_due():
        total += n
    assert sorted(fired) == sorted(["a", "b", "same-slot", "earlier-slot"])
    assert total == 4
    assert fired[:2] == ["a", "b"]
    assert len(mgr) == 1 and "later" in mgr


def test_callback_setting_an_earlier_slot_after_the_last_entry() -> None:
    clock = FakeClock(5.0)
    fired: list[str] = []
    mgr: TTLManager[str]

    def on_expire(key: str) -> None:
        fired.append(key)
        if key == "only":  # its slot is finished while the new slot is the heap head
            mgr.set("earlier", -3.0)
            mgr.set("later", 100.0)

    mgr = TTLManager(on_expire, clock=clock)
    mgr.set("only", 0.0)
    mgr.set("next", 1.0)
    assert mgr.expire_due() == 2
    assert fired == ["only", "earlier"]
    clock.now += 1
    assert mgr.expire_due() == 1
    assert fired == ["only", "earlier", "next"]


def test_compact_drops_stale_entries() -> None:
    mgr, fired, clock = make()
    for round_ in range(3):
        for i in range(1000):
            mgr.set(f"k{i}", 100.0 + round_ + i * 0.01)  # re-set: stale entries pile up
    for i in range(500):
        mgr.remove(f"k{i}")
    assert mgr.compact() is True
    assert mgr.compact() is False  # nothing stale left
    assert len(mgr) == 500
    assert mgr.expire_due(clock.now + 1000) == 500
    assert fired == [f"k{i}" for i in range(500, 1000)]


def test_compact_not_needed_for_few_stale() -> None:
    mgr, _, _ = make()
    for i in range(10):
        mgr.set(f"k{i}", 1.0)
        mgr.set(f"k{i}", 2.0)
    assert mgr.compact() is False


# ---------------------------------------------------------------- background loop (real clock)


async def test_loop_expires_on_time_in_order() -> None:
    fired: list[str] = []
    mgr: TTLManager[str] = TTLManager(fired.append, tick_interval=0.005)
    await mgr.start()
    await mgr.start()  # idempotent
    mgr.set("c", 0.09)
    mgr.set("a", 0.03)
    mgr.set("b", 0.06)
    t0 = time.monotonic()
    await wait_for(lambda: len(fired) == 3)
    assert fired == ["a", "b", "c"]
    assert time.monotonic() - t0 >= 0.085
    await asyncio.sleep(0.05)
    assert fired == ["a", "b", "c"]
    await mgr.stop()


async def test_loop_wakes_early_for_an_earlier_deadline() -> None:
    fired: list[str] = []
    mgr: TTLManager[str] = TTLManager(fired.append)
    await mgr.start()
    await asyncio.sleep(0.01)  # loop idles with nothing to do
    mgr.set("far", 60.0)
    await asyncio.sleep(0.01)  # loop now sleeps until "far"
    t0 = time.monotonic()
    mgr.set("near", 0.02)
    await wait_for(lambda: fired == ["near"], timeout=2.0)
    assert time.monotonic() - t0 < 1.5
    assert "far" in mgr
    await mgr.stop()


async def test_stop_stops_expiry() -> None:
    fired: list[str] = []
    mgr: TTLManager[str] = TTLManager(fired.append)
    await mgr.stop()  # not started: no-op
    await mgr.start()
    mgr.set("k", 0.05)
    await mgr.stop()
    await mgr.stop()
    await asyncio.sleep(0.1)
    assert fired == []
    assert mgr.is_expired("k")
    mgr.set("k2", 0.0)  # set after stop must not fail
    assert mgr.expire_due() == 2


async def test_loop_survives_callback_exceptions(caplog: pytest.LogCaptureFixture) -> None:
    fired: list[str] = []

    def on_expire(key: str) -> None:
        fired.append(key)
        raise ValueError(f"cannot expire {key}")

    mgr: TTLManager[str] = TTLManager(on_expire)
    await mgr.start()
    with caplog.at_level(logging.ERROR, logger="prism.sdk.ttl.manager"):
        mgr.set("one", 0.01)
        await wait_for(lambda: fired == ["one"])
        mgr.set("two", 0.01)
        await wait_for(lambda: fired == ["one", "two"])
    assert "cannot expire one" in caplog.text
    assert mgr._task is not None and not mgr._task.done()
    await mgr.stop()


async def test_mass_expiry_does_not_block_the_loop() -> None:
    n = 100_000
    count = 0
    all_done = asyncio.Event()

    def on_expire(key: int) -> None:
        nonlocal count
        count += 1
        if count == n:
            all_done.set()

    mgr: TTLManager[int] = TTLManager(on_expire, max_expirations_per_tick=5_000)
    for i in range(n):
        mgr.set(i, 0.05)
    max_gap = 0.0
    ticks = 0

    async def ticker() -> None:
        nonlocal max_gap, ticks
        last = time.perf_counter()
        while not all_done.is_set():
            await asyncio.sleep(0)
            now = time.perf_counter()
            max_gap = max(max_gap, now - last)
            last = now
            ticks += 1

    ticker_task = asyncio.create_task(ticker())
    await mgr.start()
    await asyncio.wait_for(all_done.wait(), timeout=20)
    await ticker_task
    await mgr.stop()
    assert count == n and len(mgr) == 0
    assert ticks >= n // 5_000  # the ticker ran between batches
    assert max_gap < 0.5, f"event loop blocked for {max_gap:.3f}s"


async def test_loop_compacts_only_when_stale_entries_pile_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[bool] = []
    mgr: TTLManager[str] = TTLManager(lambda key: None, tick_interval=0.005)
    original = mgr.compact

    def spy() -> bool:
        result = original()
        calls.append(result)
        return result

    monkeypatch.setattr(mgr, "compact", spy)
    for i in range(3000):
        mgr.set(f"k{i}", 60.0)
        mgr.remove(f"k{i}")
    await mgr.start()
    await wait_for(lambda: calls == [True])  # compacted as soon as the loop ran
    assert len(mgr) == 0 and mgr._order == []
    await asyncio.sleep(0.05)
    assert calls == [True]  # idle, nothing stale: no wake-ups to look for stale entries
    mgr.set("keep", 60.0)
    for round_ in range(4):  # re-sets while the loop sleeps until a far deadline
        for i in range(1000):
            mgr.set(f"r{i}", 30.0 + round_)
    await wait_for(lambda: calls == [True, True])
    assert len(mgr) == 1001
    assert sum(map(len, mgr._slots.values())) == 1001
    await mgr.stop()


def test_compact_after_partial_batch_and_stale_accounting() -> None:
    mgr, fired, clock = make(max_expirations_per_tick=2)
    for i in range(5):
        mgr.set(f"k{i}", 1.0)
    mgr.remove("k1")
    mgr.set("k2", 50.0)  # re-set: its entry in the first bucket is now stale
    assert mgr.expire_due(clock.now + 1) == 1  # k0 expired, k1 skipped: budget spent
    assert mgr._stale == 1  # k2's old entry remains
    assert mgr.expire_due(clock.now + 1) == 1  # k2 (stale) skipped, k3 expired
    assert mgr.expire_due(clock.now + 1) == 1
    assert fired == ["k0", "k3", "k4"]
    assert mgr._stale == 0
    assert mgr.expire_due(clock.now + 100) == 1


def test_partial_bucket_keeps_pending_keys_when_cut_by_budget() -> None:
    mgr, fired, clock = make(FakeClock(1.0), max_expirations_per_tick=2)
    mgr.set("late", 0.009)  # same bucket as the others, not due at 1.005
    for i in range(3):
        mgr.set(f"k{i}", 0.001)
    # Each batch scans "late" again (kept, counted against the budget) and one due key.
    assert [mgr.expire_due(1.005) for _ in range(4)] == [1, 1, 1, 0]
    assert fired == ["k0", "k1", "k2"] and "late" in mgr
    assert mgr.expire_due(1.01) == 1
    assert fired[-1] == "late" and len(mgr) == 0


async def test_loop_handles_removed_head_and_refills() -> None:
    fired: list[str] = []
    mgr: TTLManager[str] = TTLManager(fired.append, tick_interval=0.005)
    await mgr.start()
    mgr.set("gone", 0.02)
    mgr.set("stay", 0.04)
    mgr.remove("gone")
    await wait_for(lambda: fired == ["stay"])
    mgr.set("again", 0.01)
    await wait_for(lambda: fired == ["stay", "again"])
    await mgr.stop()


async def test_loop_sleeps_past_a_huge_ttl_and_still_wakes_for_near_keys() -> None:
    fired: list[str] = []
    mgr: TTLManager[str] = TTLManager(fired.append)  # default 100 ms sweep
    await mgr.start()
    mgr.set("huge", 1e308)  # its bucket is inf: the loop sleeps with no timer
    await asyncio.sleep(0.02)
    mgr.set("near", 0.01)  # earlier bucket: wakes the loop
    await wait_for(lambda: fired == ["near"], timeout=3.0)
    assert "huge" in mgr
    await mgr.stop()
