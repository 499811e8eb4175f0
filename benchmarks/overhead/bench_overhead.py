"""Benchmark: the memo's "gRPC overhead", measured as a difference in one run.

The same operation at the same open-loop rate and duration, through both tiers (``--op``):

* ``kv-set``: KV Set of a 4-byte value on MemStore (namespace ``default``);
* ``register``: the multicast registry's Register on a Redis registry at ``--redis-addr``;
* ``enumerate``: Enumerate of one group (``group == gN``, the groups in turn) of
  ``--identities`` preloaded identities in ``--groups`` groups, on that Redis registry;
* ``multicast``: Multicast to one group, every identity with a live receiver, on that registry
  and a messaging slot (NATS at ``--nats-servers``, else Redis pub/sub); delivery is counted at
  receipt in both tiers.

Twice:

* pattern level: ``prism-loadtest`` (``kv --plugin memstore --read-ratio 0``, or ``register`` /
  ``enumerate`` / ``multicast --redis-addr ...``) in this process (the store object or
  coordinator a plugin serves, no gRPC). Its latency counts from the *intended* start; its
  service time from the actual start, so the tool's own dispatch delay is the gap between the
  two and is printed as a row of its own;
* integration level: ghz (the memo's Set call, or the registry call, ``--duration-stop wait``)
  against ``prism up`` (proxy -> MemStore or multicast plugin process), with the same preload
  and receivers (Receive streams through the gateway, read on a thread of this process) in a
  namespace of the run's own. ghz times each call from its actual start.

The difference rows (gateway minus pattern level) are the cost of the gRPC path: client
encoding, two gRPC hops (client -> proxy -> plugin) and the proxy. Writes a markdown table and
the JSON of both runs to ``--out`` (default reports/overhead/). ``--quick`` is a CI smoke (2 s).
Run from the repo root: ``./pants run benchmarks/overhead:bench_overhead``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from overhead_registry import GatewayReceivers, seed, unseed

from prism.loadtest.cli import main as loadtest_main

PERCENTILES = ("p50", "p95", "p99")
PAYLOAD_SIZE = 64  # multicast bytes in both tiers (prism-loadtest's default --payload-size)
SETTLE_S = 5.0  # wait for multicast receipts after the calls (prism-loadtest's default --settle)
_GROUP_FILTER = (
    '"filter":{"conditions":[{"key":"group","op":"FILTER_OP_EQ",'
    '"values":["g{{mod .RequestNumber $groups}}"]}]}'
)


@dataclass(frozen=True)
class Op:
    """One operation through both tiers. ``data`` is ghz's ``--data`` (a Go template per call);
    ``$ns``, ``$groups`` and ``$payload`` are filled in per run."""

    title: str
    loadtest: tuple[str, ...]  # prism-loadtest arguments
    name: str  # the operation's name in prism-loadtest's report
    call: str
    data: str
    registry: bool = False  # a multicast registry namespace on --redis-addr
    preload: bool = False  # --identities registered in --groups before either tier runs
    receivers: bool = False  # a live receiver per identity, receipts counted
    identities: int = 1000  # default --identities


OPS: dict[str, Op] = {
    "kv-set": Op(
        title="KV Set on MemStore",
        loadtest=("kv", "--plugin", "memstore", "--read-ratio", "0", "--value-size", "4"),
        name="set",
        call="prism.KeyValueBasicInterface.Set",
        data='{"namespace":"default","key":"test-{{.RequestNumber}}","value":"dGVzdA=="}',
    ),
    "register": Op(  # both levels: one Lua call on the Redis registry per Register
        title="multicast registry Register on Redis",
        loadtest=("register",),
        name="register",
        call="prism.MulticastRegistryInterface.Register",
        data='{"namespace":"$ns","identity":"device-{{.RequestNumber}}",'
        '"metadata":{"group":"g1","index":"{{.RequestNumber}}"},"ttl_seconds":300}',
        registry=True,
    ),
    "enumerate": Op(  # both levels: one group's index page plus its HGETALLs per call
        title="multicast registry Enumerate of one group on Redis",
        loadtest=("enumerate",),
        name="enumerate",
        call="prism.MulticastRegistryInterface.Enumerate",
        data='{"namespace":"$ns",' + _GROUP_FILTER + "}",
        registry=True,
        preload=True,
    ),
    "multicast": Op(  # both levels: enumerate one group, deliver to each live receiver
        title="multicast registry Multicast to one group (live receivers)",
        loadtest=("multicast", "--payload-size", str(PAYLOAD_SIZE)),
        name="multicast",
        call="prism.MulticastRegistryInterface.Multicast",
        data='{"namespace":"$ns",' + _GROUP_FILTER + ',"payload":"$payload"}',
        registry=True,
        preload=True,
        receivers=True,
        identities=100,
    ),
}
REGISTRY_CONFIG = """namespaces:
  {ns}:
    plugin: multicast
    settings: {{registry: redis, messaging: {messaging}, redis_addr: "{addr}"{nats}}}
