"""Benchmark: what TLS + bearer tokens cost the gateway, vs a plain gateway, in one run.

Three ``prism up`` gateways (namespace ``default`` on a managed MemStore) run side by side:
``plain``, ``tls`` (server TLS only) and ``tls+token`` (TLS, JWT auth and a grant), with
certificates and a JWT made here; the secured ones' plugins listen on Unix sockets, as every
secured gateway's do. ``tls`` separates grpc core's TLS cost from the Python auth path. ghz
drives each with the same unary Set as ``bench_proxy`` (one connection; ``--cacert`` and the
``authorization`` metadata as needed), in rounds alternating the modes so machine load hits
all alike:

* max rps: ``--concurrency`` calls in flight for ``--seconds``;
* p50/p95/p99 at a fixed rate (``--rate``, default 1,000 rps);
* CPU per call of the gateway process and of its plugin (psutil ``cpu_times``): the figure that
  moves least when the machine is shared, and the one the Python auth path can change.

Prints every round, the ratios of the medians (tls / plain, tls+token / plain and / tls) and
the load average, and writes JSON (``--json``, default ``reports/benchmarks/security.json``).
Run from the repo root:
``./pants run benchmarks/proxy:bench_security [-- --quick]``; needs ghz (``tools/ghz.sh install``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench_proxy import CALL, Target, children, measure

from proxy.credentials import AUDIENCE, ISSUER, CertAuthority, TokenIssuer, write
from proxy.gateway import Gateway

MODES = ("plain", "tls", "tls+token")
_TLS = """\
namespaces: {default: {plugin: memstore}}
tls: {cert: ../server.pem, key: ../server.key}
"""
_AUTH = f"""\
auth:
  tokens: {{audience: {AUDIENCE}, issuer: "{ISSUER}", jwks: ../jwks.json}}
  grants: [{{identities: ["token:bench"], namespaces: [default], allow: [read, write]}}]
