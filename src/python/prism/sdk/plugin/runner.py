"""run_plugin: the one-line ``main`` of every plugin process.

It does everything between "the process starts" and "exit code": settings from the
environment (a ConfigError prints every problem and exits 2 so orchestrators show the
operator what to fix), logging, the server with health/reflection/lifecycle, auto
initialize+start (or waiting for the proxy with ``--managed``), the ``listening`` line that
launchers wait for, and a graceful SIGTERM/SIGINT shutdown (drain within drain_timeout, stop).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from prism.sdk.config import ConfigError, load_settings, settings_summary
from prism.sdk.plugin.base import Plugin
from prism.sdk.plugin.gate import PluginStateInterceptor
from prism.sdk.plugin.lifecycle import LifecycleServicer
from prism.sdk.plugin.runtime import DrainAware, PluginRuntime
from prism.sdk.server import AccessLog, PluginServer, configure_logging

_log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
# After the drain, calls still open (e.g. streams) get this long before being cancelled.
FINAL_GRACE_SECONDS = 1.0


def parse_args(plugin_cls: type[Plugin[Any]], argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"prism-plugin-{plugin_cls.name}",
        description=f"Prism {plugin_cls.name} plugin {plugin_cls.version}",
    )
    parser.add_argument("--host", help="address to bind (overrides the host setting)")
    parser.add_argument("--port", type=int, help="port to bind, 0 = any free port")
    parser.add_argument(
        "--managed",
        action="store_true",
        help="wait for Initialize/Start over LifecycleInterface instead of starting at once",
    )
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="log every call (default: failed and slow calls, and 1 in access_log_every others)",
    )
    return parser.parse_args(argv)


def run_plugin(plugin_cls: type[Plugin[Any]], argv: Sequence[str] | None = None) -> int:
    """Run ``plugin_cls`` as a process until SIGTERM/SIGINT or a Stop RPC; returns the exit code.

    Usage: ``raise SystemExit(run_plugin(MyPlugin))``.
    """
    args = parse_args(plugin_cls, argv)
    overrides: dict[str, object] = {}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    if args.access_log:
        overrides["access_log_every"] = 1
    try:
        settings = load_settings(plugin_cls.settings_class, overrides=overrides)
    except ConfigError as exc:
        print(f"prism-plugin {plugin_cls.name}: invalid configuration\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings.log_level, settings.log_format)
    _log.info(
        "starting plugin %s %s",
        plugin_cls.name,
        plugin_cls.version,
        extra={"prism": {"settings": settings_summary(settings)}},
    )
    plugin = plugin_cls(settings)
    return asyncio.run(serve_plugin(plugin, managed=args.managed, base_overrides=overrides))


async def serve_plugin(
    plugin: Plugin[Any],
    *,
    managed: bool = False,
    base_overrides: Mapping[str, object] | None = None,
    shutdown: asyncio.Event | None = None,
    handle_signals: bool = True,
    out: TextIO | None = None,
) -> int:
    """Serve ``plugin`` until ``shutdown`` is set (or a signal / Stop RPC); returns the exit code.

    The in-process core of :func:`run_plugin`, usable from tests and embedders.
    """
    settings = plugin.settings
    shutdown = shutdown if shutdown is not None else asyncio.Event()
    runtime = PluginRuntime(plugin, base_overrides=base_overrides)
    contract = list(plugin.servicers())
    for binding in contract:
        if isinstance(binding.servicer, DrainAware):
            runtime.add_drain_hook(binding.servicer.on_drain_start)
    names = [b.name for b in contract]
    lifecycle = LifecycleServicer(runtime, names)
    access_log = AccessLog()

    def apply_access_log_settings() -> None:
        current = plugin.settings
        access_log.configure(
            every=current.access_log_every, slow_seconds=float(current.access_log_slow)
        )

    apply_access_log_settings()
    runtime.add_settings_listener(apply_access_log_settings)
    server = PluginServer(
        [*contract, lifecycle.binding()],
        host=settings.host,
        port=settings.port,
        health=plugin.health,
        metrics_port=settings.metrics_port,
        interceptors=[PluginStateInterceptor(runtime, names)],
        classifiers=plugin.classifiers(),
        access_log=access_log,
    )
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
    for sig in signals:
        loop.add_signal_handler(sig, _on_signal, sig, shutdown)
    try:
        await server.start()
        if not managed:
            await runtime.initialize()
            await runtime.start()
        stream = out if out is not None else sys.stdout
        print(f"prism-plugin {plugin.name} listening on {server.address}", file=stream)
        stream.flush()
        await _first_of(shutdown.wait(), runtime.stopped.wait())
        if not runtime.stopped.is_set():
            await runtime.drain(float(settings.drain_timeout))
            await runtime.stop()
        return EXIT_OK
    except Exception:
        _log.exception("plugin %s failed", plugin.name)
        with contextlib.suppress(Exception):
            await runtime.stop(0.0)
        return EXIT_FAILED
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        await server.stop(FINAL_GRACE_SECONDS)


def _on_signal(sig: signal.Signals, shutdown: asyncio.Event) -> None:
    _log.info("received %s: draining", sig.name)
    shutdown.set()


async def _first_of(*aws: Any) -> None:
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
