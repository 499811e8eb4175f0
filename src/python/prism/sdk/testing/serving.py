"""Serve a plugin in-process for the duration of a test: ``async with running_plugin(p) as addr``.

Every plugin's test suite needs the same thing (start the real server on a free port, wait
until it serves, tear it down cleanly), so it lives here rather than in each plugin's tests.
It runs the same :func:`prism.sdk.plugin.serve_plugin` that ``run_plugin`` runs in production.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from prism.sdk.plugin import Plugin, serve_plugin

_LISTENING = " listening on "


class _ListeningLine(io.StringIO):
    """Captures the "listening on HOST:PORT" line that serve_plugin prints."""

    def __init__(self) -> None:
        super().__init__()
        self.address: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def write(self, text: str) -> int:
        if _LISTENING in text and not self.address.done():
            self.address.set_result(text.split(_LISTENING, 1)[1].strip())
        return super().write(text)


@asynccontextmanager
async def running_plugin(plugin: Plugin[Any], *, start_timeout: float = 30.0) -> AsyncIterator[str]:
    """Serve ``plugin`` (initialized and started) on its settings' host/port; yields host:port."""
    shutdown = asyncio.Event()
    line = _ListeningLine()
    task = asyncio.ensure_future(
        serve_plugin(plugin, shutdown=shutdown, handle_signals=False, out=line)
    )
    try:
        waiters: set[asyncio.Future[Any]] = {task, line.address}
        done, _ = await asyncio.wait(
            waiters, timeout=start_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if line.address not in done:
            raise RuntimeError(
                f"plugin {plugin.name} did not start serving within {start_timeout}s"
                + (f" (exit code {task.result()})" if task.done() else "")
            )
        yield line.address.result()
    finally:
        shutdown.set()
        await task
