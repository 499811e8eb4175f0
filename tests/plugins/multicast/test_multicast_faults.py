"""Redis killed (SIGKILL, AOF on) under the multicast registry: calls fail fast with
UNAVAILABLE, health turns UNHEALTHY, the plugin recovers by itself, and acknowledged
registrations survive."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import grpc
import pytest

from plugins.multicast.conftest import HEALTH_INTERVAL, UNHEALTHY_WITHIN, settings
from prism.interfaces import lifecycle_pb2, lifecycle_pb2_grpc
from prism.interfaces import multicast_registry_pb2 as pb
from prism.plugins.multicast import MulticastPlugin
from prism.sdk.testing import running_plugin
from prism.sdk.testing._registry_client import RegistryClient, make_filter
from services.servers import RedisServer, redis_server

NS = "faults"
HEALTHY = lifecycle_pb2.HEALTH_STATUS_HEALTHY
UNHEALTHY = lifecycle_pb2.HEALTH_STATUS_UNHEALTHY
DOWN = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
EVERYONE = make_filter(("run", pb.FILTER_OP_EXISTS, []))


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    with redis_server(aof=True) as server:
        yield server


async def _serve(own_redis: RedisServer, registry: str) -> AsyncIterator[grpc.aio.Channel]:
    plugin = MulticastPlugin(
        settings(
            registry=registry,
            messaging="redis",
            redis_addr=own_redis.addr,
            breaker_open_seconds=0.5,
            health_interval=HEALTH_INTERVAL,
        )
    )
    async with running_plugin(plugin) as address:
        async with grpc.aio.insecure_channel(address) as channel:
            yield channel


@pytest.fixture
async def redis_channel(own_redis: RedisServer) -> AsyncIterator[grpc.aio.Channel]:
    async for channel in _serve(own_redis, "redis"):
        yield channel


@pytest.fixture
async def memstore_channel(own_redis: RedisServer) -> AsyncIterator[grpc.aio.Channel]:
    async for channel in _serve(own_redis, "memstore"):
        yield channel


def _kill(server: RedisServer) -> None:
    assert server.dir is not None
    os.kill(int((server.dir / "redis.pid").read_text().strip()), signal.SIGKILL)
    server.running = False


async def _health(channel: grpc.aio.Channel) -> int:
    stub = lifecycle_pb2_grpc.LifecycleInterfaceStub(channel)
    reply = await stub.HealthCheck(lifecycle_pb2.HealthCheckRequest(), timeout=5)
    return int(reply.status)


async def _eventually(check: Callable[[], Awaitable[bool]], within: float) -> None:
    start = time.monotonic()
    while not await check():
        assert time.monotonic() - start < within, f"not reached within {within}s"
        await asyncio.sleep(0.05)


async def _fails_down(call: Awaitable[Any]) -> None:
    """The call fails with UNAVAILABLE (or its deadline) — never hangs past its 10 s deadline."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() in DOWN, info.value


async def _registers(reg: RegistryClient) -> bool:
    try:
        await reg.register("probe", {"probe": "1"})
    except grpc.aio.AioRpcError:
        return False
    return True


async def _status_is(channel: grpc.aio.Channel, status: int) -> bool:
    return await _health(channel) == status


async def test_redis_killed_and_restarted(
    own_redis: RedisServer, redis_channel: grpc.aio.Channel
) -> None:
    async with RegistryClient(redis_channel, NS, 10, 10) as reg:
        acked = [f"id-{i}" for i in range(50)]
        for who in acked:
            await reg.register(who, {"run": "1"})
        assert await _health(redis_channel) == HEALTHY

        _kill(own_redis)
        started = time.monotonic()
        await _fails_down(reg.register_call("during", {"run": "1"}))
        await _fails_down(reg.multicast_call(EVERYONE, b"x"))
        await _fails_down(_drain(reg.enumerate_call(EVERYONE)))
        print(f"\nthree calls failed in {time.monotonic() - started:.2f}s while Redis was down")
        await _eventually(lambda: _status_is(redis_channel, UNHEALTHY), within=UNHEALTHY_WITHIN)

        await asyncio.to_thread(own_redis.start)
        await _eventually(lambda: _registers(reg), within=10)
        await _eventually(lambda: _status_is(redis_channel, HEALTHY), within=10)
        found = await reg.enumerate(EVERYONE)
        assert set(acked) <= set(found), "acknowledged registrations survived the SIGKILL"
        stream = await reg.receive("id-0")
        reply = await reg.multicast(make_filter(("run", pb.FILTER_OP_EQ, ["1"])), b"back")
        assert (reply.targeted, reply.delivered) == (50, 1)
        assert (await stream.receive(10)).payload == b"back"


async def test_messaging_down_is_unavailable(
    own_redis: RedisServer, memstore_channel: grpc.aio.Channel
) -> None:
    """MemStore registry, Redis messaging: a Multicast with every delivery failing is
    UNAVAILABLE (not a reply full of "failed"), while the registry keeps working."""
    async with RegistryClient(memstore_channel, NS, 10, 10) as reg:
        await reg.register("a", {"run": "1"})
        await reg.register("b", {"run": "1"})
        _kill(own_redis)
        await _fails_down(reg.multicast_call(EVERYONE, b"x"))
        await _eventually(lambda: _status_is(memstore_channel, UNHEALTHY), within=UNHEALTHY_WITHIN)
        assert set(await reg.enumerate(EVERYONE)) == {"a", "b"}
        await asyncio.to_thread(own_redis.start)

        async def multicasts() -> bool:
            try:
                return (await reg.multicast(EVERYONE, b"x")).targeted == 2
            except grpc.aio.AioRpcError:
                return False

        await _eventually(multicasts, within=10)


async def _drain(call: Any) -> None:
    async for _ in call:
        pass
