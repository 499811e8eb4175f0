"""``prism`` entry point: the argparse tree and dispatch."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from prism.cli import client, new_plugin, serve, up

DEFAULT_ADDR = "127.0.0.1:8980"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prism", description="Prism data gateway: run it and talk to it."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up.add_parser(commands)
    serve.add_parser(commands)
    new_plugin.add_parser(commands)

    conn = argparse.ArgumentParser(add_help=False)
    conn.add_argument(
        "--addr",
        default=os.environ.get("PRISM_ADDR", DEFAULT_ADDR),
        help="gateway address (default: $PRISM_ADDR or %(default)s)",
    )
    conn.add_argument(
        "--timeout", type=float, default=5.0, help="seconds per call (default: %(default)s)"
    )
    conn.add_argument("--cacert", help="TLS: trust this CA (PEM) for the gateway's certificate")
    conn.add_argument(
        "--cert", dest="tls_cert", help="mutual TLS: client certificate (PEM), with --key"
    )
    conn.add_argument(
        "--key", dest="tls_key", help="mutual TLS: client private key (PEM), with --cert"
    )
    conn.add_argument(
        "--token",
        default=os.environ.get("PRISM_TOKEN") or None,
        help="bearer token sent as 'authorization: Bearer' (default: $PRISM_TOKEN)",
    )
    ns = argparse.ArgumentParser(add_help=False)
    ns.add_argument("-n", "--namespace", default="default", help="namespace (default: default)")
    client.add_parsers(commands, [conn, ns], [conn])
    return parser


def _restore_cwd() -> None:
    """Back to the caller's directory when the ``./prism`` launcher ran us from the repo root.

    ``pants run`` starts the program in the build root; the launcher records where the user
    was in PRISM_CWD so relative paths (``--config prism.yaml``) mean what they typed.
    """
    cwd = os.environ.pop("PRISM_CWD", None)
    if cwd and os.path.isdir(cwd):
        os.chdir(cwd)


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``prism``; exits with the command's status code."""
    _restore_cwd()
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        code = 130
    sys.stdout.flush()
    raise SystemExit(code)


if __name__ == "__main__":
    main()
