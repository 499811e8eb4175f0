"""Benchmark: the memo's "gRPC overhead", measured as a difference in one run.

The same operation (``--op kv-set``: KV Set of a 4-byte value on MemStore, namespace
``default``; ``--op register``: the multicast registry's Register on a Redis registry at
``--redis-addr``) at the same open-loop rate and duration, twice:

* pattern level: ``prism-loadtest kv --plugin memstore --read-ratio 0`` (or ``prism-loadtest
  register --redis-addr ...``) in this process (the store object or coordinator a plugin
  serves, no gRPC). Its latency counts from the *intended* start; its
  service time from the actual start, so the tool's own dispatch delay is the gap between the
  two and is printed as a row of its own;
* integration level: ghz (the memo's Set call, or Register, ``--duration-stop wait``) against
  ``prism up`` (proxy -> MemStore or multicast plugin process). ghz times each call from its actual start.

The difference rows (gateway minus pattern level) are the cost of the gRPC path: client
encoding, two gRPC hops (client -> proxy -> plugin) and the proxy. Writes a markdown table and
the JSON of both runs to ``--out`` (default reports/overhead/). ``--quick`` is a CI smoke (2 s).
Run from the repo root: ``./pants run benchmarks/overhead:bench_overhead``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prism.loadtest.cli import main as loadtest_main

PERCENTILES = ("p50", "p95", "p99")
# Per --op: prism-loadtest arguments, its operation name, the ghz call and data, a title.
OPS: dict[str, dict[str, Any]] = {
    "kv-set": {
        "loadtest": ["kv", "--plugin", "memstore", "--read-ratio", "0", "--value-size", "4"],
        "name": "set",
        "call": "prism.KeyValueBasicInterface.Set",
        "data": '{"namespace":"default","key":"test-{{.RequestNumber}}","value":"dGVzdA=="}',
        "title": "KV Set on MemStore",
    },
    "register": {  # both levels: one Lua call on the Redis registry per Register
        "loadtest": ["register"],
        "name": "register",
        "call": "prism.MulticastRegistryInterface.Register",
        "data": '{"namespace":"devices","identity":"device-{{.RequestNumber}}",'
        '"metadata":{"group":"g1","index":"{{.RequestNumber}}"},"ttl_seconds":300}',
        "title": "multicast registry Register on Redis",
    },
}
REGISTRY_CONFIG = """namespaces:
  devices:
    plugin: multicast
    settings: {{registry: redis, messaging: redis, redis_addr: "{addr}"}}
"""


def pattern_level(op: str, rate: float, duration: float, redis_addr: str) -> dict[str, Any]:
    """prism-loadtest's JSON report of the ``op`` run (same process)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "loadtest.json"
        argv = list(OPS[op]["loadtest"])
        argv += ["--redis-addr", redis_addr] if op == "register" else []
        argv += ["--rate", str(rate), "--duration", f"{duration}s", "--quiet"]
        code = loadtest_main([*argv, "--json", str(path)])
        if code != 0:
            raise RuntimeError(f"prism-loadtest exited with {code}")
        report: dict[str, Any] = json.loads(path.read_text())
    return report


@contextmanager
def gateway(config: str | None = None) -> Iterator[str]:
    """``prism up`` (namespace default on MemStore, or ``config``) on a free port; yields
    host:port."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    cmd = [sys.executable, "-m", "prism.cli", "up", "--port", "0", "--log-level", "WARNING"]
    cmd += ["--config", config] if config else []
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    assert proc.stdout is not None
    mark = "prism proxy listening on "
    try:
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline and not line.startswith(mark):
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError("prism up exited before listening")
        yield line[len(mark) :].strip()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        proc.stdout.close()


def integration_level(op: str, addr: str, rate: float, duration: float) -> dict[str, Any]:
    """ghz's JSON report of the ``op`` call through the gateway."""
    ghz = subprocess.run(
        ["bash", "tools/ghz.sh", "install"], capture_output=True, text=True, check=True
    ).stdout.split()[-1]
    cmd = [ghz, "--insecure", "--call", OPS[op]["call"], "--data", OPS[op]["data"]]
    cmd += ["--rps", str(int(rate)), "--duration", f"{duration}s", "--duration-stop", "wait"]
    proc = subprocess.run(
        [*cmd, "--format", "json", addr], capture_output=True, text=True, check=True
    )
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def _ghz_ms(report: dict[str, Any]) -> dict[str, float]:
    dist = {d["percentage"]: d["latency"] / 1e6 for d in report["latencyDistribution"] or []}
    return {
        "p50": dist.get(50, 0.0),
        "p95": dist.get(95, 0.0),
        "p99": dist.get(99, 0.0),
        "mean": report["average"] / 1e6,
    }


