"""Benchmark: Set/Get through the Redis plugin's client (prism.sdk.pool + circuit breaker)
vs redis-py's own asyncio pool, against the same real Redis in the same run.

N tasks each loop SET k v / GET k. Rows per N:
- ``redis-py pool (base)``: ``redis.asyncio.Redis`` on a ``BlockingConnectionPool`` of P
  connections (redis-py's pool; the blocking variant so N > P waits instead of failing);
- ``plugin client``: the plugin's ``Backend.command`` (sdk.pool of P single-connection
  clients, breaker, error classification) sending the same SET/GET;
- ``plugin store``: the plugin's ``RedisStore.set/get`` (Lua script keeping the scan index,
  HGETALL): what a KeyValue Set/Get really costs, for reference.

The ratio is ops/s against the base (>= 0.9x is the target for the plugin client).
Without ``--addr`` a throw-away redis-server is started on a free port and stopped after.

    python bench_redis_pool.py [--quick] [--json PATH] [--addr HOST:PORT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis.asyncio as aioredis

from prism.plugins.redis import Backend, RedisSettings, RedisStore
from prism.sdk.config import load_settings

POOL_SIZE = 16
Op = Callable[[str, bytes], Awaitable[None]]


@contextmanager
def _own_redis() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="prism-bench-redis-")
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


async def _drive(tasks: int, ops: int, op: Op) -> float:
    """Seconds for ``tasks`` workers doing ``ops`` Set+Get pairs in total."""
    per_task = ops // tasks

    async def worker(w: int) -> None:
        value = b"x" * 100
        for i in range(per_task):
            await op(f"bench:{w}:{i % 100}", value)

    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(tasks)))
    return time.perf_counter() - start


async def _run(
    addr: str, tasks_list: Sequence[int], ops: int, repeats: int
) -> list[dict[str, Any]]:
    host, _, port = addr.rpartition(":")
    base_pool = aioredis.BlockingConnectionPool(
        host=host,
        port=int(port),
        max_connections=POOL_SIZE,
        timeout=30,
        socket_connect_timeout=0.5,
        socket_timeout=1.0,
    )
    base = aioredis.Redis(connection_pool=base_pool)
    settings = load_settings(
        RedisSettings,
        environ={},
        overrides={
            "addr": addr,
            "pool_min_idle": POOL_SIZE,
            "pool_max_open": POOL_SIZE,
            "pool_acquire_timeout": 30.0,
        },
    )
    backend = Backend(settings)
    await backend.pool.start()
    store = RedisStore(backend)

    async def op_base(key: str, value: bytes) -> None:
        await base.set(key, value)
        await base.get(key)

    async def op_client(key: str, value: bytes) -> None:
        await backend.command("SET", key, value)
        await backend.command("GET", key)

    async def op_store(key: str, value: bytes) -> None:
        await store.set("bench", key, value, None, {})
        await store.get("bench", key)

    impls: list[tuple[str, Op]] = [
        ("redis-py pool (base)", op_base),
        ("plugin client", op_client),
        ("plugin store", op_store),
    ]
    rows: list[dict[str, Any]] = []
    try:
        for _, op in impls:  # warm up: fill both pools, load the scripts
            await _drive(POOL_SIZE, POOL_SIZE * 20, op)
        for tasks in tasks_list:
            best = [float("inf")] * len(impls)
            for _ in range(repeats):  # interleaved so background load hits all alike
                for i, (_, op) in enumerate(impls):
                    best[i] = min(best[i], await _drive(tasks, ops, op))
            done = (ops // tasks) * tasks * 2
            for (label, _), secs in zip(impls, best, strict=True):
                rows.append(
                    {
                        "tasks": tasks,
                        "impl": label,
                        "ops": done,
                        "seconds": secs,
                        "ops_per_s": done / secs,
                        "ratio_vs_base": best[0] / secs,
                    }
                )
    finally:
        await base.aclose()
        await base_pool.disconnect()
        await backend.pool.close()
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (< 20 s)")
    parser.add_argument("--json", metavar="PATH", help="also write results as JSON")
    parser.add_argument("--addr", help="an existing Redis host:port (default: start one)")
    args = parser.parse_args(argv)
    ops = 1_000 if args.quick else 20_000
    repeats = 2 if args.quick else 3
    tasks_list = [1, 16, 64] if args.quick else [1, 4, 16, 64, 256]

    def run(addr: str) -> list[dict[str, Any]]:
        return asyncio.run(_run(addr, tasks_list, ops, repeats))

    if args.addr:
        rows = run(args.addr)
    else:
        with _own_redis() as addr:
            rows = run(addr)
    print(f"pool size {POOL_SIZE}, {ops} SET+GET pairs per run, best of {repeats}\n")
    header = f"{'tasks':>6} | {'impl':<22} | {'ops/s':>10} | {'us/op':>7} | {'vs base':>7}"
    print(header)
    print("-" * len(header))
    for r in rows:
        us = r["seconds"] / r["ops"] * 1e6
        print(
            f"{r['tasks']:>6} | {r['impl']:<22} | {r['ops_per_s']:>10,.0f} | {us:>7.1f} | "
            f"{r['ratio_vs_base']:>6.2f}x"
        )
    summary = {}
    for label in ("plugin client", "plugin store"):
        ratios = [r["ratio_vs_base"] for r in rows if r["impl"] == label]
        summary[label] = math.prod(ratios) ** (1 / len(ratios))
        print(f"geometric mean, {label} vs base: {summary[label]:.2f}x")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "benchmark": "redis_pool",
                    "pool_size": POOL_SIZE,
                    "quick": args.quick,
                    "geomean_ratio": summary,
                    "results": rows,
                },
                fh,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
