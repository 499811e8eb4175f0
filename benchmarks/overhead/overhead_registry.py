"""The gateway tier's registry set-up for bench_overhead: seed identities and hold live receivers.

ghz only makes the calls; for Enumerate and Multicast to do the same work through the gateway as
in process, the namespace needs the same identities in the same groups, and (Multicast) a live
receiver per identity whose receipts are counted, as prism-loadtest counts its own.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import grpc

from prism.interfaces import multicast_registry_pb2 as pb
from prism.interfaces import multicast_registry_pb2_grpc as pb_grpc

__all__ = ["GatewayReceivers", "seed", "unseed"]

BATCH = 50  # calls in flight while seeding, and receivers opened at once
READY_TIMEOUT_S = 30.0  # a Receive stream is live once its initial metadata arrived
TTL_SECONDS = 300.0  # prism-loadtest's default --ttl


def identity(index: int) -> str:
    return f"id-{index:06d}"


async def _each(addr: str, count: int, call: str, request: Callable[[int], Any]) -> None:
    async with grpc.aio.insecure_channel(addr) as channel:
        method = getattr(pb_grpc.MulticastRegistryInterfaceStub(channel), call)
        for first in range(0, count, BATCH):
            batch = range(first, min(first + BATCH, count))
            await asyncio.gather(*(method(request(i), timeout=10) for i in batch))


def seed(addr: str, namespace: str, identities: int, groups: int) -> None:
    """Register identities 0..identities-1, identity i in group ``g{i % groups}`` (as
    prism-loadtest spreads its own), through the gateway at ``addr``."""

    def request(i: int) -> pb.RegisterRequest:
        meta = {"group": f"g{i % groups}", "index": str(i)}
        return pb.RegisterRequest(
            namespace=namespace, identity=identity(i), metadata=meta, ttl_seconds=TTL_SECONDS
        )

    asyncio.run(_each(addr, identities, "Register", request))


def unseed(addr: str, namespace: str, identities: int) -> None:
    """Unregister what :func:`seed` registered (the run's namespace is its own)."""

    def request(i: int) -> pb.UnregisterRequest:
        return pb.UnregisterRequest(namespace=namespace, identity=identity(i))

    asyncio.run(_each(addr, identities, "Unregister", request))


class GatewayReceivers:
    """One live Receive stream per identity through the gateway, read on a thread of its own
    while ghz multicasts: ``received`` counts receipts, ``latency_ms`` each one's time since the
    message's ``send_time_us`` (stamped by the coordinator)."""

    def __init__(self, addr: str, namespace: str, identities: int) -> None:
        self.addr, self.namespace, self.identities = addr, namespace, identities
        self.received = 0
        self.latency_ms: list[float] = []
        self.errors = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._calls: list[grpc.aio.UnaryStreamCall] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._channel: grpc.aio.Channel | None = None

    def __enter__(self) -> GatewayReceivers:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._open(), self._loop).result()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    async def _open(self) -> None:
        self._channel = grpc.aio.insecure_channel(self.addr)
        stub = pb_grpc.MulticastRegistryInterfaceStub(self._channel)
        for first in range(0, self.identities, BATCH):
            opened = [
                stub.Receive(pb.ReceiveRequest(namespace=self.namespace, identity=identity(i)))
                for i in range(first, min(first + BATCH, self.identities))
            ]
            self._calls.extend(opened)
            ready = asyncio.gather(*(call.initial_metadata() for call in opened))
            await asyncio.wait_for(ready, READY_TIMEOUT_S)
            self._tasks.extend(asyncio.ensure_future(self._read(call)) for call in opened)

    async def _read(self, call: grpc.aio.UnaryStreamCall) -> None:
        try:
            async for message in call:
                self.received += 1
                self.latency_ms.append((time.time_ns() / 1000 - message.send_time_us) / 1000)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                self.errors += 1

    def settle(self, expected: int, timeout: float) -> None:
        """Wait up to ``timeout`` s for ``expected`` receipts (messages still in flight)."""
        deadline = time.monotonic() + timeout
        while self.received < expected and time.monotonic() < deadline:
            time.sleep(0.05)

    async def _close(self) -> None:
        for call in self._calls:
            call.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        if self._channel is not None:
            await self._channel.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
        self._loop.close()
