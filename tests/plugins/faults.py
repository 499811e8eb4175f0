"""The fault tests' shared steps: a key-value backend killed or frozen under traffic.

``killed_under_load`` is the whole "SIGKILL the server while writers run, restart it, then find
every acknowledged write" test; ``frozen_then_resumed`` the SIGSTOP/SIGCONT one. Each plugin's
test_<name>_faults.py gives them a channel to its plugin and the server it runs on.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Awaitable, Callable

import grpc
import pytest

from prism.interfaces import (
    keyvalue_basic_pb2,
    keyvalue_basic_pb2_grpc,
    lifecycle_pb2,
    lifecycle_pb2_grpc,
)
from services.servers import StartedServer

__all__ = [
    "HEALTHY",
    "UNHEALTHY",
    "Traffic",
    "eventually",
    "frozen_then_resumed",
    "health_is",
    "killed_under_load",
]

HEALTHY = lifecycle_pb2.HEALTH_STATUS_HEALTHY
UNHEALTHY = lifecycle_pb2.HEALTH_STATUS_UNHEALTHY
FAST = 2.0  # seconds a call may take to fail while the backend is down


async def eventually(check: Callable[[], bool | Awaitable[bool]], within: float) -> float:
    """Seconds until ``check()`` (plain or async) is true; fails after ``within`` seconds."""
    start = time.monotonic()
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return time.monotonic() - start
        assert time.monotonic() - start < within, f"not reached within {within}s"
        await asyncio.sleep(0.05)


async def health_is(channel: grpc.aio.Channel, status: int) -> bool:
    stub = lifecycle_pb2_grpc.LifecycleInterfaceStub(channel)
    reply = await stub.HealthCheck(lifecycle_pb2.HealthCheckRequest(), timeout=5)
    return int(reply.status) == status


class Traffic:
    """Writer loops setting distinct keys in a namespace of their own; remembers the
    acknowledged keys and every failure (code, seconds it took)."""

    def __init__(self, channel: grpc.aio.Channel, codes: frozenset[grpc.StatusCode]) -> None:
        self.kv = keyvalue_basic_pb2_grpc.KeyValueBasicInterfaceStub(channel)
        self.ns = f"faults-{uuid.uuid4().hex[:8]}"
        self.codes = codes  # the codes a call may fail with while the backend is down
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
            request = keyvalue_basic_pb2.GetRequest(namespace=self.ns, key="w0-0")
            await self.kv.Get(request, timeout=10)
        elapsed = time.monotonic() - started
        assert info.value.code() in self.codes, info.value
        assert elapsed < FAST, f"a call took {elapsed:.2f}s to fail while the backend was down"

    async def set_ok(self) -> bool:
        try:
            request = keyvalue_basic_pb2.SetRequest(namespace=self.ns, key="probe", value=b"1")
            await self.kv.Set(request, timeout=5)
        except grpc.aio.AioRpcError:
            return False
        return True

    async def lost(self) -> list[tuple[str, grpc.StatusCode | None]]:
        """The acknowledged keys that are gone (or hold another value)."""
        lost: list[tuple[str, grpc.StatusCode | None]] = []
        for key in self.acked:
            request = keyvalue_basic_pb2.GetRequest(namespace=self.ns, key=key)
            try:
                got = await self.kv.Get(request, timeout=5)
            except grpc.aio.AioRpcError as exc:
                lost.append((key, exc.code()))
                continue
            if got.value != key.encode():
                lost.append((key, None))
        return lost


async def killed_under_load(
    channel: grpc.aio.Channel,
    server: StartedServer,
    *,
    codes: frozenset[grpc.StatusCode],
    writers: int = 1,
    acks: int = 50,
    within: float = 10.0,
) -> None:
    """``writers`` loops write until ``acks`` are acknowledged; SIGKILL the server: calls fail
    fast with ``codes`` and health turns UNHEALTHY within 3 s; restart it: writes succeed and
    health is HEALTHY again, ``acks // 2`` more are acknowledged; then every acknowledged write
    is there. ``within``: seconds each of those steps may take (the restart itself not)."""
    traffic = Traffic(channel, codes)
    tasks = [asyncio.create_task(traffic.run(w)) for w in range(writers)]
    try:
        await eventually(lambda: len(traffic.acked) >= acks, within=within)
        assert await health_is(channel, HEALTHY)

        os.kill(server.pid(), signal.SIGKILL)  # no shutdown save or flush: only what is synced
        server.running = False
        down_at = time.monotonic()
        for _ in range(5):
            await traffic.get_fails_fast()
        unhealthy_after = await eventually(
            lambda: health_is(channel, UNHEALTHY), within=3 + down_at - time.monotonic()
        )
        await asyncio.sleep(1)  # traffic keeps failing while the server is down
        failures_while_down = list(traffic.failures)
        acked_while_down = len(traffic.acked)

        restart_started = time.monotonic()
        await asyncio.to_thread(server.start)
        restart_s = time.monotonic() - restart_started
        recovered_after = await eventually(traffic.set_ok, within=within)
        await eventually(lambda: health_is(channel, HEALTHY), within=10)
        more = acked_while_down + acks // 2
        await eventually(lambda: len(traffic.acked) > more, within=within)
    finally:
        traffic.stop.set()
        await asyncio.gather(*tasks)
        if not server.running:  # a session's server stays up for the other tests
            await asyncio.to_thread(server.start)

    assert failures_while_down, "traffic saw the outage"
    seen = {code for code, _ in failures_while_down}
    assert seen <= codes, seen
    slowest = max(t for _, t in failures_while_down)
    assert slowest < FAST, f"slowest failed call took {slowest:.2f}s"
    print(
        f"\nfault: {len(traffic.failures)} failed calls (slowest while down {slowest * 1000:.0f}"
        f" ms); UNHEALTHY {unhealthy_after:.2f}s after SIGKILL; restart {restart_s:.1f}s;"
        f" Set succeeded {recovered_after:.2f}s after it; {len(traffic.acked)} acked writes"
    )
    lost = await traffic.lost()  # every acknowledged write survived the SIGKILL
    assert not lost, f"{len(lost)} of {len(traffic.acked)} acknowledged writes lost: {lost[:5]}"


async def frozen_then_resumed(
    channel: grpc.aio.Channel,
    server: StartedServer,
    *,
    codes: frozenset[grpc.StatusCode],
    within: float = 10.0,
) -> None:
    """A frozen server (SIGSTOP: connections stay open, nothing answers) fails calls fast with
    ``codes`` and health turns UNHEALTHY; SIGCONT, and within ``within`` s writes succeed and
    health is HEALTHY again."""
    traffic = Traffic(channel, codes)
    assert await traffic.set_ok()
    pid = server.pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        for _ in range(6):
            await traffic.get_fails_fast()
        await eventually(lambda: health_is(channel, UNHEALTHY), within=5)
    finally:
        os.kill(pid, signal.SIGCONT)
    await eventually(traffic.set_ok, within=within)
    await eventually(lambda: health_is(channel, HEALTHY), within=10)
