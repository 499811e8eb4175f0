"""A thin MulticastRegistryInterface client for the conformance kit: namespace filled in,
every call bounded in time, receivers cancelled at teardown."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import grpc

from prism.interfaces import multicast_registry_pb2 as pb
from prism.interfaces import multicast_registry_pb2_grpc as pb_grpc
from prism.sdk.testing._support import bounded, expect_status, fail

_END = object()

Cond = tuple[str, pb.FilterOp.ValueType, Sequence[str]]


def make_filter(*conditions: Cond) -> pb.Filter:
    """``make_filter(("region", FILTER_OP_EQ, ["eu"]), ...)``."""
    return pb.Filter(
        conditions=[pb.FilterCondition(key=k, op=op, values=list(v)) for k, op, v in conditions]
    )


class ReceiverStream:
    """A live Receive call whose messages a background task collects into a queue."""

    def __init__(self, call: Any, what: str) -> None:
        self.call, self.what = call, what
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._pump = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            async for message in self.call:
                self._queue.put_nowait(message)
            self._queue.put_nowait(_END)
        except grpc.aio.AioRpcError as err:
            self._queue.put_nowait(err)

    async def _next(self, timeout: float) -> object:
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    async def receive(self, timeout: float) -> pb.MulticastMessage:
        item = await self._next(timeout)
        if item is None:
            fail(f"{self.what}: no message within {timeout:.1f} s")
        if isinstance(item, grpc.aio.AioRpcError):
            fail(f"{self.what}: stream failed with {item.code().name}: {item.details()!r}")
        if item is _END:
            fail(f"{self.what}: stream ended while a message was expected")
        assert isinstance(item, pb.MulticastMessage)
        return item

    async def expect_quiet(self, seconds: float) -> None:
        item = await self._next(seconds)
        if item is not None:
            fail(f"{self.what}: expected nothing, got {item!r}")

    async def close(self) -> None:
        self.call.cancel()
        self._pump.cancel()
        await asyncio.gather(self._pump, return_exceptions=True)


class RegistryClient:
    def __init__(self, channel: Any, namespace: str, timeout: float, ready_timeout: float) -> None:
        self.namespace, self.timeout, self.ready_timeout = namespace, timeout, ready_timeout
        self.stub = pb_grpc.MulticastRegistryInterfaceStub(channel)
        self._receivers: list[ReceiverStream] = []

    def register_call(
        self, identity: str, metadata: Mapping[str, str] | None = None, ttl: float = 0
    ) -> Any:
        request = pb.RegisterRequest(
            namespace=self.namespace,
            identity=identity,
            metadata=dict(metadata or {}),
            ttl_seconds=ttl,
        )
        return self.stub.Register(request, timeout=self.timeout)

    async def register(
        self, identity: str, metadata: Mapping[str, str] | None = None, ttl: float = 0
    ) -> bool:
        reply = await bounded(self.register_call(identity, metadata, ttl), self.timeout, "Register")
        return bool(reply.created)

    async def unregister(self, identity: str) -> bool:
        request = pb.UnregisterRequest(namespace=self.namespace, identity=identity)
        call = self.stub.Unregister(request, timeout=self.timeout)
        return bool((await bounded(call, self.timeout, "Unregister")).unregistered)

    def enumerate_call(self, where: pb.Filter, page_size: int = 0) -> Any:
        request = pb.EnumerateRequest(namespace=self.namespace, filter=where, page_size=page_size)
        return self.stub.Enumerate(request, timeout=self.timeout)

    async def enumerate_pages(
        self, where: pb.Filter, page_size: int = 0
    ) -> list[list[pb.Registration]]:
        async def collect() -> list[list[pb.Registration]]:
            return [
                list(page.registrations) async for page in self.enumerate_call(where, page_size)
            ]

        return await bounded(collect(), self.timeout, "Enumerate")

    async def enumerate(self, where: pb.Filter, page_size: int = 0) -> dict[str, dict[str, str]]:
        """identity -> metadata of every match."""
        pages = await self.enumerate_pages(where, page_size)
        return {r.identity: dict(r.metadata) for page in pages for r in page}

    def multicast_call(
        self, where: pb.Filter, payload: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> Any:
        request = pb.MulticastRequest(
            namespace=self.namespace, filter=where, payload=payload, headers=dict(headers or {})
        )
        return self.stub.Multicast(request, timeout=self.timeout)

    async def multicast(
        self, where: pb.Filter, payload: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> pb.MulticastResponse:
        reply: pb.MulticastResponse = await bounded(
            self.multicast_call(where, payload, headers), self.timeout, "Multicast"
        )
        return reply

    def receive_call(self, identity: str) -> Any:
        return self.stub.Receive(pb.ReceiveRequest(namespace=self.namespace, identity=identity))

    async def receive(self, identity: str) -> ReceiverStream:
        """Open Receive and wait for readiness (initial metadata)."""
        what = f"Receive({identity!r})"
        stream = ReceiverStream(self.receive_call(identity), what)
        self._receivers.append(stream)
        await bounded(stream.call.initial_metadata(), self.ready_timeout, f"{what} readiness")
        return stream

    async def expect(self, code: Any, call: Any, what: str) -> Any:
        return await expect_status(call, code, self.timeout, what)

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for stream in self._receivers:
            await stream.close()
        self._receivers.clear()
