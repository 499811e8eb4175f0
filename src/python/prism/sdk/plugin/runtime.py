"""PluginRuntime: the lifecycle state machine shared by run_plugin and LifecycleInterface.

Auto mode (``run_plugin``) and managed mode (the proxy calling Initialize/Start/Drain/Stop)
must behave identically, so both drive this one object. It owns the plugin's state, readiness
(which drives grpc.health.v1), the in-flight request count that Drain waits on, and the
drain hooks that end long-lived calls (subscription streams) when Drain begins: such calls
never finish by themselves, so without the hooks every shutdown with a live subscriber would
wait the whole drain timeout.

It is also the one place a plugin is built: Initialize applies the overrides, then runs the
plugin's initialize() once (which assigns its ``Built`` attributes from the final settings),
then registers, starts and later closes every built ``Resource``.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Protocol, runtime_checkable

from prism.sdk.backend import Resource
from prism.sdk.config import ConfigError, load_settings
from prism.sdk.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    PermanentError,
    PrismError,
    classify,
    error_for_status,
)
from prism.sdk.plugin.base import Plugin
from prism.sdk.plugin.built import built_objects, forget_built, unbuilt

_log = logging.getLogger(__name__)


class PluginState(enum.Enum):
    CREATED = "created"
    INITIALIZED = "initialized"
    SERVING = "serving"
    DRAINING = "draining"
    DRAINED = "drained"
    STOPPED = "stopped"


DrainHook = Callable[[], Awaitable[None] | None]
"""Called (and awaited if it returns an awaitable) when Drain begins; see ``add_drain_hook``."""


@runtime_checkable
class DrainAware(Protocol):
    """A servicer with long-lived calls: ``serve_plugin`` registers its hook automatically."""

    def on_drain_start(self) -> Awaitable[None] | None:
        """End long-lived calls (e.g. subscription streams) so Drain need not wait them out."""
        ...


class PluginRuntime:
    """Drives a plugin through Initialize -> Start -> Drain -> Stop.

    Transitions are serialised by a lock so concurrent lifecycle calls (a SIGTERM during a
    Drain RPC) cannot interleave hooks. Wrong-state calls raise FailedPreconditionError.
    """

    def __init__(
        self, plugin: Plugin[Any], *, base_overrides: Mapping[str, object] | None = None
    ) -> None:
        self.plugin = plugin
        self.instance_name = plugin.name
        self._base_overrides = dict(base_overrides or {})
        self._state = PluginState.CREATED
        self._lock = asyncio.Lock()
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._drain_hooks: list[DrainHook] = [plugin.on_drain_start]
        self._settings_listeners: list[Callable[[], None]] = []
        self._resources: list[Resource] = []  # started by _build, closed by stop
        self.stopped = asyncio.Event()

    @property
    def state(self) -> PluginState:
        return self._state

    @property
    def serving(self) -> bool:
        """Whether contract calls are accepted."""
        return self._state is PluginState.SERVING

    @property
    def in_flight(self) -> int:
        """Contract calls currently running."""
        return self._in_flight

    def add_drain_hook(self, hook: DrainHook) -> None:
        """Run ``hook`` each time Drain begins (after new calls are refused, before waiting).

        For calls that would otherwise never finish, like Subscribe streams: the hook ends
        them, and Drain then waits only for them to wind down. The plugin's own
        ``on_drain_start`` is always the first hook. A hook that raises is logged and skipped.
        """
        self._drain_hooks.append(hook)

    def add_settings_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after Initialize re-loaded the plugin's settings with overrides.

        For what was built from the settings before Initialize (e.g. the server's access log).
        """
        self._settings_listeners.append(listener)

    async def _run_drain_hooks(self) -> None:
        for hook in list(self._drain_hooks):
            try:
                result = hook()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                _log.exception("plugin %s: drain hook %r failed", self.instance_name, hook)

    @contextmanager
    def track(self) -> Iterator[None]:
        """Count one contract call as in flight for the duration of the block."""
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def initialize(
        self, overrides: Mapping[str, str] | None = None, instance_name: str = ""
    ) -> None:
        """Re-load settings with ``overrides`` (if any), then build the plugin (see _build)."""
        async with self._lock:
            if self._state is not PluginState.CREATED:
                raise FailedPreconditionError(
                    f"plugin {self.plugin.name} is already initialized ({self._state.value})"
                )
            if overrides:
                self.plugin.settings = self._reload(overrides)
                for listener in self._settings_listeners:
                    listener()
            if instance_name:
                self.instance_name = instance_name
            await self._build()
            self._state = PluginState.INITIALIZED
            _log.info("plugin %s initialized", self.instance_name)

    async def _build(self) -> None:
        """The plugin's initialize(), then its built Resources registered and started.

        On failure whatever was started is closed and the Built values are dropped, and the
        error names the plugin; its status is the classified one (INVALID_ARGUMENT and
        FAILED_PRECONDITION make the proxy give up, UNAVAILABLE makes it retry).
        """
        plugin = self.plugin
        try:
            await plugin.initialize()
            missing = unbuilt(plugin)
            if missing:
                raise FailedPreconditionError(f"initialize() did not build {', '.join(missing)}")
            for obj in built_objects(plugin):
                if isinstance(obj, Resource) and obj not in self._resources:
                    self._resources.append(obj)
                    obj.register_health(plugin.health)
                    await obj.start()
        except Exception as exc:
            await self._close_resources(0.0)
            forget_built(plugin)
            raise _build_error(plugin, exc) from exc

    async def _close_resources(self, timeout: float) -> None:
        while self._resources:
            resource = self._resources.pop()
            try:
                await resource.close(timeout)
            except Exception:
                _log.exception("plugin %s: closing %r failed", self.instance_name, resource)

    def _reload(self, overrides: Mapping[str, str]) -> Any:
        cls = self.plugin.settings_class
        unknown = sorted(set(overrides) - set(cls.model_fields))
        if unknown:
            raise InvalidArgumentError(
                f"unknown config field(s) for plugin {self.plugin.name}: {', '.join(unknown)}"
            )
        try:
            return load_settings(cls, overrides={**self._base_overrides, **overrides})
        except ConfigError as exc:
            raise InvalidArgumentError(str(exc)) from exc

    async def start(self) -> None:
        """Run the plugin's start(), start health checks, turn readiness on."""
        async with self._lock:
            if self._state is PluginState.SERVING:
                return
            if self._state not in (PluginState.INITIALIZED, PluginState.DRAINED):
                raise FailedPreconditionError(
                    f"plugin {self.plugin.name} cannot start: it is {self._state.value}"
                )
            await self.plugin.start()
            await self.plugin.health.start()
            self._state = PluginState.SERVING
            self.plugin.health.set_ready(True)
            _log.info("plugin %s serving", self.instance_name)

    async def drain(self, timeout: float | None = None) -> int:
        """Stop taking calls, wait up to ``timeout`` s for in-flight ones; returns how many remain.

        ``None`` or ``<= 0`` means the plugin's ``drain_timeout`` setting.
        """
        async with self._lock:
            if self._state is not PluginState.SERVING:
                return self._in_flight
            if timeout is None or timeout <= 0:
                timeout = float(self.plugin.settings.drain_timeout)
            self._state = PluginState.DRAINING
            self.plugin.health.set_ready(False)
            try:
                async with asyncio.timeout(timeout):
                    await self._run_drain_hooks()
                    await self._idle.wait()
            except TimeoutError:
                _log.warning(
                    "plugin %s: drain timed out after %.3gs with %d call(s) in flight",
                    self.instance_name,
                    timeout,
                    self._in_flight,
                )
            await self.plugin.drain()
            self._state = PluginState.DRAINED
            _log.info("plugin %s drained (%d remaining)", self.instance_name, self._in_flight)
            return self._in_flight

    async def stop(self, timeout: float | None = None) -> None:
        """Drain if still serving, then run the plugin's stop() and stop health checks."""
        if self._state is PluginState.SERVING:
            await self.drain(timeout)
        async with self._lock:
            if self._state is PluginState.STOPPED:
                return
            try:
                if self._state is not PluginState.CREATED:
                    await self.plugin.stop()
            finally:
                await self._close_resources(float(self.plugin.settings.drain_timeout))
                await self.plugin.health.stop()
                self.plugin.health.set_ready(False)
                self._state = PluginState.STOPPED
                self.stopped.set()
                _log.info("plugin %s stopped", self.instance_name)


@asynccontextmanager
async def started_plugin(plugin: Plugin[Any]) -> AsyncIterator[PluginRuntime]:
    """``plugin`` built and started in process (load tool, tests), stopped on the way out: the
    path a served plugin takes (build, Resources, health), minus the server."""
    runtime = PluginRuntime(plugin)
    await runtime.initialize()
    try:
        await runtime.start()
        yield runtime
    finally:
        await runtime.stop()


def _build_error(plugin: Plugin[Any], exc: Exception) -> PrismError:
    err = classify(exc, plugin.classifiers())
    detail = err.message
    if type(err) is PermanentError and err is not exc:  # not classified: say what it was
        detail = f"{type(exc).__name__}: {exc}"
    return error_for_status(err.grpc_status, f"plugin {plugin.name}: initialize failed: {detail}")
