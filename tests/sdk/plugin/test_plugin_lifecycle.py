"""Plugin lifecycle over a real server: the gate, LifecycleInterface RPCs, health, drain."""

from __future__ import annotations

import asyncio
import logging

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from prism.interfaces import keyvalue_basic_pb2 as kv_pb
from prism.interfaces import keyvalue_basic_pb2_grpc as kv_grpc
from prism.interfaces import lifecycle_pb2 as lc_pb
from prism.interfaces import lifecycle_pb2_grpc as lc_grpc
from prism.interfaces import pubsub_basic_pb2 as ps_pb
from prism.interfaces import pubsub_basic_pb2_grpc as ps_grpc
from prism.sdk.plugin import PluginRuntime, PluginState
from prism.sdk.plugin.gate import service_of
from sdk.plugin.plugin_fakes import make_plugin, start_serving
from sdk.server.server_fakes import KV_SERVICE, PS_SERVICE

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def health_status(channel: grpc.aio.Channel, service: str = KV_SERVICE) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    resp = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return int(resp.status)


async def expect_code(coro: object, code: grpc.StatusCode) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await coro  # type: ignore[misc]
    assert info.value.code() == code, info.value.details()
    return info.value.details() or ""


async def test_managed_lifecycle_end_to_end() -> None:
    plugin = make_plugin()
    task, _, out = await start_serving(plugin, managed=True)
    assert out.text == f"prism-plugin fakekv listening on 127.0.0.1:{out.port}\n"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{out.port}") as channel:
        kv = kv_grpc.KeyValueBasicInterfaceStub(channel)
        lc = lc_grpc.LifecycleInterfaceStub(channel)
        get = kv_pb.GetRequest(key="k")

        # Before Initialize/Start: contract calls refused, health not serving.
        details = await expect_code(kv.Get(get, timeout=5), grpc.StatusCode.UNAVAILABLE)
        assert details == "plugin fakekv is not started"
        assert await health_status(channel) == NOT_SERVING
        await expect_code(
            lc.Start(lc_pb.StartRequest(), timeout=5), grpc.StatusCode.FAILED_PRECONDITION
        )

        init = await lc.Initialize(
            lc_pb.InitializeRequest(name="cache-a", config={"greeting": "hello"}), timeout=5
        )
        assert (init.plugin_name, init.version) == ("fakekv", "1.2.3")
        assert list(init.interfaces) == [KV_SERVICE, PS_SERVICE]
        assert plugin.settings.greeting == "hello"
        await expect_code(
            lc.Initialize(lc_pb.InitializeRequest(), timeout=5), grpc.StatusCode.FAILED_PRECONDITION
        )
        await expect_code(kv.Get(get, timeout=5), grpc.StatusCode.UNAVAILABLE)

        await lc.Start(lc_pb.StartRequest(), timeout=5)
        await lc.Start(lc_pb.StartRequest(), timeout=5)  # idempotent
        await kv.Set(kv_pb.SetRequest(key="k", value=b"v"), timeout=5)
        assert (await kv.Get(get, timeout=5)).value == b"v"
        assert await health_status(channel) == SERVING
        report = await lc.HealthCheck(lc_pb.HealthCheckRequest(), timeout=5)
        assert report.status == lc_pb.HEALTH_STATUS_HEALTHY
        assert report.details["backend"].status == lc_pb.HEALTH_STATUS_HEALTHY

        # Drain with one call stuck in flight: readiness off, remaining reported.
        plugin.kv.data["", "block"] = kv_pb.GetResponse(value=b"late")
        stuck = asyncio.ensure_future(kv.Get(kv_pb.GetRequest(key="block"), timeout=10))
        await asyncio.wait_for(plugin.kv.entered.wait(), 5)
        drained = await lc.Drain(lc_pb.DrainRequest(timeout_seconds=0.2), timeout=5)
        assert drained.remaining_requests == 1
        assert await health_status(channel) == NOT_SERVING
        await expect_code(kv.Get(get, timeout=5), grpc.StatusCode.UNAVAILABLE)
        plugin.kv.release.set()
        assert (await stuck).value == b"late"  # in-flight call still completes
        again = await lc.Drain(lc_pb.DrainRequest(), timeout=5)
        assert again.remaining_requests == 0

        # Start again after a drain, then Stop ends serve_plugin.
        await lc.Start(lc_pb.StartRequest(), timeout=5)
        assert (await kv.Get(get, timeout=5)).value == b"v"
        await lc.Stop(lc_pb.StopRequest(timeout_seconds=1), timeout=5)
    assert await asyncio.wait_for(task, 10) == 0
    assert plugin.calls == ["initialize", "start", "drain", "start", "drain", "stop"]


