"""``prism serve PLUGIN``: run one plugin's server in this process (no proxy).

Runs the plugin found by name (``prism.sdk.plugin.discovery``: a plugin folder or an installed
plugin wheel), or any module given with a dot, as ``__main__``, exactly
like ``python -m``, so it behaves the same inside a PEX. Extra arguments go to the plugin
(``--port``, ``--host``, ``--managed``); settings come from its ``PRISM_<NAME>_*`` variables.
"""

from __future__ import annotations

import argparse
import importlib.util
import runpy
import sys
from typing import Any

from prism.sdk.plugin.discovery import plugin_modules


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "serve",
        help="run one plugin's gRPC server",
        description="Run one plugin (by name, or a module path) on its own.",
    )
    p.add_argument(
        "plugin", help="plugin name (a plugin folder or installed plugin wheel) or a Python module"
    )
    p.add_argument("plugin_args", nargs=argparse.REMAINDER, help="passed to the plugin")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if "." in args.plugin:
        module = args.plugin
    else:
        found_plugins = plugin_modules()
        if args.plugin not in found_plugins:
            known = ", ".join(found_plugins) or "none"
            print(
                f"prism serve: no plugin {args.plugin!r} (plugins found: {known})", file=sys.stderr
            )
            return 2
        module = found_plugins[args.plugin]
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