"""


def _gateways(work: Path) -> dict[str, tuple[Gateway, list[str]]]:
    """plain, TLS only, TLS + tokens: each gateway (not started) and its ghz transport flags."""
    ca = CertAuthority.create("bench-ca")
    cert, key = ca.issue("gateway", server=True)
    write(work / "server.pem", cert)
    write(work / "server.key", key)
    cacert = str(write(work / "ca.pem", ca.pem))
    issuer = TokenIssuer()
    write(work / "jwks.json", issuer.jwks())
    bearer = json.dumps({"authorization": f"Bearer {issuer.token('bench', exp=2**31 - 1)}"})
    configs = {"plain": None, "tls": _TLS, "tls+token": _TLS + _AUTH}
    flags = {
        "plain": ["--insecure"],
        "tls": ["--cacert", cacert],
        "tls+token": ["--cacert", cacert, "--metadata", bearer],
    }
    out = {}
    for mode in MODES:
        (work / mode).mkdir()
        out[mode] = Gateway(configs[mode], work / mode), flags[mode]
    return out


def _target(name: str, gateway: Gateway, transport: list[str]) -> Target:
    assert gateway.proc is not None
    kids = children(gateway.proc.pid)
    if len(kids) != 1:
        raise RuntimeError(f"{name} gateway has {len(kids)} child processes, expected 1")
    pids = {"proxy": gateway.proc.pid, "plugin": kids[0]}
    return Target(name, gateway.addr, pids, transport=transport)


def _median_of(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def _cpu_of(runs: list[dict[str, Any]], role: str) -> float:
    return float(statistics.median(r["cpu_us_per_call"][role] for r in runs))


def _ratio(new: dict[str, Any], old: dict[str, Any], key: str, role: str) -> float:
    return round(float(new[key][role]) / float(old[key][role]), 3)


def summarise(targets: dict[str, Target], rate: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, t in targets.items():
        rated = t.rate_runs[rate]
        out[name] = {
            "max_rps": _median_of(t.max_runs, "rps"),
            "cpu_us_per_call_max": {r: _cpu_of(t.max_runs, r) for r in t.pids},
            f"at_{rate}_rps": {
                **{k: _median_of(rated, k) for k in ("p50_ms", "p95_ms", "p99_ms")},
                "cpu_us_per_call": {r: _cpu_of(rated, r) for r in t.pids},
            },
            "failed": sum(r["count"] - r["ok"] for r in [*t.max_runs, *rated]),
        }
    at = f"at_{rate}_rps"
    out["ratios"] = {}
    for new, old in (("tls", "plain"), ("tls+token", "plain"), ("tls+token", "tls")):
        n, o = out[new], out[old]
        out["ratios"][f"{new} / {old}"] = {
            "max_rps": round(n["max_rps"] / o["max_rps"], 3),
            "max_rps_lost_pct": round((1 - n["max_rps"] / o["max_rps"]) * 100, 1),
            f"p95_{at}": round(n[at]["p95_ms"] / o[at]["p95_ms"], 3),
            "proxy_cpu_per_call_max": _ratio(n, o, "cpu_us_per_call_max", "proxy"),
            f"proxy_cpu_per_call_{at}": round(
                n[at]["cpu_us_per_call"]["proxy"] / o[at]["cpu_us_per_call"]["proxy"], 3
            ),
            "plugin_cpu_per_call_max": _ratio(n, o, "cpu_us_per_call_max", "plugin"),
        }
    return out


def _line(label: str, run: dict[str, Any]) -> str:
    cpu = run["cpu_us_per_call"]
    return (
        f"{label:<26}{run['rps']:>8.0f} rps  p50/p95/p99 {run['p50_ms']:.2f}/{run['p95_ms']:.2f}"
        f"/{run['p99_ms']:.2f} ms  cpu us/call {cpu['proxy']:g} proxy + {cpu['plugin']:g} plugin"
        f"  load {run['load']:.1f}" + (f"  FAILED {run['errors']}" if run["errors"] else "")
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CI smoke: 1 round of short runs")
    ap.add_argument("--rounds", type=int, default=None, help="alternating rounds (4)")
    ap.add_argument("--seconds", type=float, default=None, help="length of each run (5)")
    ap.add_argument("--concurrency", type=int, default=32, help="in flight for max rps")
    ap.add_argument("--rate", type=int, default=1000, help="fixed rate for latency, rps")
    ap.add_argument("--json", type=Path, default=None, help="report path")
    args = ap.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 4)
    seconds = args.seconds or (1.0 if args.quick else 5.0)
    report_path = args.json or Path(os.environ.get("PRISM_CWD", ".")) / "reports" / "benchmarks"
    if args.json is None:
        report_path = report_path / "security.json"
    os.environ.setdefault("PRISM_MEMSTORE_LOG_LEVEL", "WARNING")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        gateways = _gateways(Path(tmp))
        targets: dict[str, Target] = {}
        try:
            for mode, (gateway, flags) in gateways.items():
                gateway.start("--log-level", "WARNING")
                targets[mode] = _target(mode, gateway, flags)
            for t in targets.values():  # warm-up: connections, handler caches, token cache
                measure(t, seconds=min(seconds, 1.0), concurrency=args.concurrency)
            for r in range(rounds):
                for name, t in targets.items():
                    for rate in (0, args.rate):
                        run = measure(t, seconds=seconds, concurrency=args.concurrency, rate=rate)
                        run["load"] = os.getloadavg()[0]
                        if rate:
                            t.rate_runs.setdefault(rate, []).append(run)
                        else:
                            t.max_runs.append(run)
                        what = f"@{rate} rps" if rate else "max"
                        print(_line(f"round {r + 1} {name} {what}", run), flush=True)
        finally:
            for gateway, _ in gateways.values():
                gateway.stop()
    load_after = os.getloadavg()
    summary = summarise(targets, args.rate)
    at = f"at_{args.rate}_rps"
    print(
        f"\nunary {CALL} via ghz, one connection, {args.concurrency} in flight for max; "
        f"median of {rounds} round(s) x {seconds:g}s; cores {os.cpu_count()}, load avg "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )
    for name in MODES:
        s = summary[name]
        cpu = s["cpu_us_per_call_max"]
        print(
            f"{name:<10} max {s['max_rps']:7.0f} rps  p95@{args.rate} {s[at]['p95_ms']:7.2f} ms"
            f"  cpu us/call at max {cpu['proxy']:g} proxy + {cpu['plugin']:g} plugin"
        )
    for pair, ratios in summary["ratios"].items():
        print(f"{pair}: {json.dumps(ratios)}")
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(
        json.dumps(
            {
                "benchmark": "security",
                "call": CALL,
                "rounds": rounds,
                "seconds": seconds,
                "concurrency": args.concurrency,
                "rate": args.rate,
                "cpu_count": os.cpu_count(),
                "load_average_before": load_before,
                "load_average_after": load_after,
                "summary": summary,
                "runs": {
                    n: {"max": t.max_runs, "rate": t.rate_runs[args.rate]}
                    for n, t in targets.items()
                },
            },
            indent=2,
        )
    )
    print(f"JSON report: {report_path}")
    return 0 if all(summary[n]["failed"] == 0 for n in MODES) else 1


if __name__ == "__main__":
    sys.exit(main())
