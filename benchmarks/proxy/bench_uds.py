"""Benchmark: a managed plugin's per-call cost over a Unix domain socket vs TCP loopback.

Two MemStore plugin processes, one on ``127.0.0.1:0``, one on ``unix:<tmp>/p.sock`` (what a
secured gateway uses). Rounds alternate TCP/UDS so machine load hits both alike; each round
times ``--calls`` sequential Exists calls (mean and p50 in microseconds) and ``--seconds`` of
calls with ``--concurrency`` in flight (calls/s). Prints the medians and UDS/TCP ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc

from prism.interfaces import keyvalue_basic_pb2 as kv

EXISTS = "/prism.KeyValueBasicInterface/Exists"
MARK = " listening on "


def _start(host: str) -> tuple[subprocess.Popen[str], str]:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(p for p in sys.path if p),
        PRISM_MEMSTORE_LOG_LEVEL="WARNING",
    )
    cmd = [sys.executable, "-m", "prism.plugins.memstore", "--host", host, "--port", "0"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if MARK in line:
            return proc, line.rsplit(MARK, 1)[1].strip()
    raise RuntimeError(f"{cmd} exited with {proc.wait()}")


async def _round(address: str, calls: int, seconds: float, conc: int) -> tuple[float, float, float]:
    request = kv.ExistsRequest(namespace="default", key="absent").SerializeToString()
    async with grpc.aio.insecure_channel(address) as ch:
        call = ch.unary_unary(EXISTS)
        for _ in range(100):  # warm up
            await call(request)
        times = []
        for _ in range(calls):
            t = time.perf_counter()
            await call(request)
            times.append(time.perf_counter() - t)
        done = 0
        end = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < end:
                await call(request)
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conc)))
        rate = done / (time.perf_counter() - start)
    return statistics.mean(times) * 1e6, statistics.median(times) * 1e6, rate


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        try:
            tcp_proc, tcp = _start("127.0.0.1")
            procs.append(tcp_proc)
            uds_proc, uds = _start(f"unix:{Path(tmp) / 'p.sock'}")
            procs.append(uds_proc)
            res: dict[str, list[tuple[float, float, float]]] = {"tcp": [], "uds": []}
            for r in range(args.rounds):
                for name, addr in (("tcp", tcp), ("uds", uds)):
                    out = await _round(addr, args.calls, args.seconds, args.concurrency)
                    res[name].append(out)
                    print(
                        f"round {r + 1} {name}: mean {out[0]:7.0f} us  p50 {out[1]:7.0f} us  "
                        f"{out[2]:7.0f} calls/s",
                        flush=True,
                    )
        finally:
            for p in procs:
                p.terminate()
                p.wait()
    med = {k: [statistics.median(x[i] for x in v) for i in range(3)] for k, v in res.items()}
    t, u = med["tcp"], med["uds"]
    print(f"median tcp: mean {t[0]:.0f} us, p50 {t[1]:.0f} us, {t[2]:.0f} calls/s")
    print(f"median uds: mean {u[0]:.0f} us, p50 {u[1]:.0f} us, {u[2]:.0f} calls/s")
    print(f"uds/tcp: mean x{u[0] / t[0]:.2f}, p50 x{u[1] / t[1]:.2f}, calls/s x{u[2] / t[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
