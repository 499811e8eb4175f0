"""The Redis plugin through `prism up`: every key-value call, at-least-once delivery, and the
failure behaviour docs/proxy.md promises when the plugin process dies.

One gateway routes ``cache`` (Redis) and ``mem`` (MemStore, to show another namespace is not
affected while the Redis plugin is down). The last test kills the Redis plugin process:
UNAVAILABLE within 1 s, health NOT_SERVING then SERVING, then calls succeed again (the data
lives in Redis, so it is still there after the restart).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import grpc
import pytest
from e2e.gateway_checks import (
    CALL_TIMEOUT,
    AtLeastOnceThroughGateway,
    KeyValueThroughGateway,
    plugin_pid,
    run_id,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc

from prism.interfaces import keyvalue_basic_pb2 as kv
from prism.interfaces import keyvalue_basic_pb2_grpc as kv_grpc
from proxy.gateway import Gateway
from services.servers import RedisServer

CONFIG = """\
namespaces:
  mem:
    plugin: memstore
  cache:
    plugin: redis
    settings:
      addr: "{redis}"
supervision:
  health_interval: 0.5s
  restart_initial_backoff: 100ms
"""
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
pytest_plugins = ["e2e.gateway_checks"]  # gateway, channel
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def gateway_config(redis_srv: RedisServer) -> str:
    return CONFIG.format(redis=redis_srv.addr)


@pytest.fixture
def namespace() -> str:
    return "cache"


class TestRedisKeyValueThroughGateway(KeyValueThroughGateway):
    pass


class TestRedisAtLeastOnceThroughGateway(AtLeastOnceThroughGateway):
    pass


async def test_killed_plugin_is_unavailable_then_restarted(
    gateway: Gateway, channel: grpc.aio.Channel, namespace: str
) -> None:
    """Runs last (it restarts the Redis plugin): SIGKILL -> UNAVAILABLE -> restart -> SERVING."""
    stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
    key = f"e2e/{run_id()}/survives"
    await stub.Set(kv.SetRequest(namespace=namespace, key=key, value=b"kept"), timeout=CALL_TIMEOUT)
    assert gateway.proc is not None
    old_pid = plugin_pid(gateway.proc.pid, "prism.plugins.redis")

    statuses: list[int] = []
    first_status = asyncio.Event()
    watch = health_pb2_grpc.HealthStub(channel).Watch(
        health_pb2.HealthCheckRequest(service=namespace)
    )

    async def follow() -> None:
        async for reply in watch:
            statuses.append(reply.status)
            first_status.set()
            if NOT_SERVING in statuses and reply.status == SERVING:
                return

    follower = asyncio.create_task(follow())
    try:
        await asyncio.wait_for(first_status.wait(), 30.0)
        assert statuses == [SERVING]
        os.kill(old_pid, signal.SIGKILL)
        killed = time.monotonic()
        while True:
            try:
                await stub.Get(kv.GetRequest(namespace=namespace, key=key), timeout=CALL_TIMEOUT)
            except grpc.aio.AioRpcError as exc:
                assert exc.code() is grpc.StatusCode.UNAVAILABLE, (
                    f"{exc}\n{gateway.log_text()[-5000:]}"
                )
                unavailable_after = time.monotonic() - killed
                break
            await asyncio.sleep(0.005)
        assert unavailable_after < 1.0
        # Other namespaces are not affected while the Redis plugin is down.
        mem = await stub.Set(kv.SetRequest(namespace="mem", key=key, value=b"m"))
        assert mem is not None
        await asyncio.wait_for(follower, 120.0)
        assert statuses[0] == SERVING and NOT_SERVING in statuses and statuses[-1] == SERVING
        new_pid = plugin_pid(gateway.proc.pid, "prism.plugins.redis")
        assert new_pid != old_pid
        got = await stub.Get(kv.GetRequest(namespace=namespace, key=key), timeout=CALL_TIMEOUT)
        assert got.value == b"kept"  # the data is in Redis, not in the plugin process
        await stub.Set(kv.SetRequest(namespace=namespace, key=key, value=b"again"))
        assert (await stub.Get(kv.GetRequest(namespace=namespace, key=key))).value == b"again"
    finally:
        follower.cancel()
