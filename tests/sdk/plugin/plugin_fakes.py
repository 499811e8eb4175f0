"""Tiny in-test plugins (dict-backed KeyValueBasic + a stream; in-memory pub/sub) and helpers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

from prism.sdk.config import PluginSettings, SettingsConfigDict, load_settings
from prism.sdk.errors import Classifier
from prism.sdk.patterns import pubsub_binding
from prism.sdk.plugin import Plugin, ServiceBinding, serve_plugin
from sdk.patterns.pubsub_fakes import MemBroker
from sdk.server.server_fakes import DictKV, Streamer, kv_binding, ps_binding


class FakeSettings(PluginSettings):
    model_config = SettingsConfigDict(env_prefix="PRISM_FAKEKV_", extra="forbid")
    greeting: str = "hi"
    limit: int = 10


class FakeKV(Plugin[FakeSettings]):
    name = "fakekv"
    version = "1.2.3"
    settings_class = FakeSettings

    def __init__(self, settings: FakeSettings) -> None:
        super().__init__(settings)
        self.kv = DictKV()
        self.calls: list[str] = []
        self.fail_initialize = False

    def servicers(self) -> Sequence[ServiceBinding]:
        return [kv_binding(self.kv), ps_binding(Streamer())]

    def classifiers(self) -> Sequence[Classifier]:
        return ()

    async def initialize(self) -> None:
        self.calls.append("initialize")
        if self.fail_initialize:
            raise ConnectionError("backend unreachable")
        self.health.register("backend", self._check)

    async def _check(self) -> None:
        return None

    async def start(self) -> None:
        self.calls.append("start")

    async def drain(self) -> None:
        self.calls.append("drain")

    async def stop(self) -> None:
        self.calls.append("stop")


class PubSubSettings(PluginSettings):
    model_config = SettingsConfigDict(env_prefix="PRISM_DRAINTEST_", extra="forbid")


class PubSubPlugin(Plugin[PubSubSettings]):
    """Serves PubSubBasic from an in-memory broker through the SDK's PubSubServicer."""

    name = "draintest"
    settings_class = PubSubSettings

    def __init__(self, settings: PubSubSettings) -> None:
        super().__init__(settings)
        self.broker = MemBroker()
        self.calls: list[str] = []

    def servicers(self) -> Sequence[ServiceBinding]:
        return [pubsub_binding(lambda: self.broker)]

    async def on_drain_start(self) -> None:
        self.calls.append("on_drain_start")

    async def drain(self) -> None:
        self.calls.append("drain")


def make_pubsub_plugin(drain_timeout: float) -> PubSubPlugin:
    overrides = {"drain_timeout": drain_timeout}
    return PubSubPlugin(load_settings(PubSubSettings, overrides=overrides, environ={}))


def make_plugin(**overrides: Any) -> FakeKV:
    return FakeKV(load_settings(FakeSettings, overrides=overrides, environ={}))


class LineWatcher:
    """A text stream that remembers what was written and signals the first line."""

    def __init__(self) -> None:
        self.text = ""
        self.line = asyncio.Event()

    def write(self, s: str) -> int:
        self.text += s
        if "\n" in self.text:
            self.line.set()
        return len(s)

    def flush(self) -> None:
        pass

    @property
    def port(self) -> int:
        return int(self.text.strip().rsplit(":", 1)[1])


async def start_serving(
    plugin: Plugin[Any], *, managed: bool
) -> tuple[asyncio.Task[int], asyncio.Event, LineWatcher]:
    shutdown = asyncio.Event()
    out = LineWatcher()
    task = asyncio.ensure_future(
        serve_plugin(plugin, managed=managed, shutdown=shutdown, handle_signals=False, out=out)  # type: ignore[arg-type]
    )
    waiter = asyncio.ensure_future(out.line.wait())
    await asyncio.wait([task, waiter], timeout=10, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    return task, shutdown, out


def child_env(**extra: str) -> dict[str, str]:
    """This test's import path, minus any PRISM_ settings of the outer run, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRISM_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    env.update(extra)
    return env


async def spawn_python(*args: str, **env: str) -> asyncio.subprocess.Process:
    """``python ARGS`` in a child process (stdout and stderr piped; env from :func:`child_env`)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=child_env(**env),
    )


@contextlib.asynccontextmanager
async def plugin_process(*args: str, **env: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """:func:`spawn_python`, killed on the way out if the test left it running."""
    proc = await spawn_python(*args, **env)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def first_line(proc: asyncio.subprocess.Process) -> str:
    """The child's first stdout line (the "listening on" line of a plugin that started)."""
    assert proc.stdout is not None and proc.stderr is not None
    return (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()


async def stderr_text(proc: asyncio.subprocess.Process) -> str:
    """All the child wrote to stderr (read after it exited)."""
    assert proc.stderr is not None
    return (await proc.stderr.read()).decode()