async def test_initialize_rejects_unknown_and_invalid_config() -> None:
    plugin = make_plugin()
    task, shutdown, out = await start_serving(plugin, managed=True)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{out.port}") as channel:
        lc = lc_grpc.LifecycleInterfaceStub(channel)
        details = await expect_code(
            lc.Initialize(lc_pb.InitializeRequest(config={"nope": "1"}), timeout=5),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert "nope" in details
        details = await expect_code(
            lc.Initialize(lc_pb.InitializeRequest(config={"limit": "many"}), timeout=5),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert "limit" in details.lower()
        assert plugin.calls == []
        await lc.Initialize(lc_pb.InitializeRequest(config={"limit": "5"}), timeout=5)
        assert plugin.settings.limit == 5
    shutdown.set()
    assert await asyncio.wait_for(task, 10) == 0
    assert plugin.calls == ["initialize", "stop"]


async def test_auto_mode_serves_then_drains_on_shutdown() -> None:
    plugin = make_plugin()
    task, shutdown, out = await start_serving(plugin, managed=False)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{out.port}") as channel:
        assert await health_status(channel) == SERVING
        assert await health_status(channel, "") == SERVING
        ps = ps_grpc.PubSubBasicInterfaceStub(channel)
        msgs = [m async for m in ps.Subscribe(ps_pb.SubscribeRequest(topic="t"), timeout=5)]
        assert len(msgs) == 3
        shutdown.set()
        assert await asyncio.wait_for(task, 10) == 0
    assert plugin.calls == ["initialize", "start", "drain", "stop"]


async def test_stream_refused_before_start() -> None:
    plugin = make_plugin()
    task, shutdown, out = await start_serving(plugin, managed=True)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{out.port}") as channel:
        ps = ps_grpc.PubSubBasicInterfaceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            async for _ in ps.Subscribe(ps_pb.SubscribeRequest(topic="t"), timeout=5):
                pass
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    shutdown.set()
    assert await asyncio.wait_for(task, 10) == 0


async def test_failed_initialize_exits_1() -> None:
    plugin = make_plugin()
    plugin.fail_initialize = True
    task, _, out = await start_serving(plugin, managed=False)
    assert await asyncio.wait_for(task, 10) == 1
    assert out.text == ""


async def test_runtime_state_rules() -> None:
    plugin = make_plugin()
    runtime = PluginRuntime(plugin)
    assert runtime.state is PluginState.CREATED
    assert await runtime.drain(1.0) == 0  # nothing to drain
    await runtime.initialize()
    await runtime.start()
    assert runtime.serving and plugin.health.is_ready()
    with runtime.track():
        assert runtime.in_flight == 1
    await runtime.stop(0.5)  # drains first
    assert runtime.stopped.is_set()
    assert runtime.state.value == PluginState.STOPPED.value
    await runtime.stop()  # idempotent
    assert plugin.calls == ["initialize", "start", "drain", "stop"]
    assert not plugin.health.is_ready()


def test_service_of() -> None:
    assert service_of("/prism.KeyValueBasicInterface/Get") == "prism.KeyValueBasicInterface"


async def test_initialize_override_changes_the_access_log_policy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="prism.access")
    plugin = make_plugin()
    task, shutdown, out = await start_serving(plugin, managed=True)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{out.port}") as channel:
            kv = kv_grpc.KeyValueBasicInterfaceStub(channel)
            lc = lc_grpc.LifecycleInterfaceStub(channel)
            # A proxy config's `settings: {access_log_every: 1}` arrives this way.
            await lc.Initialize(
                lc_pb.InitializeRequest(config={"access_log_every": "1"}), timeout=5
            )
            await lc.Start(lc_pb.StartRequest(), timeout=5)
            caplog.clear()
            for _ in range(3):
                await kv.Set(kv_pb.SetRequest(key="k", value=b"v"), timeout=5)
    finally:
        shutdown.set()
        await asyncio.wait_for(task, 30)
    methods = [r.prism["method"] for r in caplog.records if r.name == "prism.access"]  # type: ignore[attr-defined]
    assert methods == ["/prism.KeyValueBasicInterface/Set"] * 3
