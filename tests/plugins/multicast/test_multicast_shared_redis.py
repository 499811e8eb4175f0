"""Two plugin servers sharing one Redis (nothing else) see one registry and reach each other's
receivers; the Redis index stays clean of expired registrations."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import redis.asyncio

from plugins.multicast.conftest import settings
from prism.interfaces import multicast_registry_pb2 as pb
from prism.plugins.multicast import MulticastPlugin
from prism.plugins.redis.connection import namespace_prefix
from prism.sdk.testing import running_plugin
from prism.sdk.testing._registry_client import RegistryClient, make_filter
from services.servers import RedisServer

NS = "shared"


@pytest.fixture
async def two(redis_srv: RedisServer) -> AsyncIterator[tuple[RegistryClient, RegistryClient]]:
    def plugin() -> MulticastPlugin:
        return MulticastPlugin(
            settings(registry="redis", messaging="redis", redis_addr=redis_srv.addr)
        )

    async with running_plugin(plugin()) as a, running_plugin(plugin()) as b:
        async with grpc.aio.insecure_channel(a) as ca, grpc.aio.insecure_channel(b) as cb:
            async with RegistryClient(ca, NS, 10, 10) as ra, RegistryClient(cb, NS, 10, 10) as rb:
                yield ra, rb


def run_filter(run: str) -> pb.Filter:
    return make_filter(("run", pb.FILTER_OP_EQ, [run]))


async def test_registrations_are_shared(two: tuple[RegistryClient, RegistryClient]) -> None:
    a, b = two
    run = f"run-{time.time_ns()}"
    await a.register("from-a", {"run": run})
    await b.register("from-b", {"run": run})
    assert set(await a.enumerate(run_filter(run))) == {"from-a", "from-b"}
    assert set(await b.enumerate(run_filter(run))) == {"from-a", "from-b"}
    assert await b.unregister("from-a") is True
    assert set(await a.enumerate(run_filter(run))) == {"from-b"}


async def test_multicast_reaches_the_other_servers_receivers(
    two: tuple[RegistryClient, RegistryClient],
) -> None:
    a, b = two
    run = f"run-{time.time_ns()}"
    await a.register("rx-on-b", {"run": run})
    stream = await b.receive("rx-on-b")
    reply = await a.multicast(run_filter(run), b"across")
    assert (reply.targeted, reply.delivered) == (1, 1)
    assert (await stream.receive(10)).payload == b"across"


async def test_expired_registrations_leave_the_index(
    two: tuple[RegistryClient, RegistryClient], redis_srv: RedisServer
) -> None:
    a, _ = two
    run = f"run-{time.time_ns()}"
    for i in range(20):
        await a.register(f"short-{run}-{i}", {"run": run}, ttl=0.2)
    await asyncio.sleep(0.4)
    await a.register(f"trigger-{run}", {"run": run})  # a Register cleans expired entries
    client = redis.asyncio.Redis(host=redis_srv.host, port=redis_srv.port)
    try:
        index: list[Any] = await client.zrange(f"{namespace_prefix(NS)}r:i", 0, -1)
        assert not [m for m in index if m.startswith(f"short-{run}".encode())]
    finally:
        await client.aclose()
    assert set(await a.enumerate(run_filter(run))) == {f"trigger-{run}"}
