"""Benchmark: what the metadata index saves an Enumerate, per registry slot, in one run.

1,000 identities in 10 groups (metadata ``group``); the same 100 registrations enumerated
with ``group == g3`` (EQ: the slot reads only that (key, value) index set) and with
``group`` PREFIX ``g3`` (no EQ/IN: the slot reads the whole registry), alternating, ``--rounds``
each. Prints medians and the ratio whole-registry / index of the same run.

    ./pants run benchmarks/multicast:bench_enumerate -- --redis-addr 127.0.0.1:6379
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

from prism.interfaces import multicast_registry_pb2 as pb
from prism.plugins.multicast import build_coordinator
from prism.sdk.patterns import Filter, parse_filter

IDENTITIES, GROUPS, BATCH = 1000, 10, 16


def group_filter(op: pb.FilterOp.ValueType, value: str) -> Filter:
    condition = pb.FilterCondition(key="group", op=op, values=[value])
    return parse_filter(pb.Filter(conditions=[condition]))


async def bench(registry: str, redis_addr: str, rounds: int) -> None:
    # A generous connect timeout: the figures are for loaded machines too.
    slots = await build_coordinator(
        registry, "inprocess", redis_addr=redis_addr, redis_connect_timeout=5.0
    )
    c, ns = slots.coordinator, f"bench-enum-{uuid.uuid4().hex[:8]}"
    try:
        await in_batches(lambda i: c.register(ns, f"id-{i}", {"group": f"g{i % GROUPS}"}, 300))
        filters = {
            "EQ (index)": group_filter(pb.FILTER_OP_EQ, "g3"),
            "PREFIX (whole registry)": group_filter(pb.FILTER_OP_PREFIX, "g3"),
        }
        times: dict[str, list[float]] = {name: [] for name in filters}
        for _ in range(rounds):
            for name, where in filters.items():
                started, found = time.perf_counter(), 0
                async for page in c.enumerate(ns, where):
                    found += len(page)
                times[name].append((time.perf_counter() - started) * 1000)
                assert found == IDENTITIES // GROUPS, found
        for name, ms in times.items():
            print(
                f"{registry}: Enumerate 100 of 1,000, {name}: median {statistics.median(ms):.1f} ms"
            )
        index, whole = (statistics.median(ms) for ms in times.values())
        print(f"{registry}: whole registry / index = {whole / index:.1f}x")
    finally:
        await in_batches(lambda i: c.unregister(ns, f"id-{i}"))
        await slots.close()


async def in_batches(call: Callable[[int], Awaitable[object]]) -> None:
    """``call(i)`` for every identity, ``BATCH`` at a time (within the Redis pool's size)."""
    for first in range(0, IDENTITIES, BATCH):
        await asyncio.gather(*(call(i) for i in range(first, min(first + BATCH, IDENTITIES))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis-addr", default="127.0.0.1:6379")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()}")
    for registry in ("memstore", "redis"):
        asyncio.run(bench(registry, args.redis_addr, args.rounds))


if __name__ == "__main__":
    main()
