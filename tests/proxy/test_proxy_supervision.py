"""Supervision of real MemStore plugin processes: crash -> fail fast -> restart -> healthy."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from prism.interfaces import keyvalue_basic_pb2 as kv
from prism.interfaces import keyvalue_basic_pb2_grpc as kv_grpc
from prism.proxy import PluginStartError, ProxyServer, parse_config
from prism.proxy.supervisor import ManagedSupervisor

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _config(**settings: Any) -> Any:
    ns: dict[str, Any] = {"plugin": "memstore"}
    if settings:
        ns["settings"] = settings
    return parse_config(
        {
            "port": 0,
            "namespaces": {"default": ns},
            "supervision": {"restart_initial_backoff": "50ms", "health_interval": "0.5s"},
        }
    )


async def test_killed_plugin_is_unavailable_at_once_then_restarted() -> None:
    proxy = ProxyServer(_config())
    await proxy.start()
    sup = proxy.supervisors["default"]
    assert isinstance(sup, ManagedSupervisor)
    channel = grpc.aio.insecure_channel(proxy.address)
    statuses: list[int] = []
    watch = health_pb2_grpc.HealthStub(channel).Watch(
        health_pb2.HealthCheckRequest(service="default")
    )

    async def follow() -> None:
        async for reply in watch:
            statuses.append(reply.status)
            if NOT_SERVING in statuses and reply.status == SERVING:
                return

    follower = asyncio.create_task(follow())
    try:
        stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
        await stub.Set(kv.SetRequest(namespace="default", key="k", value=b"v"))
        old_pid = sup.pid
        assert old_pid is not None
        os.kill(old_pid, signal.SIGKILL)
        killed = time.monotonic()
        while True:
            try:
                await stub.Get(kv.GetRequest(namespace="default", key="k"), timeout=10)
            except grpc.aio.AioRpcError as exc:
                assert exc.code() is grpc.StatusCode.UNAVAILABLE
                break
            await asyncio.sleep(0.005)
        assert time.monotonic() - killed < 1.0
        await asyncio.wait_for(follower, 60)
        assert statuses[0] == SERVING and NOT_SERVING in statuses and statuses[-1] == SERVING
        assert sup.pid is not None and sup.pid != old_pid and sup.restarts >= 1
        # A new process: MemStore's data went with the old one, but it serves again.
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Get(kv.GetRequest(namespace="default", key="k"), timeout=10)
        assert info.value.code() is grpc.StatusCode.NOT_FOUND
        assert (await stub.Set(kv.SetRequest(namespace="default", key="k", value=b"2"))).created
    finally:
        follower.cancel()
        await channel.close()
        await proxy.stop()
    assert sup.process is not None and sup.process.returncode is not None


async def test_graceful_stop_drains_and_exits_cleanly() -> None:
    proxy = ProxyServer(_config())
    await proxy.start()
    sup = proxy.supervisors["default"]
    assert isinstance(sup, ManagedSupervisor)
    await proxy.stop()
    assert sup.process is not None and sup.process.returncode == 0
    assert sup.pid is None


async def test_a_plugin_of_another_contract_version_is_refused_at_initialize() -> None:
    config = parse_config(
        {"port": 0, "namespaces": {"default": {"module": "proxy.contract_v999_plugin"}}}
    )
    proxy = ProxyServer(config)
    with pytest.raises(PluginStartError) as info:
        await proxy.start()
    assert "speaks plugin contract version 999, this gateway 1" in str(info.value)
    sup = proxy.supervisors["default"]
    assert isinstance(sup, ManagedSupervisor) and sup.pid is None


async def test_invalid_plugin_settings_fail_startup_with_the_plugins_message() -> None:
    proxy = ProxyServer(_config(no_such_setting=1))
    with pytest.raises(PluginStartError) as info:
        await proxy.start()
    assert "no_such_setting" in str(info.value) and "Initialize" in str(info.value)
    sup = proxy.supervisors["default"]
    assert isinstance(sup, ManagedSupervisor) and sup.pid is None
