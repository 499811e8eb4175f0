"""The open-loop runner: counts, errors, latency from the intended start, stop and hard end."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from prism.loadtest.backends import open_kv
from prism.loadtest.kv import KvScenario
from prism.loadtest.profiles import constant
from prism.loadtest.runner import DISPATCH_YIELD_S, OpResult, Progress, Runner
from prism.sdk.patterns import Entry


class SlowStore:
    """A KeyValueStore that serves one request at a time, each taking ``service`` seconds."""

    def __init__(self, service: float = 0.02, fail: BaseException | None = None) -> None:
        self.service, self.fail = service, fail
        self.lock = asyncio.Lock()

    async def _serve(self) -> None:
        async with self.lock:
            await asyncio.sleep(self.service)
        if self.fail is not None:
            raise self.fail

    async def set(
        self, namespace: str, key: str, value: bytes, ttl: float | None, tags: Mapping[str, str]
    ) -> bool:
        await self._serve()
        return True

    async def get(self, namespace: str, key: str) -> Entry | None:
        await self._serve()
        return Entry(b"v")

    async def delete(self, namespace: str, key: str) -> bool:
        return True

    async def exists(self, namespace: str, key: str) -> bool:
        return True


async def test_memstore_run_hits_the_target_with_no_errors() -> None:
    progress: list[Progress] = []
    async with open_kv("memstore") as opened:
        scenario = KvScenario(opened.target, keys=100, seed=1)  # type: ignore[arg-type]
        await scenario.setup()
        runner = Runner(constant(100, 1.5), scenario, concurrency=8, progress=progress.append)
        result = await runner.run()
    assert result.target_ops == 150
    assert result.issued == 150
    assert 140 <= result.completed <= 150  # exact in practice; margin for a loaded box
    assert result.recorder.total.errors == {}
    assert result.missed == 0 and result.unfinished == 0 and not result.interrupted
    assert set(result.recorder.ops) == {"get", "set"}
    assert scenario.misses == 0  # preloaded
    assert progress and progress[0].target_rate == 100


async def test_latency_is_measured_from_the_intended_start() -> None:
    """A store that can do 50 ops/s, offered 100 ops/s: latency grows, the rate is kept."""
    results: list[OpResult] = []
    scenario = KvScenario(SlowStore(0.02), keys=10, seed=2)
    runner = Runner(constant(100, 1.0), scenario, concurrency=1000, observer=results.append)
    result = await runner.run()
    assert result.issued == 100 and result.completed == 100  # nothing dropped: open loop
    assert result.recorder.total.errors == {}
    results.sort(key=lambda r: r.due)
    # 100 serial 20 ms services end >= 2 s after the start; the last op was due at 0.99 s.
    assert results[-1].latency >= 0.9
    assert results[-1].service < results[-1].latency  # it queued: not the store's own time
    first = sum(r.latency for r in results[:10]) / 10
    last = sum(r.latency for r in results[-10:]) / 10
    assert last > first + 0.5  # latency grows through the run
    assert result.recorder.total.latency.percentile_ms(100) >= 900


async def test_errors_are_counted_by_kind() -> None:
    scenario = KvScenario(SlowStore(0.0, ConnectionError("down")), keys=10)
    result = await Runner(constant(50, 0.2), scenario).run()
    assert result.completed == 10
    assert result.recorder.total.errors == {"unavailable": 10}
    assert result.recorder.total.ok == 0


async def test_hard_end_cancels_what_is_still_running() -> None:
    scenario = KvScenario(SlowStore(60.0), keys=10)
    runner = Runner(constant(20, 0.2), scenario, concurrency=2, drain_timeout=0.3)
    result = await asyncio.wait_for(runner.run(), 10)
    assert result.issued == 2  # two slots, both stuck
    assert result.unfinished == 2
    assert result.missed == 2  # the other two due ops never got a slot
    assert result.elapsed < 5


async def test_stop_ends_the_run_early_with_a_partial_result() -> None:
    scenario = KvScenario(SlowStore(0.0), keys=10)
    runner = Runner(constant(100, 30.0), scenario)
    task = asyncio.ensure_future(runner.run())
    await asyncio.sleep(0.3)
    runner.stop()
    result = await asyncio.wait_for(task, 5)
    assert result.interrupted
    assert result.elapsed < 5
    assert 0 < result.completed < 3000
    assert result.target_ops < 3000


async def test_dispatch_yields_the_last_stretch_instead_of_a_timer(monkeypatch: Any) -> None:
    """The wait for a due time ends DISPATCH_YIELD_S early on a timer, then yields (sleep 0).

    asyncio's timers wake on the selector's 1 ms grid, so sleeping the final sub-ms stretch
    started every operation up to ~1 ms late (uniform over 0-1.1 ms on a MemStore Set whose
    service time is ~11 us). Checked by the delays asked of the loop, with a scripted clock.
    """
    due = 100.0
    readings = iter([due - 0.05, due - 0.001, due - 0.0004, due])
    asked: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(delay: float) -> None:
        asked.append(round(delay, 6))
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", recording_sleep)  # what the runner module calls
    runner = Runner(constant(1, 1), KvScenario(SlowStore()), clock=lambda: next(readings))
    assert await runner._wait_until(due)
    assert asked == [round(0.05 - DISPATCH_YIELD_S, 6), 0, 0]
