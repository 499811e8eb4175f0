"""The ``prism-loadtest`` command line: ``kv`` and ``pubsub`` against a plugin picked by name.

Why argparse and one flat set of flags: the tool is run by hand while developing a pattern and
by scripts in CI, so every knob is a flag with a default printed by ``--help`` and durations
read like the rest of Prism ("10s", "250ms"). Exit status: 0 when every operation succeeded,
1 when some failed or were missed/unfinished, 2 for bad arguments or a backend that cannot be
opened, 130 after Ctrl-C (the partial report is still printed and written).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

from prism.loadtest.backends import KV_PLUGINS, PUBSUB_PLUGINS, Opened, open_kv, open_pubsub
from prism.loadtest.kv import KvScenario
from prism.loadtest.profiles import Profile, constant, ramp, spike
from prism.loadtest.pubsub import PubSubScenario
from prism.loadtest.report import build_report, format_progress, format_summary, write_json
from prism.loadtest.runner import Progress, Runner
from prism.sdk.config import parse_duration

__all__ = ["build_parser", "main", "make_profile"]


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("load profile")
    g.add_argument("--profile", choices=("constant", "ramp", "spike"), default="constant")
    g.add_argument("--rate", type=float, default=100.0, help="ops/s (ramp: the final rate)")
    g.add_argument("--duration", type=_duration, default=10.0, help="e.g. 10s, 1m (default 10s)")
    g.add_argument("--ramp-from", type=float, default=0.0, help="ramp: starting ops/s")
    g.add_argument("--spike-rate", type=float, default=None, help="spike: ops/s (default 5x rate)")
    g.add_argument(
        "--spike-at", type=_duration, default=None, help="spike: start (default mid-run)"
    )
    g.add_argument("--spike-for", type=_duration, default=1.0, help="spike: length (default 1s)")
    g.add_argument("--concurrency", type=int, default=64, help="most operations in flight")
    g.add_argument(
        "--drain-timeout",
        type=_duration,
        default=5.0,
        help="after the profile, wait this long for in-flight operations (default 5s)",
    )
    o = p.add_argument_group("backend and output")
    o.add_argument("--redis-addr", default=None, help="HOST:PORT (default $PRISM_REDIS_ADDR)")
    o.add_argument("--json", metavar="PATH", default=None, help="write the JSON report here")
    o.add_argument("--quiet", action="store_true", help="no progress line on stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prism-loadtest",
        description="Pattern-level load tests: drive a plugin's store/broker in process (no gRPC).",
    )
    sub = parser.add_subparsers(dest="scenario", required=True)
    kv = sub.add_parser("kv", help="get/set mix on a KeyValueStore")
    kv.add_argument("--plugin", choices=KV_PLUGINS, default="memstore")
    kv.add_argument("--value-size", type=int, default=64, help="bytes per value")
    kv.add_argument("--keys", type=int, default=10_000, help="key space (preloaded)")
    kv.add_argument("--read-ratio", type=float, default=0.8, help="share of gets (0..1)")
    _common(kv)
    ps = sub.add_parser("pubsub", help="publish at the rate; subscribers count deliveries")
    ps.add_argument("--plugin", choices=PUBSUB_PLUGINS, default="redis")
    ps.add_argument(
        "--kafka-bootstrap", default=None, help="default $PRISM_KAFKA_BOOTSTRAP_SERVERS"
    )
    ps.add_argument("--subscribers", type=int, default=2, help="fan-out: subscriber ids")
    ps.add_argument("--payload-size", type=int, default=64, help="bytes per message (min 16)")
    ps.add_argument(
        "--settle", type=_duration, default=5.0, help="wait for deliveries after the run (5s)"
    )
    _common(ps)
    return parser


def make_profile(args: argparse.Namespace) -> Profile:
    """The profile the flags describe (ValueError for impossible combinations)."""
    if args.profile == "constant":
        return constant(args.rate, args.duration)
    if args.profile == "ramp":
        return ramp(args.ramp_from, args.rate, args.duration)
    spike_rate = args.spike_rate if args.spike_rate is not None else args.rate * 5
    at = args.spike_at if args.spike_at is not None else args.duration / 2
    return spike(args.rate, spike_rate, at, args.spike_for, args.duration)


def _progress(p: Progress) -> None:
    print(format_progress(p), file=sys.stderr, flush=True)


@contextlib.asynccontextmanager
async def _on_sigint(runner: Runner) -> AsyncIterator[None]:
    """Ctrl-C stops the runner (partial report) instead of killing the process."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, runner.stop)
    except (NotImplementedError, RuntimeError):  # pragma: no cover - not the main thread
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)


async def _run(
    args: argparse.Namespace, profile: Profile, command: Sequence[str]
) -> dict[str, Any]:
    scenario: KvScenario | PubSubScenario
    opener: contextlib.AbstractAsyncContextManager[Opened]
    if args.scenario == "kv":
        opener = open_kv(args.plugin, redis_addr=args.redis_addr)
    else:
        opener = open_pubsub(
            args.plugin, redis_addr=args.redis_addr, kafka_bootstrap=args.kafka_bootstrap
        )
    async with opener as opened:
        if args.scenario == "kv":
            scenario = KvScenario(
                opened.target,  # type: ignore[arg-type]
                keys=args.keys,
                value_size=args.value_size,
                read_ratio=args.read_ratio,
            )
        else:
            scenario = PubSubScenario(
                opened.target,  # type: ignore[arg-type]
                subscribers=args.subscribers,
                payload_size=args.payload_size,
                classifiers=opened.classifiers,
            )
        try:  # teardown copes with a partial setup (e.g. the second subscriber failed)
            await scenario.setup()
            runner = Runner(
                profile,
                scenario,
                concurrency=args.concurrency,
                drain_timeout=args.drain_timeout,
                classifiers=opened.classifiers,
                progress=None if args.quiet else _progress,
            )
            async with _on_sigint(runner):
                result = await runner.run()
                if isinstance(scenario, PubSubScenario):
                    await scenario.settle(args.settle, stopped=lambda: runner.stopped)
            custom = scenario.custom()
        finally:
            await scenario.teardown()
    return build_report(
        result,
        scenario=args.scenario,
        plugin=args.plugin,
        command=command,
        concurrency=args.concurrency,
        custom=custom,
        settings=opened.settings,
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.concurrency < 1:
        parser.error("--concurrency must be >= 1")
    try:
        profile = make_profile(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        report = asyncio.run(_run(args, profile, ["prism-loadtest", *argv]))
    except KeyboardInterrupt:
        print("prism-loadtest: interrupted before the run started", file=sys.stderr)
        return 130
    except ValueError as exc:
        print(f"prism-loadtest: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a backend that cannot be opened: say why, exit 2
        print(f"prism-loadtest: cannot run on {args.plugin}: {exc!r}", file=sys.stderr)
        return 2
    print(format_summary(report))
    if args.json:
        write_json(report, args.json)
        print(f"JSON report: {args.json}", file=sys.stderr)
    if report["interrupted"]:
        return 130
    achieved = report["achieved"]
    failed = report["errors"] or achieved["missed"] or achieved["unfinished"]
    return 1 if failed else 0
