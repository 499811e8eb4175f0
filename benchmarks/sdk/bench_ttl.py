"""Benchmark: TTLManager vs one ``loop.call_later`` timer per key (the obvious alternative).

For N keys with short TTLs (everything expires within ~1 s; two workloads: TTLs spread
uniformly over 50-500 ms, and one fixed 200 ms TTL as a cache would use) it measures, in the
same process and run, with the GC collected then disabled for both sides:

* schedule CPU: ``time.process_time`` to register every key (baseline keeps the TimerHandle
  in a dict, as it must to cancel or replace a TTL);
* expire CPU: ``time.process_time`` from the end of scheduling until the last callback ran,
  read inside that callback (no polling, no teardown; sleeping is not CPU). Both sides run the
  same per-key callback: delete the key from a dict store (as MemStore does) and count;
* memory: tracemalloc peak while scheduling, in a separate pass (tracemalloc slows code);
* last callback: wall seconds from the end of scheduling to the last callback (not a ratio;
  shows the latency price of the sweep). TTLManager runs with its default 100 ms sweep
  (callbacks up to one tick late, reads exact), call_later fires each timer on its deadline.

Each size runs baseline and ours interleaved, 5/3/3 times (10K/100K/1M); the table shows the
best run of each. Prints baseline / ours ratios; ``--quick`` runs only 10K keys; ``--json PATH``
writes the results. Run: ``PYTHONPATH=src/python python benchmarks/sdk/bench_ttl.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from prism.sdk.ttl import TTLManager

TTL_MIN = 0.05
TTL_MAX = 0.5
TTL_FIXED = 0.2

Scheduler = Callable[
    [asyncio.AbstractEventLoop, list[str], list[float], Callable[[str], None]],
    Callable[[], Awaitable[Any]],
]


def _workload(n: int, mode: str) -> tuple[list[str], list[float]]:
    """``spread``: TTLs uniform in [50, 500] ms; ``fixed``: every key 200 ms (a cache)."""
    rnd = random.Random(n)
    keys = [f"key-{i}" for i in range(n)]
    if mode == "fixed":
        return keys, [TTL_FIXED] * n
    return keys, [rnd.uniform(TTL_MIN, TTL_MAX) for _ in range(n)]


def _schedule_baseline(
    loop: asyncio.AbstractEventLoop,
    keys: list[str],
    ttls: list[float],
    cb: Callable[[str], None],
) -> Callable[[], Awaitable[Any]]:
    handles: dict[str, asyncio.TimerHandle] = {}
    call_later = loop.call_later
    for key, ttl in zip(keys, ttls, strict=True):
        handles[key] = call_later(ttl, cb, key)

    async def start() -> Any:
        return handles

    return start


def _schedule_ours(
    loop: asyncio.AbstractEventLoop,
    keys: list[str],
    ttls: list[float],
    cb: Callable[[str], None],
) -> Callable[[], Awaitable[Any]]:
    mgr: TTLManager[str] = TTLManager(cb)
    set_ = mgr.set
    for key, ttl in zip(keys, ttls, strict=True):
        set_(key, ttl)

    async def start() -> Any:
        await mgr.start()
        return mgr

    return start


def _run_cpu(schedule: Scheduler, keys: list[str], ttls: list[float]) -> tuple[float, float, float]:
    """Return (schedule_cpu, expire_cpu, last_callback_wall) seconds for one run, GC off.

    The expire phase ends inside the last callback (no polling, no teardown counted). Both
    sides run the same callback: delete the key from a dict store (as MemStore does) and count.
    """
    n = len(keys)
    store = dict.fromkeys(keys, b"v")
    loop = asyncio.new_event_loop()
    done = loop.create_future()
    end = [0.0, 0.0]
    count = 0
    clock = time.process_time

    def cb(key: str) -> None:
        nonlocal count
        del store[key]
        count += 1
        if count == n:
            end[0] = clock()
            end[1] = time.perf_counter()
            done.set_result(None)

    async def wait_all(start: Callable[[], Awaitable[Any]]) -> Any:
        obj = await start()
        await done
        return obj

    gc.collect()
    gc.disable()
    try:
        t0 = clock()
        start = schedule(loop, keys, ttls, cb)
        t1 = clock()
        w1 = time.perf_counter()
        obj = loop.run_until_complete(wait_all(start))
        assert count == n and not store
        if isinstance(obj, TTLManager):
            loop.run_until_complete(obj.stop())
        return t1 - t0, end[0] - t1, end[1] - w1
    finally:
        loop.close()
        gc.enable()


def _run_mem(schedule: Scheduler, keys: list[str], ttls: list[float]) -> int:
    """tracemalloc peak bytes while scheduling every key."""
    loop = asyncio.new_event_loop()
    try:
        gc.collect()
        tracemalloc.start()
        keep = schedule(loop, keys, ttls, lambda key: None)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del keep
        return peak
    finally:
        loop.close()


SIDES: tuple[tuple[str, Scheduler], ...] = (
    ("baseline", _schedule_baseline),
    ("ours", _schedule_ours),
)


def _measure(n: int, mode: str, repeats: int, memory: bool) -> dict[str, Any]:
    """Best of ``repeats`` runs per side, the sides interleaved (same machine state)."""
    keys, ttls = _workload(n, mode)
    result: dict[str, Any] = {"keys": n, "workload": mode, "repeats": repeats}
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _ in SIDES}
    for _ in range(repeats):
        for name, fn in SIDES:
            runs[name].append(_run_cpu(fn, keys, ttls))
    for name, fn in SIDES:
        result[name] = {
            "schedule_cpu_s": min(r[0] for r in runs[name]),
            "expire_cpu_s": min(r[1] for r in runs[name]),
            "total_cpu_s": min(r[0] + r[1] for r in runs[name]),
            "total_cpu_s_all": [r[0] + r[1] for r in runs[name]],
            "last_callback_wall_s": max(r[2] for r in runs[name]),
            "peak_bytes": _run_mem(fn, keys, ttls) if memory else None,
        }
    b, o = result["baseline"], result["ours"]
    result["ratio"] = {
        "schedule": b["schedule_cpu_s"] / o["schedule_cpu_s"],
        "expire": b["expire_cpu_s"] / o["expire_cpu_s"],
        "total": b["total_cpu_s"] / o["total_cpu_s"],
        "memory": (b["peak_bytes"] / o["peak_bytes"]) if memory else None,
    }
    return result


def _fmt_mem(nbytes: int | None) -> str:
    return "-" if nbytes is None else f"{nbytes / 2**20:.1f}MiB"


def _print_table(results: Sequence[dict[str, Any]]) -> None:
    head = (
        f"{'keys':>9} | {'ttls':<6} | {'what':<12} | "
        f"{'call_later':>11} | {'TTLManager':>11} | {'ratio':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        b, o, x = r["baseline"], r["ours"], r["ratio"]
        rows = [
            (
                "schedule CPU",
                f"{b['schedule_cpu_s']:.4f}s",
                f"{o['schedule_cpu_s']:.4f}s",
                x["schedule"],
            ),
            ("expire CPU", f"{b['expire_cpu_s']:.4f}s", f"{o['expire_cpu_s']:.4f}s", x["expire"]),
            ("total CPU", f"{b['total_cpu_s']:.4f}s", f"{o['total_cpu_s']:.4f}s", x["total"]),
            ("peak memory", _fmt_mem(b["peak_bytes"]), _fmt_mem(o["peak_bytes"]), x["memory"]),
            (
                "last callbk",
                f"{b['last_callback_wall_s']:.3f}s",
                f"{o['last_callback_wall_s']:.3f}s",
                None,
            ),
        ]
        for i, (what, bv, ov, ratio) in enumerate(rows):
            keys = f"{r['keys']:,}" if i == 0 else ""
            mode = r["workload"] if i == 0 else ""
            rs = "-" if ratio is None else f"{ratio:.1f}x"
            print(f"{keys:>9} | {mode:<6} | {what:<12} | {bv:>11} | {ov:>11} | {rs:>7}")
    print(
        "ratio = call_later / TTLManager (higher is better for TTLManager); ttls: spread ="
        f" uniform {TTL_MIN * 1000:.0f}-{TTL_MAX * 1000:.0f} ms,"
        f" fixed = {TTL_FIXED * 1000:.0f} ms; last callbk = wall time (worst run) from the"
        " end of scheduling to the last callback"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10K keys only (CI smoke)")
    parser.add_argument("--json", metavar="PATH", help="write results as JSON to PATH")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    args = parser.parse_args(argv)

    plan = [(10_000, 3)] if args.quick else [(10_000, 5), (100_000, 3), (1_000_000, 3)]
    results = []
    for n, repeats in plan:
        for mode in ("spread", "fixed"):
            results.append(_measure(n, mode, repeats, memory=not args.no_memory))
            print(f"measured {n:,} keys ({mode})", file=sys.stderr, flush=True)
    _print_table(results)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"benchmark": "ttl", "python": sys.version, "results": results}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
