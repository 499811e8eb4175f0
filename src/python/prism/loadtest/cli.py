"""The ``prism-loadtest`` command line: ``kv`` and ``pubsub`` against a plugin picked by name;
``register``, ``enumerate``, ``multicast`` and ``mixed`` on the multicast registry coordinator.

Why argparse and one flat set of flags: the tool is run by hand while developing a pattern and
by scripts in CI, so every knob is a flag with a default printed by ``--help`` and durations
read like the rest of Prism ("10s", "250ms", "2m"). Exit status: 0 when every operation
succeeded, 1 when some failed or were missed/unfinished, a multicast message targeted at a
live receiver never reached it or the receivers stopped counting (their process died), 2 for bad arguments or a backend that cannot be opened, 130
after Ctrl-C (the partial report is still printed and written).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

from prism.loadtest.backends import (
    Opened,
    open_kv,
    open_pubsub,
    open_registry,
    pool_size,
    receivers_in_process,
    registry_plugin,
    registry_settings,
)
from prism.loadtest.kv import KvScenario
from prism.loadtest.profiles import Profile, constant, ramp, spike
from prism.loadtest.pubsub import PubSubScenario
from prism.loadtest.receiver_process import ReceiverProcess
from prism.loadtest.receivers import LiveReceivers
from prism.loadtest.registry import RegistryScenario
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
    g.add_argument("-r", "--rate", type=float, default=100.0, help="ops/s (ramp: the final rate)")
    g.add_argument(
        "-d", "--duration", type=_duration, default=10.0, help="e.g. 60s, 2m (default 10s)"
    )
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
    o = p.add_argument_group("output")
    o.add_argument("--json", metavar="PATH", default=None, help="write the JSON report here")
    o.add_argument("--quiet", action="store_true", help="no progress line on stderr")


def _setting(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _plugin_args(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    text = "plugin name (any plugin folder or installed plugin)"
    if not required:
        text += "; default: the one plugin found that serves a registry"
    p.add_argument("--plugin", required=required, default=None, help=text)
    p.add_argument(
        "--set",
        dest="settings",
        type=_setting,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="plugin setting on top of its PRISM_<NAME>_* environment, e.g. addr=127.0.0.1:6379",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prism-loadtest",
        description="Pattern-level load tests: drive a plugin's store/broker in process (no gRPC).",
    )
    sub = parser.add_subparsers(dest="scenario", required=True)
    kv = sub.add_parser("kv", help="get/set mix on a KeyValueStore")
    _plugin_args(kv)
    kv.add_argument("--value-size", type=int, default=64, help="bytes per value")
    kv.add_argument("--keys", type=int, default=10_000, help="key space (preloaded)")
    kv.add_argument("--read-ratio", type=float, default=0.8, help="share of gets (0..1)")
    _common(kv)
    ps = sub.add_parser("pubsub", help="publish at the rate; subscribers count deliveries")
    _plugin_args(ps)
    ps.add_argument("--subscribers", type=int, default=2, help="fan-out: subscriber ids")
    ps.add_argument("--payload-size", type=int, default=64, help="bytes per message (min 16)")
    ps.add_argument(
        "--settle", type=_duration, default=5.0, help="wait for deliveries after the run (5s)"
    )
    _common(ps)
    for name, text in REGISTRY_COMMANDS.items():
        _registry(sub.add_parser(name, help=text), name)
    return parser


REGISTRY_COMMANDS = {
    "register": "multicast registry: Register (registry backend only)",
    "enumerate": "multicast registry: Enumerate one group (registry backend only)",
    "multicast": "multicast registry: Multicast to one group, delivery counted at live receivers",
    "mixed": "multicast registry: register/enumerate/multicast mix (default 50/30/20)",
}
MIX_DEFAULTS = {"register": 50.0, "enumerate": 30.0, "multicast": 20.0}


def _registry(p: argparse.ArgumentParser, name: str) -> None:
    _plugin_args(p, required=False)
    r = p.add_argument_group("multicast registry")
    r.add_argument("--redis-addr", default=None, help="HOST:PORT of the Redis slot(s)")
    r.add_argument("--identities", type=int, default=1000, help="identity pool (default 1000)")
    r.add_argument(
        "--groups",
        type=int,
        default=10,
        help="groups the identities are spread over; enumerate/multicast target one (10)",
    )
    r.add_argument("--ttl", type=_duration, default=300.0, help="registration TTL (300s)")
    r.add_argument("--page-size", type=int, default=0, help="enumerate page size (0: default)")
    r.add_argument("--payload-size", type=int, default=64, help="multicast bytes (min 16)")
    r.add_argument(
        "--settle", type=_duration, default=5.0, help="wait for deliveries after the run (5s)"
    )
    r.add_argument(
        "--nats-servers",
        default=None,
        help="NATS messaging (e.g. nats://127.0.0.1:4222); else Redis pub/sub with"
        " --redis-addr, else in-process",
    )
    if name == "mixed":
        for op, pct in MIX_DEFAULTS.items():
            r.add_argument(f"--{op}-pct", type=float, default=pct, help=f"%% {op} ({pct:g})")
    _common(p)


def _mix(args: argparse.Namespace) -> dict[str, float]:
    if args.scenario != "mixed":
        return {args.scenario: 1.0}
    mix = {op: float(getattr(args, f"{op}_pct")) for op in MIX_DEFAULTS}
    if min(mix.values()) < 0 or abs(sum(mix.values()) - 100.0) > 1e-6:
        raise ValueError(
            "--register-pct, --enumerate-pct and --multicast-pct must be >= 0 and add up to 100"
        )
    return mix


def make_profile(args: argparse.Namespace) -> Profile:
    """The profile the flags describe (ValueError for impossible combinations)."""
    if args.profile == "constant":
        return constant(args.rate, args.duration)
    if args.profile == "ramp":
        return ramp(args.ramp_from, args.rate, args.duration)
    spike_rate = args.spike_rate if args.spike_rate is not None else args.rate * 5
    at = args.spike_at if args.spike_at is not None else args.duration / 2
    return spike(args.rate, spike_rate, at, args.spike_for, args.duration)


def _backend_name(plugin: str, opened: Opened) -> str:
    slots = opened.settings
    return f"{plugin} ({slots.get('registry')} registry, {slots.get('messaging')} messaging)"


def _say(text: str) -> None:
    print(f"prism-loadtest: {text}", file=sys.stderr, flush=True)


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
    scenario: KvScenario | PubSubScenario | RegistryScenario
    opener: contextlib.AbstractAsyncContextManager[Opened]
    registry = args.scenario in REGISTRY_COMMANDS
    if registry:
        mix = _mix(args)
        slots = registry_settings(
            redis_addr=args.redis_addr,
            nats_servers=args.nats_servers,
            messaging=mix.get("multicast", 0.0) > 0,
        )
        args.plugin = args.plugin or registry_plugin()
        plugin_settings = {**slots, **dict(args.settings)}
        opener = open_registry(args.plugin, plugin_settings)
    elif args.scenario == "kv":
        opener = open_kv(args.plugin, dict(args.settings))
    else:
        opener = open_pubsub(args.plugin, dict(args.settings))
    async with opener as opened:
        if registry:
            coordinator: Any = opened.target
            scenario = RegistryScenario(
                coordinator,
                receivers=(
                    LiveReceivers(coordinator)
                    if receivers_in_process(opened.settings)
                    else ReceiverProcess(args.plugin, plugin_settings)
                ),
                setup_concurrency=pool_size(opened.settings),
                mix=mix,
                identities=args.identities,
                groups=args.groups,
                ttl_seconds=args.ttl,
                payload_size=args.payload_size,
                page_size=args.page_size,
            )
        elif args.scenario == "kv":
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
            if isinstance(scenario, RegistryScenario):
                await scenario.setup(say=_say if not args.quiet else lambda _: None)
            else:
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
                if isinstance(scenario, PubSubScenario | RegistryScenario):
                    await scenario.settle(args.settle, stopped=lambda: runner.stopped)
            custom = scenario.custom()
        finally:
            await scenario.teardown()
    return build_report(
        result,
        scenario=args.scenario,
        plugin=_backend_name(args.plugin, opened) if registry else args.plugin,
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
        if args.scenario in REGISTRY_COMMANDS:
            _mix(args)
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
        where = getattr(args, "plugin", None) or "the multicast registry"
        print(f"prism-loadtest: cannot run on {where}: {exc!r}", file=sys.stderr)
        return 2
    print(format_summary(report))
    if args.json:
        write_json(report, args.json)
        print(f"JSON report: {args.json}", file=sys.stderr)
    if report["interrupted"]:
        return 130
    achieved = report["achieved"]
    failed = report["errors"] or achieved["missed"] or achieved["unfinished"]
    delivery = report["custom"].get("delivery", {})
    undelivered = delivery.get("failed", 0) or delivery.get("receivers_error")
    return 1 if failed or undelivered else 0
