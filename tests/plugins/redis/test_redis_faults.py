"""Redis goes away under traffic and comes back: fast UNAVAILABLE, health, self-recovery, and
no acknowledged write lost (own Redis with AOF + appendfsync always, killed with SIGKILL)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import grpc
import pytest

from plugins.redis.conftest import settings
from prism.interfaces import (
    keyvalue_basic_pb2,
    keyvalue_basic_pb2_grpc,
    lifecycle_pb2,
    lifecycle_pb2_grpc,
)
from prism.plugins.redis import RedisPlugin
from prism.sdk.testing import running_plugin
from services.servers import RedisServer, redis_server

NS = "faults"
HEALTHY = lifecycle_pb2.HEALTH_STATUS_HEALTHY
UNHEALTHY = lifecycle_pb2.HEALTH_STATUS_UNHEALTHY
FAST = 2.0  # seconds a call may take to fail while Redis is down


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    with redis_server(aof=True) as server:
        yield server


@pytest.fixture
async def channel(own_redis: RedisServer) -> AsyncIterator[grpc.aio.Channel]:
    plugin = RedisPlugin(settings(addr=own_redis.addr, breaker_open_seconds=0.5))
    async with running_plugin(plugin) as address:
        async with grpc.aio.insecure_channel(address) as ch:
            yield ch


def _pid(server: RedisServer) -> int:
    assert server.dir is not None
    return int((server.dir / "redis.pid").read_text().strip())


async def _eventually(check: Callable[[], Awaitable[bool]], within: float) -> float:
    """Seconds until ``check()`` is true; fails after ``within`` seconds."""
    start = time.monotonic()
    while not await check():
        assert time.monotonic() - start < within, f"not reached within {within}s"
        await asyncio.sleep(0.05)
    return time.monotonic() - start


class Traffic:
    """Sets k0, k1, ... one after another; remembers which ones were acknowledged."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.kv = keyvalue_basic_pb2_grpc.KeyValueBasicInterfaceStub(channel)
        self.acked: list[str] = []
        self.failures: list[tuple[grpc.StatusCode, float]] = []
        self.stop = asyncio.Event()

    async def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            key, started = f"k{i}", time.monotonic()
            try:
                await self.kv.Set(
                    keyvalue_basic_pb2.SetRequest(namespace=NS, key=key, value=key.encode()),
                    timeout=10,
                )
                self.acked.append(key)
            except grpc.aio.AioRpcError as exc:
                self.failures.append((exc.code(), time.monotonic() - started))
                await asyncio.sleep(0.01)
            i += 1


async def _health(channel: grpc.aio.Channel) -> int:
    stub = lifecycle_pb2_grpc.LifecycleInterfaceStub(channel)
    reply = await stub.HealthCheck(lifecycle_pb2.HealthCheckRequest(), timeout=5)
    return int(reply.status)


async def _get_fails_fast(kv: keyvalue_basic_pb2_grpc.KeyValueBasicInterfaceStub) -> float:
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await kv.Get(keyvalue_basic_pb2.GetRequest(namespace=NS, key="k0"), timeout=10)
    elapsed = time.monotonic() - started
    assert info.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    assert elapsed < FAST, f"a call took {elapsed:.2f}s to fail while Redis was down"
    return elapsed


async def test_redis_killed_and_restarted(
    own_redis: RedisServer, channel: grpc.aio.Channel
) -> None:
    traffic = Traffic(channel)
    writer = asyncio.create_task(traffic.run())
    await _eventually(lambda: _ok(len(traffic.acked) >= 50), within=10)
    assert await _health(channel) == HEALTHY

    os.kill(_pid(own_redis), signal.SIGKILL)  # no shutdown save: only the AOF keeps data
    own_redis.running = False
    down_at = time.monotonic()
    for _ in range(5):
        await _get_fails_fast(traffic.kv)
    unhealthy_after = await _eventually(
        lambda: _is(_health(channel), UNHEALTHY), within=3 + down_at - time.monotonic()
    )
    failures_before_restart = list(traffic.failures)

    await asyncio.to_thread(own_redis.start)
    recovered_after = await _eventually(lambda: _set_ok(traffic.kv), within=10)
    await _eventually(lambda: _is(_health(channel), HEALTHY), within=10)
    acked_before_stop = len(traffic.acked)
    await _eventually(lambda: _ok(len(traffic.acked) > acked_before_stop + 20), within=10)
    traffic.stop.set()
    await writer

    assert failures_before_restart, "traffic saw the outage"
    codes = {code for code, _ in failures_before_restart}
    assert codes <= {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}, codes
    slowest = max(t for _, t in failures_before_restart)
    assert slowest < FAST, f"slowest failed call took {slowest:.2f}s"
    print(
        f"\nfault: {len(failures_before_restart)} failed calls, slowest {slowest * 1000:.0f} ms; "
        f"UNHEALTHY {unhealthy_after:.2f}s after kill; recovered {recovered_after:.2f}s "
        f"after restart; {len(traffic.acked)} acked writes"
    )
    for key in traffic.acked:  # every acknowledged write survived the SIGKILL
        got = await traffic.kv.Get(keyvalue_basic_pb2.GetRequest(namespace=NS, key=key), timeout=5)
        assert got.value == key.encode()


async def test_redis_hung_then_resumed(own_redis: RedisServer, channel: grpc.aio.Channel) -> None:
    """A frozen Redis (SIGSTOP: connects, never answers) fails calls within the timeouts."""
    kv = keyvalue_basic_pb2_grpc.KeyValueBasicInterfaceStub(channel)
    assert await _set_ok(kv)
    pid = _pid(own_redis)
    os.kill(pid, signal.SIGSTOP)
    try:
        for _ in range(6):
            await _get_fails_fast(kv)
    finally:
        os.kill(pid, signal.SIGCONT)
    await _eventually(lambda: _set_ok(kv), within=10)
    await _eventually(lambda: _is(_health(channel), HEALTHY), within=10)


async def _ok(value: bool) -> bool:
    return value


async def _is(status: Awaitable[int], expected: int) -> bool:
    return await status == expected


async def _set_ok(kv: keyvalue_basic_pb2_grpc.KeyValueBasicInterfaceStub) -> bool:
    try:
        request = keyvalue_basic_pb2.SetRequest(namespace=NS, key="probe", value=b"1")
        await kv.Set(request, timeout=5)
    except grpc.aio.AioRpcError:
        return False
    return True