"""


@dataclass(frozen=True)
class Run:
    """What both tiers share: the operation, its backends and its preload."""

    op: Op
    rate: float
    duration: float
    redis_addr: str = ""
    nats_servers: str = ""
    identities: int = 0
    groups: int = 10

    def loadtest_argv(self) -> list[str]:
        argv = list(self.op.loadtest)
        if self.op.registry:
            argv += ["--redis-addr", self.redis_addr]
        if self.op.preload:
            argv += ["--identities", str(self.identities), "--groups", str(self.groups)]
        if self.op.receivers and self.nats_servers:
            argv += ["--nats-servers", self.nats_servers]
        return argv

    def config(self, namespace: str) -> str:
        messaging = "nats" if self.nats_servers else "redis"
        nats = f', nats_servers: "{self.nats_servers}"' if self.nats_servers else ""
        return REGISTRY_CONFIG.format(
            ns=namespace, messaging=messaging, addr=self.redis_addr, nats=nats
        )

    def ghz_data(self, namespace: str) -> str:
        payload = base64.b64encode(b"\0" * PAYLOAD_SIZE).decode()
        return Template(self.op.data).substitute(ns=namespace, groups=self.groups, payload=payload)


def pattern_level(run: Run) -> dict[str, Any]:
    """prism-loadtest's JSON report of the run (same process)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "loadtest.json"
        argv = run.loadtest_argv()
        argv += ["--rate", str(run.rate), "--duration", f"{run.duration}s", "--quiet"]
        code = loadtest_main([*argv, "--json", str(path)])
        if code not in (0, 1):  # 1: it ran, with errors or missed calls (the table shows them)
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


