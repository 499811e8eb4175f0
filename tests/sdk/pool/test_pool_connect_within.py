"""connect_within(): a bounded handshake that leaves nothing open when it fails."""

from __future__ import annotations

import asyncio

import pytest

from prism.sdk.errors import PrismError, UnavailableError
from prism.sdk.pool import connect_within


class Client:
    def __init__(self, handshake_s: float = 0.0, fail: BaseException | None = None) -> None:
        self.handshake_s, self.fail, self.closed = handshake_s, fail, False

    async def handshake(self) -> Client:
        await asyncio.sleep(self.handshake_s)
        if self.fail is not None:
            raise self.fail
        return self

    async def close(self) -> None:
        self.closed = True


class ClientDown(Exception):
    pass


def classify_client(exc: BaseException) -> PrismError | None:
    return UnavailableError("client down") if isinstance(exc, ClientDown) else None


async def test_returns_the_connected_client() -> None:
    client = Client()
    assert await connect_within(client.handshake, client.close, 1.0, "db") is client
    assert not client.closed


async def test_a_slow_handshake_is_unavailable_and_closed() -> None:
    client = Client(handshake_s=10.0)
    with pytest.raises(UnavailableError, match=r"db 10\.0\.0\.1:5: no connection within 0.05s"):
        await connect_within(client.handshake, client.close, 0.05, "db 10.0.0.1:5")
    assert client.closed


async def test_a_failed_handshake_is_classified_and_closed() -> None:
    client = Client(fail=ClientDown("refused"))
    with pytest.raises(UnavailableError, match="client down"):
        await connect_within(
            client.handshake, client.close, 1.0, "db", classifiers=[classify_client]
        )
    assert client.closed
    other = Client(fail=ValueError("bad auth"))
    with pytest.raises(ValueError):
        await connect_within(other.handshake, other.close, 1.0, "db")
    assert other.closed


async def test_cancellation_closes_the_half_open_client() -> None:
    client = Client(handshake_s=10.0)
    task = asyncio.ensure_future(connect_within(client.handshake, client.close, 30.0, "db"))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert client.closed
