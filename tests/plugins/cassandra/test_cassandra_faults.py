"""Cassandra goes away under traffic and comes back: calls fail fast with UNAVAILABLE, health
turns UNHEALTHY, the plugin recovers by itself, and no acknowledged write is lost.

Uses the session's node, restarted in place (its JVM start is the slow part of the suite), or
a node of its own when the session's is an external one (PRISM_TEST_CASSANDRA_ADDR).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import grpc
import pytest

from plugins.cassandra.conftest import commitlog_synced, settings
from prism.interfaces import (
    keyvalue_basic_pb2,
    keyvalue_basic_pb2_grpc,
    lifecycle_pb2,
    lifecycle_pb2_grpc,
)
from prism.plugins.cassandra import CassandraPlugin
from prism.sdk.testing import running_plugin
from services.cassandra_servers import CassandraNode, cassandra_node

HEALTHY = lifecycle_pb2.HEALTH_STATUS_HEALTHY
UNHEALTHY = lifecycle_pb2.HEALTH_STATUS_UNHEALTHY
FAST = 2.0  # seconds a call may take to fail while Cassandra is down
WRITERS = 4


@pytest.fixture
def node(cassandra: CassandraNode) -> Iterator[CassandraNode]:
    """A node this test may kill: the session's, unless that one is external."""
    if cassandra.dir is not None:
        yield cassandra
        return
    with commitlog_synced(), cassandra_node() as own:
        yield own


@pytest.fixture
async def channel(node: CassandraNode) -> AsyncIterator[grpc.aio.Channel]:
    plugin = CassandraPlugin(settings(node, breaker_open_seconds=0.5, request_timeout=1.0))
    async with running_plugin(plugin) as address:
        async with grpc.aio.insecure_channel(address) as ch:
            yield ch


def _pid(node: CassandraNode) -> int:
    assert node.dir is not None
    return int((node.dir / "cassandra.pid").read_text().strip())


async def _eventually(check: Callable[[], Awaitable[bool]], within: float) -> float:
    """Seconds until ``check()`` is true; fails after ``within`` seconds."""
    start = time.monotonic()
    while not await check():
        assert time.monotonic() - start < within, f"not reached within {within}s"
        await asyncio.sleep(0.05)
    return time.monotonic() - start


class Traffic:
    """WRITERS loops setting distinct keys; remembers the acknowledged ones and every failure."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.kv = keyvalue_basic_pb2_grpc.KeyValueBasicInterfaceStub(channel)
        self.ns = f"faults-{uuid.uuid4().hex[:8]}"
        self.acked: list[str] = []
        self.failures: list[tuple[grpc.StatusCode, float]] = []
        self.stop = asyncio.Event()

    async def run(self, writer: int) -> None:
        i = 0
        while not self.stop.is_set():
            key, started = f"w{writer}-{i}", time.monotonic()
            request = keyvalue_basic_pb2.SetRequest(namespace=self.ns, key=key, value=key.encode())
            try:
                await self.kv.Set(request, timeout=10)
                self.acked.append(key)
            except grpc.aio.AioRpcError as exc:
                self.failures.append((exc.code(), time.monotonic() - started))
                await asyncio.sleep(0.01)
            i += 1

    async def get_fails_fast(self) -> None:
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await self.kv.Get(
                keyvalue_basic_pb2.GetRequest(namespace=self.ns, key="w0-0"), timeout=10
            )
        elapsed = time.monotonic() - started
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE, info.value
        assert elapsed < FAST, f"a call took {elapsed:.2f}s to fail while Cassandra was down"

    async def set_ok(self) -> bool:
        try:
            request = keyvalue_basic_pb2.SetRequest(namespace=self.ns, key="probe", value=b"1")
            await self.kv.Set(request, timeout=5)
        except grpc.aio.AioRpcError:
            return False
        return True


async def _health(channel: grpc.aio.Channel) -> int:
    stub = lifecycle_pb2_grpc.LifecycleInterfaceStub(channel)
    reply = await stub.HealthCheck(lifecycle_pb2.HealthCheckRequest(), timeout=5)
    return int(reply.status)


async def _is(status: Awaitable[int], expected: int) -> bool:
    return await status == expected


async def _ok(value: bool) -> bool:
    return value


async def test_cassandra_killed_and_restarted(
    node: CassandraNode, channel: grpc.aio.Channel
) -> None:
    traffic = Traffic(channel)
    writers = [asyncio.create_task(traffic.run(w)) for w in range(WRITERS)]
    try:
        await _eventually(lambda: _ok(len(traffic.acked) >= 200), within=30)
        assert await _health(channel) == HEALTHY

        os.kill(_pid(node), signal.SIGKILL)  # no drain, no flush: only the commit log
        node.running = False
        down_at = time.monotonic()
        for _ in range(5):
            await traffic.get_fails_fast()
        unhealthy_after = await _eventually(
            lambda: _is(_health(channel), UNHEALTHY), within=3 + down_at - time.monotonic()
        )
        await asyncio.sleep(1)  # traffic keeps failing while the node is down
        failures_while_down = list(traffic.failures)
        acked_while_down = len(traffic.acked)

        restart_started = time.monotonic()
        await asyncio.to_thread(node.start)
        restart_s = time.monotonic() - restart_started
        recovered_after = await _eventually(traffic.set_ok, within=30)
        await _eventually(lambda: _is(_health(channel), HEALTHY), within=10)
        await _eventually(lambda: _ok(len(traffic.acked) > acked_while_down + 100), within=30)
    finally:
        traffic.stop.set()
        await asyncio.gather(*writers)
        if not node.running:  # leave the session's node up for the other tests
            await asyncio.to_thread(node.start)

    assert failures_while_down, "traffic saw the outage"
    codes = {code for code, _ in failures_while_down}
    assert codes == {grpc.StatusCode.UNAVAILABLE}, codes
    slowest = max(t for _, t in failures_while_down)
    assert slowest < FAST, f"slowest failed call took {slowest:.2f}s"
    print(
        f"\nfault: {len(traffic.failures)} failed calls (slowest while down {slowest * 1000:.0f}"
        f" ms); UNHEALTHY {unhealthy_after:.2f}s after SIGKILL; node restart {restart_s:.1f}s;"
        f" Set succeeded {recovered_after:.2f}s after it; {len(traffic.acked)} acked writes"
    )
    lost = []
    for key in traffic.acked:  # every acknowledged write survived the SIGKILL
        request = keyvalue_basic_pb2.GetRequest(namespace=traffic.ns, key=key)
        try:
            got = await traffic.kv.Get(request, timeout=5)
        except grpc.aio.AioRpcError as exc:
            lost.append((key, exc.code()))
            continue
        assert got.value == key.encode()
    assert not lost, f"{len(lost)} of {len(traffic.acked)} acknowledged writes lost: {lost[:5]}"


async def test_cassandra_hung_then_resumed(node: CassandraNode, channel: grpc.aio.Channel) -> None:
    """A frozen node (SIGSTOP: connections stay open, nothing answers) fails calls within the
    request timeout, then the breaker fails them at once; SIGCONT and the plugin recovers."""
    traffic = Traffic(channel)
    assert await traffic.set_ok()
    pid = _pid(node)
    os.kill(pid, signal.SIGSTOP)
    try:
        for _ in range(6):
            await traffic.get_fails_fast()
        await _eventually(lambda: _is(_health(channel), UNHEALTHY), within=5)
    finally:
        os.kill(pid, signal.SIGCONT)
    await _eventually(traffic.set_ok, within=20)
    await _eventually(lambda: _is(_health(channel), HEALTHY), within=10)
