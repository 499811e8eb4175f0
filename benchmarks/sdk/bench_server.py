"""Benchmark: prism.sdk.server.PluginServer (all middleware) vs a bare grpc.aio servicer.

Both serve the same in-memory KeyValueBasic ``Get`` on 127.0.0.1. N client tasks share one
grpc.aio channel and call Get back to back for a fixed time; we report throughput (req/s) and
p50/p99 latency (HdrHistogram, microseconds). Variants, measured in the same run, alternating
rounds so machine noise hits all of them alike:

- ``bare``: ``grpc.aio.server()`` without interceptors (the baseline);
- ``sdk``: PluginServer with the logging, metrics, error and deadline interceptors, access
  log disabled by level (the cost of the middleware itself);
- ``sdk+log``: the same with the access log at INFO written to /dev/null (what run_plugin
  does by default, minus the terminal).

Each server runs in its own process (spawned fresh per round) and the client in this one, so
the server's per-call CPU cost shows up as throughput and latency, not as contention with the
load generator on the same event loop. Absolute figures depend on the machine; the ratio
column is the point.

    python bench_server.py [--quick] [--json PATH] [--concurrency N] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from hdrh.histogram import HdrHistogram

from prism.interfaces import keyvalue_basic_pb2 as kv_pb
from prism.interfaces import keyvalue_basic_pb2_grpc as kv_grpc
from prism.sdk.server import ACCESS_LOGGER, PluginServer, ServiceBinding

KV_SERVICE = "prism.KeyValueBasicInterface"
VARIANTS = ("bare", "sdk", "sdk+log")


class _KV(kv_grpc.KeyValueBasicInterfaceServicer):
    def __init__(self) -> None:
        self.response = kv_pb.GetResponse(value=b"x" * 100, tags={"k": "v"})

    async def Get(  # noqa: N802
        self, request: kv_pb.GetRequest, context: Any
    ) -> kv_pb.GetResponse:
        return self.response


@dataclass
class Result:
    calls: int = 0
    seconds: float = 0.0
    errors: int = 0
    hist: HdrHistogram = field(default_factory=lambda: HdrHistogram(1, 60_000_000, 3))

    @property
    def rps(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    def pct_us(self, p: float) -> float:
        return float(self.hist.get_value_at_percentile(p))


async def _serve(variant: str, conn: Any) -> None:
    access = logging.getLogger(ACCESS_LOGGER)
    if variant == "sdk+log":
        devnull = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
        access.addHandler(logging.StreamHandler(devnull))
        access.setLevel(logging.INFO)
        access.propagate = False
    else:
        access.setLevel(logging.WARNING)
    server: Any
    if variant == "bare":
        server = grpc.aio.server()
        kv_grpc.add_KeyValueBasicInterfaceServicer_to_server(_KV(), server)  # type: ignore[abstract]
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
    else:
        add = kv_grpc.add_KeyValueBasicInterfaceServicer_to_server
        server = PluginServer([ServiceBinding(add, _KV(), KV_SERVICE)])  # type: ignore[abstract]
        port = await server.start()
    conn.send(port)
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # wait for "stop"
    await server.stop(None)


def _server_process(variant: str, conn: Any) -> None:
    asyncio.run(_serve(variant, conn))


async def _drive(port: int, concurrency: int, seconds: float, warmup: float, out: Result) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
        request = kv_pb.GetRequest(namespace="bench", key="k")
        await stub.Get(request, timeout=10)
        measuring = False
        stop_at = time.perf_counter() + warmup + seconds

        async def worker() -> None:
            nonlocal measuring
            hist = out.hist
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                try:
                    await stub.Get(request, timeout=10)
                except grpc.aio.AioRpcError:
                    out.errors += 1
                    continue
                if measuring:
                    hist.record_value(max(1, int((time.perf_counter() - t0) * 1e6)))
                    out.calls += 1

        tasks = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
        await asyncio.sleep(warmup)
        measuring = True
        start = time.perf_counter()
        await asyncio.gather(*tasks)
        out.seconds += time.perf_counter() - start


async def _round(
    variant: str, concurrency: int, seconds: float, warmup: float, out: Result
) -> None:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_server_process, args=(variant, child), daemon=True)
    proc.start()
    try:
        loop = asyncio.get_running_loop()
        ready = await loop.run_in_executor(None, parent.poll, 60)
        if not ready:
            raise RuntimeError(f"{variant} server did not start")
        port = parent.recv()
        await _drive(port, concurrency, seconds, warmup, out)
        parent.send("stop")
        await loop.run_in_executor(None, proc.join, 10)
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join()


async def _run(rounds: int, concurrency: int, seconds: float, warmup: float) -> dict[str, Result]:
    results = {v: Result() for v in VARIANTS}
    for _ in range(rounds):
        for variant in VARIANTS:
            await _round(variant, concurrency, seconds, warmup, results[variant])
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (< 20 s)")
    parser.add_argument("--json", metavar="PATH", help="also write results as JSON")
    parser.add_argument("--concurrency", type=int, default=None, help="client tasks (16)")
    parser.add_argument("--seconds", type=float, default=None, help="measured s per round")
    args = parser.parse_args(argv)
    concurrency = args.concurrency or (8 if args.quick else 16)
    seconds = args.seconds or (1.5 if args.quick else 4.0)
    rounds = 1 if args.quick else 3
    warmup = 0.3 if args.quick else 1.0
    results = asyncio.run(_run(rounds, concurrency, seconds, warmup))

    base = results["bare"]
    print(
        f"unary Get, {concurrency} concurrent tasks on one channel, {rounds} x {seconds:g} s "
        f"per variant (grpcio {grpc.__version__}, Python {sys.version.split()[0]})"
    )
    header = (
        f"{'variant':<9} {'req/s':>9} {'ratio':>6} {'p50 us':>8} {'p99 us':>8} {'p99 ratio':>9}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for variant, r in results.items():
        ratio = r.rps / base.rps if base.rps else 0.0
        p99_ratio = r.pct_us(99) / base.pct_us(99) if base.pct_us(99) else 0.0
        print(
            f"{variant:<9} {r.rps:>9.0f} {ratio:>6.2f} {r.pct_us(50):>8.0f} "
            f"{r.pct_us(99):>8.0f} {p99_ratio:>9.2f}"
        )
        rows.append(
            {
                "variant": variant,
                "requests_per_second": round(r.rps, 1),
                "throughput_ratio_vs_bare": round(ratio, 3),
                "p50_us": r.pct_us(50),
                "p99_us": r.pct_us(99),
                "p99_ratio_vs_bare": round(p99_ratio, 3),
                "calls": r.calls,
                "errors": r.errors,
            }
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "benchmark": "server",
                    "method": "KeyValueBasic.Get",
                    "concurrency": concurrency,
                    "rounds": rounds,
                    "seconds_per_round": seconds,
                    "quick": args.quick,
                    "results": rows,
                },
                fh,
                indent=2,
            )
    return 0 if all(r.errors == 0 and r.calls > 0 for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
