"""Benchmark: per-call cost of bare grpc.aio vs the MemStore plugin vs the gateway, in one run.

Three servers run side by side, each in its own process, all answering the same unary
``KeyValueBasicInterface.Set``:

* ``bare``: a ``grpc.aio.server()`` with a dict-backed servicer and no interceptors (baseline);
* ``plugin``: the MemStore plugin as ``prism serve memstore`` runs it (default settings, so the
  default access log policy is included; its log goes to /dev/null);
* ``gateway``: ``prism up`` with its default config (namespace ``default`` on a managed MemStore
  plugin), so a call crosses the proxy and then the plugin.

The load generator is ghz (``tools/ghz.sh install``), a separate Go process, so the Python
servers are what is measured. For each target, in alternating rounds so machine noise hits all
of them alike:

* max rps: ``--concurrency`` calls in flight on one connection for ``--seconds``;
* p50/p95/p99 at fixed rates (``--rates``, default 500 and 1000 rps);
* server CPU per call: user+system CPU of each server process (psutil ``cpu_times``) over the
  max-rps phase divided by its calls. Latency and rps depend on how loaded the machine is;
  CPU per call hardly does, so the CPU ratios are the primary figures.

Prints ratios against ``bare`` and writes JSON (``--json``, default
``reports/benchmarks/percall.json``). ``--quick`` is a CI smoke. Run from the repo root:
``./pants run benchmarks/proxy:bench_proxy [-- --quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

CALL = "prism.KeyValueBasicInterface.Set"
PROTO = "proto/prism/interfaces/keyvalue_basic.proto"
DATA = '{"namespace":"default","key":"k-{{.RequestNumber}}","value":"dGVzdA=="}'
TARGETS = ("bare", "plugin", "gateway")
LISTENING = " listening on "


def serve_bare() -> None:
    """The baseline server: generated servicer over a dict, nothing else (child process)."""
    import grpc

    from prism.interfaces import keyvalue_basic_pb2 as kv
    from prism.interfaces import keyvalue_basic_pb2_grpc as kv_grpc

    class DictKV(kv_grpc.KeyValueBasicInterfaceServicer):
        def __init__(self) -> None:
            self.data: dict[tuple[str, str], bytes] = {}

        async def Set(self, request: Any, context: Any) -> Any:  # noqa: N802
            key = (request.namespace, request.key)
            created = key not in self.data
            self.data[key] = request.value
            return kv.SetResponse(created=created)

    async def main() -> None:
        server = grpc.aio.server()
        kv_grpc.add_KeyValueBasicInterfaceServicer_to_server(DictKV(), server)  # type: ignore[abstract]
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        print(f"bare{LISTENING}127.0.0.1:{port}", flush=True)
        await server.wait_for_termination()

    asyncio.run(main())


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))


def _command(target: str) -> list[str]:
    if target == "bare":
        return [sys.executable, "-c", "import bench_proxy; bench_proxy.serve_bare()"]
    if target == "plugin":
        return [sys.executable, "-m", "prism.cli", "serve", "memstore", "--port", "0"]
    return [sys.executable, "-m", "prism.cli", "up", "--port", "0", "--log-level", "WARNING"]


def _start(target: str, timeout: float = 60.0) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        _command(target),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=_env(),
        start_new_session=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{target} server exited with {proc.wait()}")
        if LISTENING in line:
            return proc, line.rsplit(LISTENING, 1)[1].split()[0]
    raise RuntimeError(f"{target} server did not start within {timeout:g}s")


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def children(pid: int) -> list[int]:
    """Direct child pids (the gateway's managed plugin)."""
    return [child.pid for child in psutil.Process(pid).children()]


@dataclass
class Target:
    name: str
    address: str
    pids: dict[str, int]  # role -> pid: "server", or "proxy" and "plugin" for the gateway
    transport: list[str] = field(default_factory=lambda: ["--insecure"])  # ghz TLS/metadata
    max_runs: list[dict[str, Any]] = field(default_factory=list)
    rate_runs: dict[int, list[dict[str, Any]]] = field(default_factory=dict)


@contextlib.contextmanager
def servers() -> Iterator[dict[str, Target]]:
    procs: list[subprocess.Popen[str]] = []
    try:
        targets: dict[str, Target] = {}
        for name in TARGETS:
            proc, address = _start(name)
            procs.append(proc)
            pids = {"server": proc.pid}
            if name == "gateway":
                kids = children(proc.pid)
                if len(kids) != 1:
                    raise RuntimeError(f"gateway has {len(kids)} child processes, expected 1")
                pids = {"proxy": proc.pid, "plugin": kids[0]}
            targets[name] = Target(name, address, pids)
        yield targets
    finally:
        for proc in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def ghz_path() -> str:
    found = shutil.which("ghz")
    if found:
        return found
    cached = Path(os.environ.get("PRISM_CACHE", Path.home() / ".cache" / "prism")) / "bin" / "ghz"
    if cached.is_file():
        return str(cached)
    raise SystemExit("bench_proxy: ghz not found (install it with tools/ghz.sh install)")


def ghz(
    address: str,
    *,
    seconds: float,
    concurrency: int,
    rps: int = 0,
    transport: Sequence[str] = ("--insecure",),
) -> dict[str, Any]:
    """One ghz run; its JSON report. ``transport``: TLS and metadata flags."""
    cmd = [
        ghz_path(),
        *transport,
        "--proto",
        PROTO,
        "--import-paths",
        "proto",
        "--call",
        CALL,
        "--data",
        DATA,
        "--concurrency",
        str(concurrency),
        "--connections",
        "1",
        "--duration",
        f"{seconds:g}s",
        "--format",
        "json",
    ]
    if rps:
        cmd += ["--rps", str(rps)]
    out = subprocess.run([*cmd, address], capture_output=True, text=True, check=True, timeout=600)
    report: dict[str, Any] = json.loads(out.stdout)
    return report


def _percentiles_ms(report: dict[str, Any]) -> dict[str, float]:
    by_pct = {int(d["percentage"]): d["latency"] for d in report.get("latencyDistribution") or []}
    return {f"p{p}_ms": round(by_pct.get(p, 0) / 1e6, 3) for p in (50, 95, 99)}


# ghz ends a --duration run by closing the connection under the calls still in flight; those
# are the load generator's doing, not failures of the server.
_CUT_AT_END = (
    "use of closed network connection",
    "the client connection is closing",
    "context canceled",
)


def _run_summary(report: dict[str, Any], cpu: dict[str, float]) -> dict[str, Any]:
    errors = report.get("errorDistribution") or {}
    cut = sum(n for msg, n in errors.items() if any(c in msg for c in _CUT_AT_END))
    count = int(report["count"]) - cut
    codes = report.get("statusCodeDistribution") or {}
    return {
        "count": count,
        "cut_at_end": cut,
        "ok": int(codes.get("OK", 0)),
        "errors": {msg: n for msg, n in errors.items() if not any(c in msg for c in _CUT_AT_END)},
        "rps": round(float(report["rps"]), 1),
        **_percentiles_ms(report),
        "cpu_us_per_call": {
            role: round(seconds / count * 1e6, 1) if count else 0.0 for role, seconds in cpu.items()
        },
    }


def measure(target: Target, *, seconds: float, concurrency: int, rate: int = 0) -> dict[str, Any]:
    before = {role: cpu_seconds(pid) for role, pid in target.pids.items()}
    report = ghz(
        target.address,
        seconds=seconds,
        concurrency=concurrency,
        rps=rate,
        transport=target.transport,
    )
    cpu = {role: cpu_seconds(pid) - before[role] for role, pid in target.pids.items()}
    return _run_summary(report, cpu)


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else 0.0


def summarise(targets: dict[str, Target], rates: Sequence[int]) -> dict[str, Any]:
    """Median over rounds of each figure, plus the ratios the goals are stated in."""
    out: dict[str, Any] = {}
    for name, t in targets.items():
        cpu_roles = t.pids.keys()
        entry: dict[str, Any] = {
            "max_rps": _median([r["rps"] for r in t.max_runs]),
            "cpu_us_per_call": {
                role: _median([r["cpu_us_per_call"][role] for r in t.max_runs])
                for role in cpu_roles
            },
            "errors": sum(r["count"] - r["ok"] for r in t.max_runs),
        }
        for rate in rates:
            runs = t.rate_runs[rate]
            entry[f"at_{rate}_rps"] = {
                **{key: _median([r[key] for r in runs]) for key in ("p50_ms", "p95_ms", "p99_ms")},
                "cpu_us_per_call": {
                    role: _median([r["cpu_us_per_call"][role] for r in runs]) for role in cpu_roles
                },
            }
            entry["errors"] += sum(r["count"] - r["ok"] for r in runs)
        out[name] = entry
    bare, plugin, gateway = out["bare"], out["plugin"], out["gateway"]
    ratios = {
        "plugin_max_rps_vs_bare": round(plugin["max_rps"] / bare["max_rps"], 2),
        "gateway_max_rps_vs_bare": round(gateway["max_rps"] / bare["max_rps"], 2),
    }
    # CPU per call at the lowest fixed rate (every target keeps up with it, so all are equally
    # busy) and at max rps; the proxy hop is the proxy process alone.
    phases = {"max": (bare, plugin, gateway)}
    if rates:
        key = f"at_{min(rates)}_rps"
        phases[key] = (bare[key], plugin[key], gateway[key])
    for phase, (b, p, g) in phases.items():
        base = b["cpu_us_per_call"]["server"] or 1.0
        ratios[f"plugin_cpu_per_call_vs_bare_{phase}"] = round(
            p["cpu_us_per_call"]["server"] / base, 2
        )
        ratios[f"proxy_hop_cpu_per_call_vs_bare_{phase}"] = round(
            g["cpu_us_per_call"]["proxy"] / base, 2
        )
    out["ratios"] = ratios
    return out


def _print(summary: dict[str, Any], rates: Sequence[int], header: str) -> None:
    print(header)
    cols = f"{'target':<9}{'max rps':>9}{'x bare':>8}  {'server cpu us/call':<30}"
    for rate in rates:
        cols += f"{f'p50/p95/p99 ms @{rate}':>24}"
    print(cols)
    print("-" * len(cols))
    bare_rps = summary["bare"]["max_rps"]
    for name in TARGETS:
        s = summary[name]
        cpu = " + ".join(f"{v:g}" for v in s["cpu_us_per_call"].values())
        if len(s["cpu_us_per_call"]) > 1:
            cpu = f"{cpu} (proxy + plugin)"
        row = f"{name:<9}{s['max_rps']:>9.0f}{s['max_rps'] / bare_rps:>8.2f}  {cpu:<30}"
        for rate in rates:
            r = s[f"at_{rate}_rps"]
            cell = f"{r['p50_ms']:.2f}/{r['p95_ms']:.2f}/{r['p99_ms']:.2f}"
            row += f"{cell:>24}"
        print(row)
    print("ratios:", json.dumps(summary["ratios"]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke: 1 round of short runs")
    parser.add_argument("--rounds", type=int, default=None, help="alternating rounds (3)")
    parser.add_argument("--seconds", type=float, default=None, help="length of each run (5)")
    parser.add_argument("--concurrency", type=int, default=32, help="in flight for max rps")
    parser.add_argument("--rates", default="500,1000", help="fixed rates for latency, rps")
    parser.add_argument("--json", type=Path, default=None, help="report path")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    seconds = args.seconds or (1.0 if args.quick else 5.0)
    rates = [int(r) for r in args.rates.split(",") if r]
    base = Path(os.environ.get("PRISM_CWD", "."))
    report_path = args.json or base / "reports" / "benchmarks" / "percall.json"
    with servers() as targets:
        for t in targets.values():  # warm-up: connections, caches, lazily built handlers
            measure(t, seconds=min(seconds, 1.0), concurrency=args.concurrency)
        for _ in range(rounds):
            for t in targets.values():
                t.max_runs.append(measure(t, seconds=seconds, concurrency=args.concurrency))
                for rate in rates:
                    run = measure(t, seconds=seconds, concurrency=args.concurrency, rate=rate)
                    t.rate_runs.setdefault(rate, []).append(run)
    summary = summarise(targets, rates)
    header = (
        f"unary Set via ghz, one connection, {args.concurrency} in flight for max rps; "
        f"median of {rounds} round(s) x {seconds:g}s (cores: {os.cpu_count()}, "
        f"load avg {os.getloadavg()[0]:.1f})"
    )
    _print(summary, rates, header)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(
        json.dumps(
            {
                "benchmark": "percall",
                "call": CALL,
                "rounds": rounds,
                "seconds": seconds,
                "concurrency": args.concurrency,
                "rates": rates,
                "cpu_count": os.cpu_count(),
                "load_average": os.getloadavg()[0],
                "summary": summary,
                "runs": {n: {"max": t.max_runs, "rates": t.rate_runs} for n, t in targets.items()},
            },
            indent=2,
        )
    )
    print(f"JSON report: {report_path}")
    failed = {
        name: run["errors"]
        for name, target in targets.items()
        for run in [*target.max_runs, *(r for runs in target.rate_runs.values() for r in runs)]
        if run["errors"]
    }
    if failed:
        print(f"bench_proxy: calls failed (not end-of-run cuts): {failed}", file=sys.stderr)
    return 0 if all(summary[n]["errors"] == 0 for n in TARGETS) else 1


if __name__ == "__main__":
    raise SystemExit(main())
