"""In-memory ConnectionFactory for pool tests: counts everything, can block or fail on demand."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable


class FakeConn:
    _ids = itertools.count(1)

    def __init__(self) -> None:
        self.id = next(self._ids)
        self.healthy = True
        self.closed = False

    def __repr__(self) -> str:
        return f"FakeConn({self.id})"


class FakeFactory:
    """create() waits on ``gate`` if set and raises ``fail`` if set; validate() uses .healthy."""

    def __init__(self) -> None:
        self.created: list[FakeConn] = []
        self.closed: list[FakeConn] = []
        self.validated: list[FakeConn] = []
        self.gate: asyncio.Event | None = None
        self.validate_gate: asyncio.Event | None = None
        self.fail: BaseException | None = None
        self.validate_error: Exception | None = None
        self.close_error: Exception | None = None

    async def create(self) -> FakeConn:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        conn = FakeConn()
        self.created.append(conn)
        return conn

    async def close(self, conn: FakeConn) -> None:
        conn.closed = True
        self.closed.append(conn)
        if self.close_error is not None:
            raise self.close_error

    async def validate(self, conn: FakeConn) -> bool:
        self.validated.append(conn)
        if self.validate_gate is not None:
            await self.validate_gate.wait()
        if self.validate_error is not None:
            raise self.validate_error
        return conn.healthy


async def eventually(cond: Callable[[], bool], timeout: float = 3.0) -> None:
    """Poll ``cond`` until true; generous timeout because CI machines are slow and noisy."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.002)


async def settle(rounds: int = 5) -> None:
    """Let ready callbacks/tasks run (no wall-clock waiting)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
