"""A CancelledError nats-py raises on its own (its flush while the connection drops) is a
backend failure: UNAVAILABLE, counted by the breaker; a real cancel of the caller still
propagates as a cancel."""

from __future__ import annotations

import asyncio
from typing import Any

import nats.errors
import pytest

from prism.plugins.nats.connection import NatsBackend
from prism.plugins.nats.messaging import NatsMessaging
from prism.sdk.errors import UnavailableError
from prism.sdk.patterns import Delivery


class _Client:
    """Just enough of nats-py's Client for NatsMessaging.deliver; ``flush`` is the fault."""

    is_connected = True

    def __init__(self, flush: Any) -> None:
        self.flush = flush

    def new_inbox(self) -> str:
        return "_INBOX.test"

    async def subscribe(self, subject: str, cb: Any = None) -> None:
        return None

    async def publish(self, subject: str, data: bytes, reply: str = "") -> None:
        return None


def _messaging(flush: Any) -> NatsMessaging:
    backend = NatsBackend(["nats://127.0.0.1:1"])
    backend._client = _Client(flush)  # type: ignore[assignment]
    return NatsMessaging(backend)


async def test_library_cancelled_error_in_flush_is_unavailable_and_counted() -> None:
    async def flush(timeout: float) -> None:
        # What nats-py does when the connection drops under a flush: the PONG future it
        # awaits is cancelled, so the CancelledError is not a cancel of our task.
        pong: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        pong.cancel()
        await pong

    messaging = _messaging(flush)
    with pytest.raises(UnavailableError):
        await messaging.deliver("ns", ["a"], Delivery(message_id="m", payload=b"x"))
    assert messaging.backend.breaker.failure_rate == 1.0, "the breaker counted the failure"
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_cancel_of_the_caller_still_propagates() -> None:
    async def flush(timeout: float) -> None:
        await asyncio.Event().wait()

    messaging = _messaging(flush)
    task = asyncio.create_task(
        messaging.deliver("ns", ["a"], Delivery(message_id="m", payload=b"x"))
    )
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    assert messaging.backend.breaker.failure_rate == 0.0, "a caller's cancel is no failure"


async def test_flush_timeout_is_unavailable() -> None:
    """The server did not answer the flush's PING in time (it died and the client has not
    noticed yet): the backend is unreachable, not an internal error."""

    async def flush(timeout: float) -> None:
        raise nats.errors.FlushTimeoutError

    with pytest.raises(UnavailableError):
        await _messaging(flush).deliver("ns", ["a"], Delivery(message_id="m", payload=b"x"))
