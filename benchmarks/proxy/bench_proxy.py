"""Benchmark: what the proxy hop costs — the same MemStore plugin called directly vs through it.

One MemStore plugin process is started, and a proxy process whose only namespace points at
that plugin (``endpoint:``), so both paths reach the very same backend and the difference is
the proxy alone. In the same run it measures:

* unary latency: sequential Set and Get calls (one in flight), p50 / p99 / mean in
  microseconds from an HdrHistogram;
* throughput: Get with ``--concurrency`` calls in flight for ``--seconds``, calls per second;
* CPU per call: user+system CPU seconds of the plugin and the proxy processes (from
  /proc/<pid>/stat) over the whole run divided by the calls made. Unlike latency this hardly
  moves when the machine is busy, so it is the steadiest measure of what the hop costs.

The client pre-serializes requests and uses identity serializers, so client-side protobuf work
is not in the figures. Everything shares the machine's cores: on a 2-core box the client, the
proxy and the plugin compete, so throughput is a lower bound for each.

Prints a table with proxy/direct ratios; ``--quick`` is a CI smoke (< 20 s); ``--json PATH``
writes the results. Run:
``PYTHONPATH=src/python:<generated code> python benchmarks/proxy/bench_proxy.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
from hdrh.histogram import HdrHistogram

from prism.interfaces import keyvalue_basic_pb2 as kv

SET = "/prism.KeyValueBasicInterface/Set"
GET = "/prism.KeyValueBasicInterface/Get"
NAMESPACE = "bench"


def _env() -> dict[str, str]:
    return dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(p for p in sys.path if p),
        PRISM_MEMSTORE_LOG_LEVEL="WARNING",
    )


def _start(cmd: list[str], mark: str, timeout: float = 60.0) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_env()
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{cmd} exited with {proc.wait()}")
        if mark in line:
            return proc, line.rsplit(mark, 1)[1].split()[0]
    raise RuntimeError(f"{cmd} did not start")


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def servers() -> Iterator[tuple[str, str, int, int]]:
    """(direct address, proxy address, plugin pid, proxy pid): one plugin, one proxy on it."""
    procs: list[subprocess.Popen[str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            plugin, direct = _start(
                [sys.executable, "-m", "prism.plugins.memstore", "--port", "0"], " listening on "
            )
            procs.append(plugin)
            config = Path(tmp) / "bench.yaml"
            config.write_text(f"namespaces:\n  {NAMESPACE}: {{endpoint: '{direct}'}}\n")
            proxy, via = _start(
                [
                    sys.executable,
                    "-m",
                    "prism.cli",
                    "up",
                    "--port",
                    "0",
                    "--log-level",
                    "WARNING",
                    "--config",
                    str(config),
                ],
                "prism proxy listening on ",
            )
            procs.append(proxy)
            yield direct, via, plugin.pid, proxy.pid
        finally:
            for proc in reversed(procs):
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()


class Counter:
    calls = 0


async def _latency(
    channel: grpc.aio.Channel, method: str, payloads: list[bytes], counter: Counter
) -> dict[str, float]:
    call = channel.unary_unary(method)
    hist = HdrHistogram(1, 10_000_000, 3)
    for payload in payloads[:200]:  # warm-up
        await call(payload)
    clock = time.perf_counter_ns
    for payload in payloads:
        start = clock()
        await call(payload)
        hist.record_value(max(1, (clock() - start) // 1000))
    counter.calls += len(payloads) + min(200, len(payloads))
    return {
        "p50_us": float(hist.get_value_at_percentile(50)),
        "p99_us": float(hist.get_value_at_percentile(99)),
        "mean_us": round(hist.get_mean_value(), 1),
    }


async def _throughput(
    channel: grpc.aio.Channel, payload: bytes, concurrency: int, seconds: float, counter: Counter
) -> float:
    call = channel.unary_unary(GET)
    done = 0
    stop_at = 0.0

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            await call(payload)
            done += 1
            counter.calls += 1

    stop_at = time.perf_counter() + min(0.5, seconds / 4)  # warm-up
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    done = 0
    start = time.perf_counter()
    stop_at = start + seconds
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - start)


async def measure(
    addr: str, calls: int, concurrency: int, seconds: float, pids: tuple[int, int]
) -> dict[str, Any]:
    value = b"v" * 100
    sets = [
        kv.SetRequest(namespace=NAMESPACE, key=f"key-{i % 1000}", value=value).SerializeToString()
        for i in range(calls)
    ]
    gets = [
        kv.GetRequest(namespace=NAMESPACE, key=f"key-{i % 1000}").SerializeToString()
        for i in range(calls)
    ]
    counter = Counter()
    before = [cpu_seconds(p) for p in pids]
    async with grpc.aio.insecure_channel(addr) as channel:
        out: dict[str, Any] = {
            "set": await _latency(channel, SET, sets, counter),
            "get": await _latency(channel, GET, gets, counter),
            "get_throughput_per_s": round(
                await _throughput(channel, gets[0], concurrency, seconds, counter), 1
            ),
        }
    used = [cpu_seconds(p) - b for p, b in zip(pids, before, strict=True)]
    out["plugin_cpu_us_per_call"] = round(used[0] / counter.calls * 1e6, 1)
    out["proxy_cpu_us_per_call"] = round(used[1] / counter.calls * 1e6, 1)
    return out


def _table(direct: dict[str, Any], proxy: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for op in ("set", "get"):
        for stat in ("p50_us", "p99_us", "mean_us"):
            d, p = direct[op][stat], proxy[op][stat]
            rows.append(
                {
                    "metric": f"{op} {stat}",
                    "direct": d,
                    "proxy": p,
                    "ratio": round(p / d, 2),
                    "added": round(p - d, 1),
                }
            )
    d, p = direct["get_throughput_per_s"], proxy["get_throughput_per_s"]
    rows.append(
        {
            "metric": "get calls/s",
            "direct": d,
            "proxy": p,
            "ratio": round(p / d, 2),
            "added": round(p - d, 1),
        }
    )
    d = direct["plugin_cpu_us_per_call"] + direct["proxy_cpu_us_per_call"]
    p = proxy["plugin_cpu_us_per_call"] + proxy["proxy_cpu_us_per_call"]
    rows.append(
        {
            "metric": "cpu us/call",
            "direct": round(d, 1),
            "proxy": round(p, 1),
            "ratio": round(p / d, 2),
            "added": round(p - d, 1),
        }
    )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke: fewer calls, short runs")
    parser.add_argument("--calls", type=int, default=None, help="sequential calls per op")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=None, help="throughput run length")
    parser.add_argument("--json", help="write results to this path")
    args = parser.parse_args(argv)
    calls = args.calls or (1000 if args.quick else 10_000)
    seconds = args.seconds or (1.0 if args.quick else 5.0)
    with servers() as (direct_addr, proxy_addr, plugin_pid, proxy_pid):
        pids = (plugin_pid, proxy_pid)
        direct = asyncio.run(measure(direct_addr, calls, args.concurrency, seconds, pids))
        proxy = asyncio.run(measure(proxy_addr, calls, args.concurrency, seconds, pids))
    rows = _table(direct, proxy)
    print(
        f"proxy overhead: {calls} sequential calls per op, Get throughput with "
        f"{args.concurrency} in flight for {seconds:g}s (cores: {os.cpu_count()})"
    )
    print("cpu us/call = plugin + proxy process CPU per call (server side only)")
    print(f"{'metric':<16}{'direct':>12}{'proxy':>12}{'ratio':>8}{'added':>10}")
    for r in rows:
        print(f"{r['metric']:<16}{r['direct']:>12}{r['proxy']:>12}{r['ratio']:>8}{r['added']:>10}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "calls": calls,
                    "concurrency": args.concurrency,
                    "seconds": seconds,
                    "cpu_count": os.cpu_count(),
                    "direct": direct,
                    "proxy": proxy,
                    "rows": rows,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