def table(name: str, pattern: dict[str, Any], ghz: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of ms figures: the two levels, the tool's dispatch delay, and the differences."""
    op = pattern["operations"][name]
    lat, svc = op["latency_ms"], op["service_ms"]
    gw = _ghz_ms(ghz)
    keys = (*PERCENTILES, "mean")
    ok_gw = (ghz["statusCodeDistribution"] or {}).get("OK", 0)

    def row(name: str, count: int, ok: int, values: dict[str, float]) -> dict[str, Any]:
        return {"row": name, "count": count, "ok": ok, **{k: round(values[k], 3) for k in keys}}

    return [
        row("pattern level, from intended start", op["count"], op["ok"], lat),
        row("pattern level, service (actual start)", op["count"], op["ok"], svc),
        row("tool dispatch delay (intended - service)", op["count"], op["ok"],
            {k: lat[k] - svc[k] for k in keys}),
        row("gateway via ghz (actual start)", ghz["count"], ok_gw, gw),
        row("gRPC overhead = gateway - pattern service", ghz["count"], ok_gw,
            {k: gw[k] - svc[k] for k in keys}),
        row("gateway - pattern from intended start", ghz["count"], ok_gw,
            {k: gw[k] - lat[k] for k in keys}),
    ]  # fmt: skip


def markdown(
    title: str, rows: list[dict[str, Any]], rate: float, duration: float, load: str
) -> str:
    head = (
        f"{title}, {rate:g} ops/s for {duration:g} s, same run "
        f"(load average at the end: {load}); ms\n\n"
        "| row | count | OK | p50 | p95 | p99 | mean |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    )
    body = "".join(
        f"| {r['row']} | {r['count']} | {r['ok']} | {r['p50']:.3f} | {r['p95']:.3f} | "
        f"{r['p99']:.3f} | {r['mean']:.3f} |\n"
        for r in rows
    )
    return head + body


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rate", type=float, default=100.0, help="ops/s for both (memo: 100)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds for each level")
    p.add_argument("--quick", action="store_true", help="CI smoke: 2 s each")
    p.add_argument("--out", default="reports/overhead", help="directory for .md and .json")
    p.add_argument("--op", choices=sorted(OPS), default="kv-set", help="the operation")
    p.add_argument("--redis-addr", default="", help="host:port of the Redis (--op register)")
    args = p.parse_args(argv)
    if args.op == "register" and not args.redis_addr:
        p.error("--op register needs --redis-addr")
    duration = 2.0 if args.quick else args.duration
    pattern = pattern_level(args.op, args.rate, duration, args.redis_addr)
    with tempfile.TemporaryDirectory() as tmp:
        config = None
        if args.op == "register":
            config = str(Path(tmp) / "prism.yaml")
            Path(config).write_text(REGISTRY_CONFIG.format(addr=args.redis_addr))
        with gateway(config) as addr:
            ghz = integration_level(args.op, addr, args.rate, duration)
    rows = table(OPS[args.op]["name"], pattern, ghz)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    text = markdown(OPS[args.op]["title"], rows, args.rate, duration, load)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "overhead.md").write_text(text)
    doc = {"op": args.op, "rate": args.rate, "duration_s": duration}
    doc |= {"loadavg": os.getloadavg(), "rows": rows}
    doc |= {
        "pattern_level": pattern,
        "gateway_ghz": {k: v for k, v in ghz.items() if k != "details"},
    }
    (out / "overhead.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out / 'overhead.md'} and {out / 'overhead.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
