"""Supervisors: keep each upstream's channel and state in step with its plugin.

``ManagedSupervisor`` owns a plugin process: start it with ``--managed --port 0``, read the
address from its "listening on" line, Initialize (with the configured settings) and Start it
over LifecycleInterface, then watch it — process exit marks the upstream DOWN at once (calls
fail fast with UNAVAILABLE rather than time out), grpc.health.v1 is polled for
SERVING/NOT_SERVING — and restart it with exponential backoff after a crash. On shutdown it
sends Drain then Stop, then SIGTERM (SIGKILL if it will not exit).

``EndpointSupervisor`` is the same view of a plugin someone else runs: connect and poll health.

A plugin that cannot start because of its configuration (exit code 2, or Initialize answering
INVALID_ARGUMENT) fails the proxy's startup with the plugin's own message instead of being
restarted forever; any other failure is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from prism.interfaces import lifecycle_pb2, lifecycle_pb2_grpc
from prism.proxy.config import InstanceSpec, SupervisionConfig
from prism.proxy.process import PluginProcess
from prism.proxy.upstream import Upstream, UpstreamState
from prism.sdk.plugin import CONTRACT_VERSION

_log = logging.getLogger(__name__)

EXIT_CONFIG = 2  # run_plugin's exit code for invalid settings
_FATAL_CODES = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION})
HEALTH_FAILURES_BEFORE_RESTART = 3


class PluginStartError(Exception):
    """A plugin cannot start with this configuration; restarting would not help."""


def _rpc_text(exc: grpc.aio.AioRpcError) -> str:
    return f"{exc.code().name}: {exc.details()}"


class Supervisor:
    """Common interface: ``start`` (first attempt done when it returns) and ``stop``."""

    def __init__(self, spec: InstanceSpec, upstream: Upstream, cfg: SupervisionConfig) -> None:
        self.spec = spec
        self.upstream = upstream
        self.cfg = cfg
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    def _set(self, state: UpstreamState, reason: str = "") -> None:
        if not self._stopping.is_set():
            self.upstream.set_state(state, reason)

    async def _check_health(self, stub: health_pb2_grpc.HealthStub) -> bool:
        """One grpc.health.v1 probe; updates the upstream state; False if the RPC failed."""
        try:
            reply = await stub.Check(
                health_pb2.HealthCheckRequest(service=""), timeout=self.cfg.health_timeout
            )
        except grpc.aio.AioRpcError as exc:
            self._set(UpstreamState.NOT_SERVING, f"health check failed: {_rpc_text(exc)}")
            return False
        if reply.status == health_pb2.HealthCheckResponse.SERVING:
            self._set(UpstreamState.SERVING, "serving")
        else:
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            self._set(UpstreamState.NOT_SERVING, f"plugin health is {status}")
        return True


class ManagedSupervisor(Supervisor):
    """Runs, watches and restarts one plugin process."""

    def __init__(
        self,
        spec: InstanceSpec,
        upstream: Upstream,
        cfg: SupervisionConfig,
        *,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(spec, upstream, cfg)
        assert spec.module is not None
        self.module: str = spec.module
        self.host = host
        self.process: PluginProcess | None = None
        self.restarts = 0
        self._task: asyncio.Task[None] | None = None
        self._first: asyncio.Future[None] | None = None

    @property
    def pid(self) -> int | None:
        """The current plugin process id (None while it is not running)."""
        proc = self.process
        return proc.pid if proc is not None and proc.returncode is None else None

    async def start(self) -> None:
        """Launch the plugin; returns after the first attempt (raises PluginStartError)."""
        self._first = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(), name=f"supervise-{self.spec.name}")
        await asyncio.shield(self._first)

    def _first_done(self, exc: BaseException | None = None) -> None:
        if self._first is not None and not self._first.done():
            if exc is None:
                self._first.set_result(None)
            else:
                self._first.set_exception(exc)

    async def _run(self) -> None:
        backoff = self.cfg.restart_initial_backoff
        while not self._stopping.is_set():
            served_since: float | None = None
            try:
                await self._launch()
                served_since = time.monotonic()
                self._first_done()
                reason = await self._watch()
            except PluginStartError as exc:
                if self._first is not None and not self._first.done():
                    self._set(UpstreamState.DOWN, str(exc))
                    self._first_done(exc)
                    await self._cleanup()
                    return
                reason = str(exc)
            except Exception as exc:  # any other launch failure: log, back off, retry
                reason = _rpc_text(exc) if isinstance(exc, grpc.aio.AioRpcError) else str(exc)
                reason = reason or type(exc).__name__
                _log.warning("plugin %s (%s): %s", self.spec.name, self.spec.label, reason)
                self._first_done()
            self._set(UpstreamState.DOWN, reason)
            await self._cleanup()
            if self._stopping.is_set():
                return
            if served_since is not None and (
                time.monotonic() - served_since >= self.cfg.restart_reset_after
            ):
                backoff = self.cfg.restart_initial_backoff
            self._set(UpstreamState.DOWN, f"{reason}; restarting in {backoff:.2g}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff)
            backoff = min(backoff * 2, self.cfg.restart_max_backoff)
            self.restarts += 1

    async def _launch(self) -> None:
        spec = self.spec
        self._set(UpstreamState.STARTING, "plugin is starting")
        proc = await PluginProcess.spawn(self.module, spec.name, host=self.host, env=spec.env)
        self.process = proc
        try:
            address = await proc.wait_listening(self.cfg.start_timeout)
        except TimeoutError:
            raise RuntimeError(
                f"plugin {spec.label} printed no 'listening on' line within "
                f"{self.cfg.start_timeout:g}s"
            ) from None
        if address is None:
            code = await proc.wait()
            msg = (
                f"plugin {spec.label} (instance {spec.name}) exited with code {code} before "
                "listening (its own message is on stderr above)"
            )
            if code == EXIT_CONFIG:
                raise PluginStartError(msg)
            raise RuntimeError(msg)
        channel = self.upstream.connect(address)
        lifecycle = lifecycle_pb2_grpc.LifecycleInterfaceStub(channel)
        step = "Initialize"
        try:
            reply = await lifecycle.Initialize(
                lifecycle_pb2.InitializeRequest(name=spec.name, config=dict(spec.settings)),
                timeout=self.cfg.start_timeout,
            )
            if reply.contract_version != CONTRACT_VERSION:
                raise PluginStartError(
                    f"plugin {spec.label} (instance {spec.name}) speaks plugin contract version "
                    f"{reply.contract_version}, this gateway {CONTRACT_VERSION}: install a "
                    "plugin built against a compatible prism-sdk"
                )
            step = "Start"
            await lifecycle.Start(lifecycle_pb2.StartRequest(), timeout=self.cfg.start_timeout)
        except grpc.aio.AioRpcError as exc:
            msg = f"plugin {spec.label} (instance {spec.name}): {step} failed: {_rpc_text(exc)}"
            if exc.code() in _FATAL_CODES:
                raise PluginStartError(msg) from None
            raise RuntimeError(msg) from None
        self.upstream.interfaces = frozenset(reply.interfaces)
        self._set(UpstreamState.SERVING, f"pid {proc.pid}")

    async def _watch(self) -> str:
        """Until the process exits (or stops answering health checks); returns why."""
        proc, channel = self.process, self.upstream.channel
        assert proc is not None and channel is not None
        health = health_pb2_grpc.HealthStub(channel)
        exited = asyncio.create_task(proc.wait())
        failures = 0
        try:
            while True:
                done, _ = await asyncio.wait({exited}, timeout=self.cfg.health_interval)
                if done:
                    reason = f"plugin process {proc.pid} exited with code {exited.result()}"
                    self._set(UpstreamState.DOWN, reason)
                    return reason
                failures = 0 if await self._check_health(health) else failures + 1
                if failures >= HEALTH_FAILURES_BEFORE_RESTART:
                    return f"plugin process {proc.pid} failed {failures} health checks in a row"
        finally:
            exited.cancel()

    async def _cleanup(self) -> None:
        await self.upstream.disconnect()
        proc = self.process
        if proc is not None:
            await proc.terminate(self.cfg.stop_timeout)

    async def stop(self) -> None:
        """Drain -> Stop over LifecycleInterface, then SIGTERM (SIGKILL after stop_timeout)."""
        channel = self.upstream.channel
        serving = self.upstream.routable
        self.upstream.set_state(UpstreamState.STOPPED, "proxy is shutting down")
        self._stopping.set()
        if serving and channel is not None:
            lifecycle = lifecycle_pb2_grpc.LifecycleInterfaceStub(channel)
            try:
                await lifecycle.Drain(
                    lifecycle_pb2.DrainRequest(timeout_seconds=self.cfg.drain_timeout),
                    timeout=self.cfg.drain_timeout + 1.0,
                )
                await lifecycle.Stop(
                    lifecycle_pb2.StopRequest(timeout_seconds=self.cfg.stop_timeout),
                    timeout=self.cfg.stop_timeout + 1.0,
                )
                # Stopped: it exits by itself once its server has shut down; SIGTERM only
                # if it does not.
                proc = self.process
                if proc is not None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(proc.wait()), self.cfg.stop_timeout)
            except grpc.aio.AioRpcError as exc:
                _log.warning("plugin %s: graceful stop failed: %s", self.spec.name, _rpc_text(exc))
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._cleanup()


class EndpointSupervisor(Supervisor):
    """A plugin run by someone else at ``spec.endpoint``: connect and poll its health."""

    def __init__(self, spec: InstanceSpec, upstream: Upstream, cfg: SupervisionConfig) -> None:
        super().__init__(spec, upstream, cfg)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        assert self.spec.endpoint is not None
        channel = self.upstream.connect(self.spec.endpoint)
        stub = health_pb2_grpc.HealthStub(channel)
        await self._check_health(stub)
        self._task = asyncio.create_task(self._poll(stub), name=f"health-{self.spec.name}")

    async def _poll(self, stub: health_pb2_grpc.HealthStub) -> None:
        while True:
            await asyncio.sleep(self.cfg.health_interval)
            await self._check_health(stub)

    async def stop(self) -> None:
        self.upstream.set_state(UpstreamState.STOPPED, "proxy is shutting down")
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.upstream.disconnect()
