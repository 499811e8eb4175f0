"""``soak``: start a Redis Cluster (3 masters + 3 replicas), a 3-broker Kafka cluster and ``prism up`` on 127.0.0.1, run the soak,
print the report (``--json PATH`` too); exit 1 when an acknowledged write was lost."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prism.sdk.config import parse_duration
from proxy.gateway import Gateway
from services.servers import kafka_cluster, redis_cluster
from soak import report
from soak.faults import KINDS
from soak.run import Plan, soak

__all__ = ["main"]

GATEWAY_START = 180.0  # seconds: three plugin processes on a busy machine
CONFIG = """\
namespaces:
  kv:
    plugin: redis
    settings:
      addr: "{redis}"
      cluster: true
      wait_replicas: 1
  mem:
    plugin: memstore
  events:
    plugin: kafka
    settings:
      bootstrap_servers: "{kafka}"
      topic_partitions: 3
supervision:
  health_interval: 0.5s
  restart_initial_backoff: 100ms
  restart_max_backoff: 2s
"""


def _seconds(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="soak", description=__doc__)
    p.add_argument("-d", "--duration", type=_seconds, default=600.0, help="of load (10m)")
    p.add_argument("--kv-rate", type=float, default=50.0, help="KV calls/s on Redis (50)")
    p.add_argument("--mem-rate", type=float, default=20.0, help="KV calls/s on MemStore (20)")
    p.add_argument("--publish-rate", type=float, default=20.0, help="publishes/s on Kafka (20)")
    p.add_argument(
        "--kill-every",
        type=_seconds,
        default=45.0,
        help="seconds between kills, 0 = none (45s); the first at half that",
    )
    p.add_argument(
        "--kills",
        default=",".join(KINDS),
        help=f"what is killed, in turn (default: {','.join(KINDS)})",
    )
    p.add_argument(
        "--down",
        type=_seconds,
        default=5.0,
        help="a killed Kafka broker or Redis node is started again after this long (5s)",
    )
    p.add_argument("--keys", type=int, default=2000, help="keys per KV namespace (2000)")
    p.add_argument("--value-size", type=int, default=64, help="bytes per value/payload (64)")
    p.add_argument(
        "--read-ratio", type=float, default=0.2, help="share of KV calls that read a key back (0.2)"
    )
    p.add_argument("--timeout", type=_seconds, default=5.0, help="deadline per call (5s)")
    p.add_argument("--in-flight", type=int, default=64, help="calls in flight per stream (64)")
    p.add_argument(
        "--settle",
        type=_seconds,
        default=60.0,
        help="after the load, wait up to this long for every publish to be consumed",
    )
    p.add_argument("--progress-every", type=_seconds, default=10.0, help="progress line (10s)")
    p.add_argument("--workdir", type=Path, help="gateway config and log (default: a temp dir)")
    p.add_argument("--json", type=Path, help="also write the report here")
    return p


def plan_from(args: argparse.Namespace) -> Plan:
    kinds = tuple(k.strip() for k in args.kills.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise SystemExit(f"soak: unknown --kills {unknown}; known: {', '.join(KINDS)}")
    return Plan(
        seconds=args.duration,
        kv_rate=args.kv_rate,
        mem_rate=args.mem_rate,
        publish_rate=args.publish_rate,
        kill_every=args.kill_every,
        down=args.down,
        keys=args.keys,
        value_size=args.value_size,
        read_ratio=args.read_ratio,
        timeout=args.timeout,
        in_flight=args.in_flight,
        settle=args.settle,
        progress_every=args.progress_every,
        kinds=kinds,
    )


def passed(result: dict[str, Any]) -> bool:
    """Completed, and every acknowledged write was there (read back or consumed)."""
    return bool(
        result["completed"]
        and result["lost"] == 0
        and result["unreadable"] == 0
        and result["stale_reads"] == 0
    )


def run(plan: Plan, workdir: Path) -> dict[str, Any]:
    """Start the servers and the gateway, soak, stop everything; the report."""

    def step(text: str) -> None:
        print(f"soak: {text}", file=sys.stderr, flush=True)

    with contextlib.ExitStack() as stack:
        step("starting a Redis Cluster")
        redis = stack.enter_context(redis_cluster())
        step("starting a 3-broker Kafka cluster")
        kafka = stack.enter_context(kafka_cluster())
        gateway = Gateway(CONFIG.format(redis=redis.addrs[0], kafka=kafka.bootstrap), workdir)
        step(f"starting the gateway (log: {gateway.log_path})")
        gateway.start(timeout=GATEWAY_START)
        try:
            assert gateway.proc is not None
            step(f"gateway on {gateway.addr}; soaking for {plan.seconds:.0f} s")
            result = asyncio.run(soak(plan, gateway.addr, gateway.proc.pid, kafka, redis))
        finally:
            code = gateway.stop()
        result["gateway_exit_code"] = code
        result["gateway_log"] = str(gateway.log_path)
        return result


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    plan = plan_from(args)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="prism-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    result = run(plan, workdir)
    print(report.text(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        print(f"JSON report: {args.json}")
    ok = passed(result)
    print("PASS: no acknowledged write lost" if ok else "FAIL: see above")
    return 0 if ok else 1