def integration_level(run: Run, addr: str, namespace: str) -> dict[str, Any]:
    """ghz's JSON report of the run's call through the gateway."""
    ghz = subprocess.run(
        ["bash", "tools/ghz.sh", "install"], capture_output=True, text=True, check=True
    ).stdout.split()[-1]
    cmd = [ghz, "--insecure", "--call", run.op.call, "--data", run.ghz_data(namespace)]
    cmd += ["--rps", str(int(run.rate)), "--duration", f"{run.duration}s"]
    cmd += ["--duration-stop", "wait"]
    proc = subprocess.run(
        [*cmd, "--format", "json", addr], capture_output=True, text=True, check=True
    )
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def gateway_tier(run: Run) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The integration level in a namespace of its own, with the run's preload and receivers:
    ghz's report, and (multicast) the receipts of the gateway's receivers."""
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        config = None
        if run.op.registry:
            config = str(Path(tmp) / "prism.yaml")
            Path(config).write_text(run.config(namespace))
        addr = stack.enter_context(gateway(config))
        if not run.op.preload:
            return integration_level(run, addr, namespace), None
        seed(addr, namespace, run.identities, run.groups)
        stack.callback(unseed, addr, namespace, run.identities)
        if not run.op.receivers:
            return integration_level(run, addr, namespace), None
        receivers = stack.enter_context(GatewayReceivers(addr, namespace, run.identities))
        ghz = integration_level(run, addr, namespace)
        ok = (ghz["statusCodeDistribution"] or {}).get("OK", 0)
        expected = ok * (run.identities // run.groups)
        receivers.settle(expected, SETTLE_S)
        return ghz, receipts(expected, receivers)


def receipts(expected: int, receivers: GatewayReceivers) -> dict[str, Any]:
    lat = sorted(receivers.latency_ms)

    def pct(q: float) -> float:
        return round(lat[min(len(lat) - 1, int(q * len(lat)))], 3) if lat else 0.0

    return {
        "counted_at": "receipt",
        "targets": expected,
        "delivered": receivers.received,
        "delivery_rate": round(receivers.received / expected, 6) if expected else 0.0,
        "receiver_errors": receivers.errors,
        "latency_from": "send_time_us",
        "latency_ms": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99)},
    }


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


def kept_up(run: Run, pattern: dict[str, Any], ghz: dict[str, Any]) -> str:
    """Whether each tier made its calls at the rate (a tier that fell behind measures queueing)."""
    due = round(run.rate * run.duration)
    got = pattern["achieved"]
    return (
        f"Calls due per tier: {due}. Pattern level: {got['completed']} completed, "
        f"{got['missed']} missed, {got['unfinished']} unfinished. "
        f"Gateway: ghz completed {ghz['count']}.\n"
    )


def markdown(run: Run, rows: list[dict[str, Any]], delivery: dict[str, Any], load: str) -> str:
    setup = f"; {run.identities} identities in {run.groups} groups" if run.op.preload else ""
    head = (
        f"{run.op.title}, {run.rate:g} ops/s for {run.duration:g} s{setup}, same run "
        f"(load average at the end: {load}); ms\n\n"
        "| row | count | OK | p50 | p95 | p99 | mean |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    )
    body = "".join(
        f"| {r['row']} | {r['count']} | {r['ok']} | {r['p50']:.3f} | {r['p95']:.3f} | "
        f"{r['p99']:.3f} | {r['mean']:.3f} |\n"
        for r in rows
    )
    if delivery:
        body += (
            "\n| delivery, counted at receipt | delivered / targets | rate | latency from "
            "| p50 | p95 | p99 |\n| --- | ---: | ---: | --- | ---: | ---: | ---: |\n"
        )
        for tier, d in delivery.items():
            lat = d["latency_ms"]
            body += (
                f"| {tier} | {d['delivered']} / {d['targets']} | {d['delivery_rate']:.2%} | "
                f"{d['latency_from']} | {lat['p50']:.3f} | {lat['p95']:.3f} | {lat['p99']:.3f} |\n"
            )
    return head + body


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rate", type=float, default=100.0, help="ops/s for both (memo: 100)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds for each level")
    p.add_argument("--quick", action="store_true", help="CI smoke: 2 s each")
    p.add_argument("--out", default="reports/overhead", help="directory for .md and .json")
    p.add_argument("--op", choices=sorted(OPS), default="kv-set", help="the operation")
    p.add_argument("--redis-addr", default="", help="host:port of the Redis (registry ops)")
    p.add_argument(
        "--nats-servers", default="", help="NATS messaging for --op multicast (else Redis pub/sub)"
    )
    p.add_argument(
        "--identities",
        type=int,
        default=0,
        help="preloaded identities (enumerate: 1000, multicast: 100, each with a receiver)",
    )
    p.add_argument("--groups", type=int, default=10, help="groups; a call targets one (10)")
    args = p.parse_args(argv)
    op = OPS[args.op]
    if op.registry and not args.redis_addr:
        p.error(f"--op {args.op} needs --redis-addr")
    identities = args.identities or op.identities
    if op.preload and (args.groups < 1 or identities % args.groups):
        p.error("--identities must be a multiple of --groups (every group the same size)")
    run = Run(
        op,
        args.rate,
        2.0 if args.quick else args.duration,
        redis_addr=args.redis_addr,
        nats_servers=args.nats_servers,
        identities=identities,
        groups=args.groups,
    )
    pattern = pattern_level(run)
    ghz, gateway_receipts = gateway_tier(run)
    rows = table(op.name, pattern, ghz)
    delivery: dict[str, Any] = {}
    if gateway_receipts is not None:
        mine = pattern["custom"]["delivery"]
        delivery["pattern level"] = {
            **{k: mine[k] for k in ("counted_at", "targets", "delivered", "delivery_rate")},
            "latency_from": "intended start",
            "latency_ms": mine["latency_ms"],
        }
        delivery["gateway"] = gateway_receipts
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    text = markdown(run, rows, delivery, load) + "\n" + kept_up(run, pattern, ghz)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "overhead.md").write_text(text)
    doc = {"op": args.op, "rate": run.rate, "duration_s": run.duration}
    if op.preload:
        doc |= {"identities": run.identities, "groups": run.groups}
    if op.receivers:
        doc["messaging"] = "nats" if run.nats_servers else "redis"
    doc |= {"loadavg": os.getloadavg(), "rows": rows, "delivery": delivery}
    doc |= {
        "pattern_level": pattern,
        "gateway_ghz": {k: v for k, v in ghz.items() if k != "details"},
    }
    (out / "overhead.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out / 'overhead.md'} and {out / 'overhead.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
