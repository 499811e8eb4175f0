"""``prism up``: run the gateway (proxy + the plugins its config names) in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

from prism.proxy import (
    PluginStartError,
    ProxyConfigError,
    default_config,
    load_config,
    run_proxy,
    with_plugin_settings,
)
from prism.proxy.tls import CredentialFileError

EXIT_FAILED = 1
EXIT_CONFIG = 2


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "up",
        help="run the gateway",
        description="Run the Prism proxy and the plugins its config names, until Ctrl-C. "
        "Without --config: namespace 'default' on MemStore (in-memory, no server needed).",
    )
    p.add_argument("-c", "--config", help="proxy config YAML (default: MemStore namespace)")
    p.add_argument("--host", help="address to listen on (default: config or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on, 0 = any (default: config or 8980)")
    p.add_argument(
        "--metrics-port",
        type=int,
        help="serve Prometheus /metrics on this port, 0 = any (default: config, else off)",
    )
    p.add_argument(
        "--log-level",
        default="INFO",
        help="the proxy's log level (a plugin's own: PRISM_<PLUGIN>_LOG_LEVEL)",
    )
    p.add_argument(
        "--access-log",
        action="store_true",
        help="plugins the proxy starts log every call (default: failed and slow calls, and "
        "1 in access_log_every others)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config = load_config(args.config) if args.config else default_config()
    except ProxyConfigError as exc:
        print(f"prism up: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.access_log:
        config = with_plugin_settings(config, {"access_log_every": "1"})
    try:
        return asyncio.run(
            run_proxy(config, host=args.host, port=args.port, metrics_port=args.metrics_port)
        )
    except CredentialFileError as exc:
        print(f"prism up: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except PluginStartError as exc:
        print(f"prism up: a plugin could not start: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"prism up: {exc}", file=sys.stderr)
        return EXIT_FAILED
