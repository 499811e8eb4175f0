"""Benchmark: the multicast registry coordinator, driven directly (no gRPC), per slot pair.

Rows: ``memstore+inprocess`` (the baseline: no network), ``redis+redis`` and ``redis+nats``,
against real servers given on the command line. Per row:

- Register at a constant ``--rate`` for ``--seconds`` (open loop, latency measured from each
  call's intended start): p50 / p95 / p99 in ms;
- the highest of ``--rates`` at which Register p95 stays under 5 ms;
- Multicast to ``--fanout`` registered identities, each with a live receiver that is read
  concurrently: fan-out time (the Multicast call), delivery rate (delivered / targeted,
  counted at receipt by the slot), and end-to-end latency from ``send_time_us`` to receipt.

Ratios are against the baseline row of the same run.

    ./pants run benchmarks/multicast:bench_multicast -- \\
        --redis-addr 127.0.0.1:6379 --nats-servers nats://127.0.0.1:4222 [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

from prism.interfaces import multicast_registry_pb2 as pb
from prism.plugins.multicast import Slots, build_coordinator
from prism.sdk.errors import PrismError
from prism.sdk.patterns import Receiver, parse_filter

P95_TARGET_MS = 5.0


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def register_at(slots: Slots, rate: float, seconds: float) -> tuple[list[float], int]:
    """Register latencies (ms) at a constant rate, from each call's intended start, and the
    number of failed calls."""
    ns, run = "bench", uuid.uuid4().hex[:8]
    latencies: list[float] = []
    failed = 0
    tasks: list[asyncio.Task[None]] = []

    async def one(i: int, intended: float) -> None:
        nonlocal failed
        meta = {"run": run, "region": ("eu", "us", "ap")[i % 3], "n": str(i)}
        try:
            await slots.coordinator.register(ns, f"dev-{run}-{i}", meta, ttl_seconds=300)
        except PrismError:
            failed += 1
            return
        latencies.append((time.perf_counter() - intended) * 1000)

    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        intended = start + i / rate
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(i, intended)))
    await asyncio.gather(*tasks)
    return latencies, failed


async def fanout(slots: Slots, count: int) -> dict[str, float]:
    ns, run = "bench-fanout", uuid.uuid4().hex[:8]
    c = slots.coordinator
    ids = [f"rx-{run}-{i}" for i in range(count)]
    for who in ids:
        await c.register(ns, who, {"run": run}, ttl_seconds=300)
    receivers: list[Receiver] = [c.receiver(ns, who) for who in ids]
    await asyncio.gather(*(r.start() for r in receivers))
    got: list[float] = []

    async def read(r: Receiver) -> None:
        async for message in r.messages():
            got.append(time.time_ns() / 1000 - message.send_time_us)
            return

    readers = [asyncio.ensure_future(read(r)) for r in receivers]
    where = parse_filter(
        pb.Filter(conditions=[pb.FilterCondition(key="run", op=pb.FILTER_OP_EQ, values=[run])])
    )
    result = await c.multicast(ns, where, b"x" * 64, {})
    await asyncio.wait(readers, timeout=10)
    for task in readers:
        task.cancel()
    await asyncio.gather(*(r.close() for r in receivers), return_exceptions=True)
    return {
        "targeted": result.targeted,
        "delivered": result.delivered,
        "rate": result.delivery_rate,
        "fanout_ms": result.fanout_ms,
        "received": len(got),
        "e2e_p50_ms": _pct(got, 0.5) / 1000,
        "e2e_p95_ms": _pct(got, 0.95) / 1000,
    }


async def bench(label: str, registry: str, messaging: str, args: Any) -> dict[str, Any]:
    slots = await build_coordinator(
        registry,
        messaging,
        redis_addr=args.redis_addr,
        nats_servers=args.nats_servers,
        pool_max_open=32,
    )
    try:
        lat, failed = await register_at(slots, args.rate, args.seconds)
        best = 0.0
        for rate in args.rates:
            probe, probe_failed = await register_at(slots, rate, max(2.0, args.seconds / 3))
            if not probe_failed and _pct(probe, 0.95) < P95_TARGET_MS:
                best = rate
        return {
            "label": label,
            "p50": _pct(lat, 0.5),
            "p95": _pct(lat, 0.95),
            "p99": _pct(lat, 0.99),
            "success": len(lat) / (len(lat) + failed),
            "max_rate_p95_under_5ms": best,
            **await fanout(slots, args.fanout),
        }
    finally:
        await slots.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis-addr", default="127.0.0.1:6379")
    parser.add_argument("--nats-servers", default="nats://127.0.0.1:4222")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rates", type=float, nargs="*", default=[250, 500, 1000, 2000])
    parser.add_argument("--fanout", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="smoke sizes")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rates, args.fanout = 2.0, [500], 100
    rows = [
        asyncio.run(bench("memstore+inprocess", "memstore", "inprocess", args)),
        asyncio.run(bench("redis+redis", "redis", "redis", args)),
        asyncio.run(bench("redis+nats", "redis", "nats", args)),
    ]
    base = rows[0]
    print(f"Register at {args.rate:.0f}/s for {args.seconds:.0f} s; Multicast to {args.fanout}")
    head = (
        f"{'slots':20} {'ok':>7} {'reg p50':>8} {'p95':>7} {'p99':>7} {'p95 x':>7} {'max/s p95<5':>11} "
        f"{'fanout ms':>9} {'x':>6} {'delivered':>10} {'rate':>7} {'e2e p50':>8} {'p95':>7}"
    )
    print(head)
    for r in rows:
        print(
            f"{r['label']:20} {r['success']:7.2%} {r['p50']:8.2f} {r['p95']:7.2f} {r['p99']:7.2f} "
            f"{r['p95'] / base['p95']:6.1f}x {r['max_rate_p95_under_5ms']:11.0f} "
            f"{r['fanout_ms']:9.1f} {r['fanout_ms'] / base['fanout_ms']:5.1f}x "
            f"{r['delivered']:>4.0f}/{r['targeted']:<5.0f} {r['rate']:7.2%} "
            f"{r['e2e_p50_ms']:8.2f} {r['e2e_p95_ms']:7.2f}"
        )


if __name__ == "__main__":
    main()
