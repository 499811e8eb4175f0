"""Two plugin processes sharing one Redis (nothing else: one served in this process, one a
real ``python -m prism.plugins.multicast`` child) see one registry and reach each other's
receivers; the Redis index stays clean of expired registrations."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
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


@contextmanager
def plugin_process(redis_addr: str) -> Iterator[str]:
    """A multicast plugin child process on Redis; yields its host:port."""
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(p for p in sys.path if p),
        PRISM_MULTICAST_PORT="0",
        PRISM_MULTICAST_REGISTRY="redis",
        PRISM_MULTICAST_MESSAGING="redis",
        PRISM_MULTICAST_REDIS_ADDR=redis_addr,
    )
    cmd = [sys.executable, "-m", "prism.plugins.multicast"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert " listening on " in line, f"plugin process did not start: {line!r}"
        yield line.split(" listening on ", 1)[1].strip()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


@pytest.fixture
async def two(redis_srv: RedisServer) -> AsyncIterator[tuple[RegistryClient, RegistryClient]]:
    plugin = MulticastPlugin(
        settings(registry="redis", messaging="redis", redis_addr=redis_srv.addr)
    )
    with plugin_process(redis_srv.addr) as b:
        async with running_plugin(plugin) as a:
            async with _both(a, b) as clients:
                yield clients


@asynccontextmanager
async def _both(a: str, b: str) -> AsyncIterator[tuple[RegistryClient, RegistryClient]]:
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
