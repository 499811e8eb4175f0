"""Benchmark: prism.sdk.pool acquire/release vs a bare asyncio.Queue of connections.

Each op borrows a connection, awaits one event-loop yield (a stand-in for backend I/O) and
gives it back. N tasks run concurrently against a pool of P connections; when N > P tasks
queue (the pool's FIFO waiters vs the Queue's getters). The baseline is the cheapest correct
pool there is (``await q.get()`` / ``q.put_nowait()``): no lifetime, leak, health or stats
handling, so the ratio column is the price of those features per op.

    python bench_pool.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import sys
import time
from collections.abc import Awaitable, Callable, Sequence

from prism.sdk.pool import Pool, PoolConfig


class _Conn:
    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


class _Factory:
    async def create(self) -> _Conn:
        return _Conn()

    async def close(self, conn: _Conn) -> None:
        return None

    async def validate(self, conn: _Conn) -> bool:
        return True


async def _op(conn: _Conn) -> None:
    conn.n += 1
    await asyncio.sleep(0)


async def _run_tasks(tasks: int, ops: int, one_op: Callable[[], Awaitable[None]]) -> float:
    per_task = ops // tasks

    async def worker() -> None:
        for _ in range(per_task):
            await one_op()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return time.perf_counter() - start


async def _bench_queue(size: int, tasks: int, ops: int) -> float:
    q: asyncio.Queue[_Conn] = asyncio.Queue()
    for _ in range(size):
        q.put_nowait(_Conn())

    async def one() -> None:
        conn = await q.get()
        try:
            await _op(conn)
        finally:
            q.put_nowait(conn)

    return await _run_tasks(tasks, ops, one)


async def _bench_pool(size: int, tasks: int, ops: int, leak_detection: bool) -> float:
    config = PoolConfig(
        max_open=size,
        min_idle=size,
        acquire_timeout=30.0,
        leak_threshold=60.0 if leak_detection else None,
    )
    pool = Pool(_Factory(), config, name=f"bench-{leak_detection}")
    await pool.start()
    while pool.stats().idle < size:  # pre-warm so creation is not measured
        await asyncio.sleep(0)

    async def one() -> None:
        async with pool.acquire() as conn:
            await _op(conn)

    try:
        return await _run_tasks(tasks, ops, one)
    finally:
        await pool.close()


async def _coro(fn: Callable[[], Awaitable[float]]) -> float:
    return await fn()


def _best_of(fns: Sequence[Callable[[], Awaitable[float]]], repeats: int) -> list[float]:
    """Best time of each fn; runs are interleaved so background load hits them all alike."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            best[i] = min(best[i], asyncio.run(_coro(fn)))
    return best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (< 20 s)")
    parser.add_argument("--json", metavar="PATH", help="also write results as JSON")
    args = parser.parse_args(argv)

    ops = 20_000 if args.quick else 200_000
    repeats = 2 if args.quick else 3
    size = 10
    scenarios = [1, 10, 100] if args.quick else [1, 10, 100, 1000]
    rows: list[dict[str, object]] = []
    print(
        f"pool size {size}, {ops} ops per run, best of {repeats}; op = borrow, "
        "1 loop yield, give back\n"
    )
    header = f"{'tasks':>6} | {'impl':<22} | {'ops/s':>10} | {'us/op':>7} | {'vs Queue':>8}"
    print(header)
    print("-" * len(header))
    for tasks in scenarios:
        labels = ["asyncio.Queue (base)", "Pool (leak det. off)", "Pool (leak det. on)"]
        times = _best_of(
            [
                functools.partial(_bench_queue, size, tasks, ops),
                functools.partial(_bench_pool, size, tasks, ops, False),
                functools.partial(_bench_pool, size, tasks, ops, True),
            ],
            repeats,
        )
        base = times[0]
        impls = list(zip(labels, times, strict=True))
        done = (ops // tasks) * tasks
        for label, secs in impls:
            us = secs / done * 1e6
            ratio = secs / base
            print(f"{tasks:>6} | {label:<22} | {done / secs:>10,.0f} | {us:>7.2f} | {ratio:>7.2f}x")
            rows.append(
                {
                    "tasks": tasks,
                    "impl": label,
                    "ops": done,
                    "seconds": secs,
                    "ops_per_s": done / secs,
                    "us_per_op": us,
                    "ratio_vs_queue": ratio,
                }
            )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(
                {"benchmark": "pool", "pool_size": size, "quick": args.quick, "results": rows},
                fh,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
