"""NATS killed under the multicast registry (Redis registry + NATS messaging): Multicast fails
fast with UNAVAILABLE while Register keeps working, health turns UNHEALTHY, and after NATS
returns the plugin recovers by itself (nats-py reconnects and re-subscribes)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import grpc
import pytest

from plugins.multicast.conftest import HEALTH_INTERVAL, UNHEALTHY_WITHIN, settings
from prism.interfaces import lifecycle_pb2, lifecycle_pb2_grpc
from prism.interfaces import multicast_registry_pb2 as pb
from prism.plugins.multicast import MulticastPlugin
from prism.sdk.testing import running_plugin
from prism.sdk.testing._registry_client import RegistryClient, make_filter
from services.nats_servers import NatsServer, nats_server
from services.servers import RedisServer

NS = "nats-faults"
HEALTHY = lifecycle_pb2.HEALTH_STATUS_HEALTHY
UNHEALTHY = lifecycle_pb2.HEALTH_STATUS_UNHEALTHY


@pytest.fixture
def own_nats() -> Iterator[NatsServer]:
    with nats_server() as server:
        yield server


@pytest.fixture
async def channel(redis_srv: RedisServer, own_nats: NatsServer) -> AsyncIterator[grpc.aio.Channel]:
    plugin = MulticastPlugin(
        settings(
            registry="redis",
            messaging="nats",
            redis_addr=redis_srv.addr,
            nats_servers=own_nats.url,
            breaker_open_seconds=0.5,
            health_interval=HEALTH_INTERVAL,
        )
    )
    async with running_plugin(plugin) as address:
        async with grpc.aio.insecure_channel(address) as ch:
            yield ch


async def _health(channel: grpc.aio.Channel) -> int:
    stub = lifecycle_pb2_grpc.LifecycleInterfaceStub(channel)
    return int((await stub.HealthCheck(lifecycle_pb2.HealthCheckRequest(), timeout=5)).status)


async def _eventually(check: Callable[[], Awaitable[bool]], within: float) -> None:
    start = time.monotonic()
    while not await check():
        assert time.monotonic() - start < within, f"not reached within {within}s"
        await asyncio.sleep(0.05)


async def test_nats_killed_and_restarted(own_nats: NatsServer, channel: grpc.aio.Channel) -> None:
    run = f"run-{time.time_ns()}"
    where = make_filter(("run", pb.FILTER_OP_EQ, [run]))
    async with RegistryClient(channel, NS, 10, 10) as reg:
        await reg.register(f"{run}-a", {"run": run})
        stream = await reg.receive(f"{run}-a")
        assert (await reg.multicast(where, b"before")).delivered == 1
        assert (await stream.receive(10)).payload == b"before"

        os.kill(own_nats.pid(), signal.SIGKILL)
        own_nats.running = False

        async def unavailable() -> bool:
            # Until the client has seen the connection drop, a request times out instead:
            # that target is "failed", never "delivered".
            try:
                reply = await reg.multicast(where, b"during")
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc
                return True
            assert (reply.delivered, reply.failed) == (0, 1), reply
            return False

        await _eventually(unavailable, within=5)
        for _ in range(3):
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await reg.multicast(where, b"during")
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE, info.value
        assert await reg.register(f"{run}-b", {"run": run}) is True, "the registry still works"

        async def unhealthy() -> bool:
            return await _health(channel) == UNHEALTHY

        await _eventually(unhealthy, within=UNHEALTHY_WITHIN)

        await asyncio.to_thread(own_nats.start)

        async def delivers() -> bool:
            try:
                return (await reg.multicast(where, b"after")).delivered == 1
            except grpc.aio.AioRpcError:
                return False

        await _eventually(delivers, within=15)
        got = await stream.receive(10)
        assert got.payload == b"after", "the receiver survived the outage (re-subscribed)"

        async def healthy() -> bool:
            return await _health(channel) == HEALTHY

        await _eventually(healthy, within=10)
