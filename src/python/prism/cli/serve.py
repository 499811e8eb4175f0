"""``prism serve PLUGIN``: run one plugin's server in this process (no proxy).

Runs ``prism.plugins.<PLUGIN>`` (or any module given with a dot) as ``__main__``, exactly
like ``python -m``, so it behaves the same inside a PEX. Extra arguments go to the plugin
(``--port``, ``--host``, ``--managed``); settings come from its ``PRISM_<NAME>_*`` variables.
"""

from __future__ import annotations

import argparse
import importlib.util
import runpy
import sys
from typing import Any


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "serve",
        help="run one plugin's gRPC server",
        description="Run one plugin (memstore, redis, kafka, or a module path) on its own.",
    )
    p.add_argument("plugin", help="plugin name (memstore, redis, kafka) or a Python module")
    p.add_argument("plugin_args", nargs=argparse.REMAINDER, help="passed to the plugin")
    p.set_defaults(func=run)


def module_for(plugin: str) -> str:
    return plugin if "." in plugin else f"prism.plugins.{plugin}"


def run(args: argparse.Namespace) -> int:
    module = module_for(args.plugin)
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        print(
            f"prism serve: no plugin {args.plugin!r} (module {module} not found)", file=sys.stderr
        )
        return 2
    sys.argv = [f"prism serve {args.plugin}", *args.plugin_args]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0
