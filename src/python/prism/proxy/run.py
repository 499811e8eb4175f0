"""run_proxy: serve until SIGTERM/SIGINT, the body of ``prism up``."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import TextIO

from prism.proxy.config import ProxyConfig
from prism.proxy.server import ProxyServer

LISTENING_PREFIX = "prism proxy listening on "
METRICS_PREFIX = "prism proxy metrics on "


async def run_proxy(
    config: ProxyConfig,
    *,
    host: str | None = None,
    port: int | None = None,
    out: TextIO | None = None,
    shutdown: asyncio.Event | None = None,
    metrics_port: int | None = None,
) -> int:
    """Start the proxy, print ``prism proxy listening on host:port``, serve until a signal."""
    out = out if out is not None else sys.stdout
    shutdown = shutdown if shutdown is not None else asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, shutdown.set)
    proxy = ProxyServer(config, host=host, port=port, metrics_port=metrics_port)
    try:
        await proxy.start()
        print(f"{LISTENING_PREFIX}{proxy.address}", file=out)
        if proxy.metrics_url is not None:
            print(f"{METRICS_PREFIX}{proxy.metrics_url}", file=out)
        for ns, where in proxy.route_table().items():
            print(f"  namespace {ns} -> {where}", file=out)
        out.flush()
        await shutdown.wait()
        print("prism proxy: shutting down", file=out, flush=True)
        return 0
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        await proxy.stop()
