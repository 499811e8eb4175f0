"""A thin MulticastRegistryInterface client for the conformance kit: namespace filled in,
every call bounded in time, receivers cancelled at teardown."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prism.interfaces import multicast_registry_pb2 as pb
from prism.interfaces import multicast_registry_pb2_grpc as pb_grpc
from prism.sdk.testing._stream import StreamReader
from prism.sdk.testing._support import bounded, expect_status

Cond = tuple[str, pb.FilterOp.ValueType, Sequence[str]]


def make_filter(*conditions: Cond) -> pb.Filter:
    """``make_filter(("region", FILTER_OP_EQ, ["eu"]), ...)``."""
    return pb.Filter(
        conditions=[pb.FilterCondition(key=k, op=op, values=list(v)) for k, op, v in conditions]
    )


class ReceiverStream(StreamReader[pb.MulticastMessage]):
    """A live Receive call."""

    def __init__(self, call: Any, what: str) -> None:
        super().__init__(call, what, pb.MulticastMessage)


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
