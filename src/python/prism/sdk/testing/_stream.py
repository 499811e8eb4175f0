"""StreamReader: a server stream pumped into a queue, for tests that wait with a timeout.

The pump exists because cancelling a pending ``read()`` cancels the whole RPC in grpc.aio:
waiting on the queue instead lets a test time out a wait and keep the stream.
"""

from __future__ import annotations

import asyncio
from typing import Any, Generic, TypeVar

import grpc

from prism.sdk.testing._support import fail

M = TypeVar("M")

END = object()
"""Queued once the stream has ended (after an error, if any)."""


class StreamReader(Generic[M]):
    def __init__(self, call: Any, what: str, kind: type[M]) -> None:
        self.call, self.what, self._kind = call, what, kind
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._pump = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            while True:
                item = await self.call.read()
                if item is grpc.aio.EOF:
                    break
                self._queue.put_nowait(item)
        except grpc.aio.AioRpcError as err:
            self._queue.put_nowait(err)
        except asyncio.CancelledError:
            pass
        self._queue.put_nowait(END)

    async def next_item(self, timeout: float) -> object:
        """A message, an ``AioRpcError``, :data:`END`, or None after ``timeout``."""
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    async def receive(self, timeout: float) -> M:
        """The next message; fails the test on timeout or on an early end of the stream."""
        item = await self.next_item(timeout)
        if item is None:
            fail(f"{self.what}: no message within {timeout:.1f} s")
        if isinstance(item, grpc.aio.AioRpcError):
            fail(f"{self.what}: stream failed with {item.code().name}: {item.details()!r}")
        if item is END:
            fail(f"{self.what}: stream ended while a message was expected")
        assert isinstance(item, self._kind)
        return item

    async def receive_n(self, count: int, timeout: float) -> list[M]:
        return [await self.receive(timeout) for _ in range(count)]

    async def expect_quiet(self, seconds: float) -> None:
        """Fail if any message (or the end of the stream) shows up within ``seconds``."""
        item = await self.next_item(seconds)
        if isinstance(item, self._kind):
            fail(f"{self.what}: unexpected message: {item!r}")
        if item is not None:
            fail(f"{self.what}: stream ended while it should have stayed open")

    async def expect_end(self, timeout: float) -> None:
        """The stream must end cleanly (status OK) within ``timeout``; leftovers fail the test."""
        item = await self.next_item(timeout)
        if item is None:
            fail(f"{self.what}: stream still open {timeout:.1f} s after it should have ended")
        if isinstance(item, grpc.aio.AioRpcError):
            fail(f"{self.what}: stream ended with {item.code().name}: {item.details()!r}")
        if item is not END:
            fail(f"{self.what}: got a message where the end of the stream was expected")

    async def close(self) -> None:
        self.call.cancel()
        self._pump.cancel()
        await asyncio.gather(self._pump, return_exceptions=True)
