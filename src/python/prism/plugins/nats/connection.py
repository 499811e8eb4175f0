"""NatsBackend: one multiplexed NATS connection behind the SDK circuit breaker, with health.

A NATS client multiplexes every request and subscription on one connection, so there is no
pool to borrow from: calls share the connection and pass through a CircuitBreaker. nats-py
reconnects (and re-subscribes) on its own; while it is disconnected a call fails at once
with UNAVAILABLE instead of queueing in the client's reconnect buffer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import nats
import nats.errors
from nats.aio.client import Client

from prism.sdk.errors import PrismError, UnavailableError, reraise_classified
from prism.sdk.health import CheckOutcome, HealthChecker
from prism.sdk.resilience import CircuitBreaker

T = TypeVar("T")


def classify_nats(exc: BaseException) -> PrismError | None:
    """Connection-level nats-py errors are UNAVAILABLE; a request timeout is not one.

    A flush timeout is: the server itself did not answer the PING (it died and the client has
    not noticed yet), whereas a request timeout is a receiver not replying.
    """
    unavailable = (
        nats.errors.FlushTimeoutError,
        nats.errors.ConnectionClosedError,
        nats.errors.ConnectionReconnectingError,
        nats.errors.NoServersError,
        nats.errors.StaleConnectionError,
        nats.errors.OutboundBufferLimitError,
        nats.errors.UnexpectedEOF,
        ConnectionError,
    )
    if isinstance(exc, unavailable):
        return UnavailableError(f"nats unavailable: {exc!r}")
    return None


CLASSIFIERS = (classify_nats,)


class NatsBackend:
    def __init__(
        self,
        servers: Sequence[str],
        *,
        connect_timeout: float = 2.0,
        breaker_open_seconds: float = 1.0,
    ) -> None:
        self.servers, self.connect_timeout = list(servers), connect_timeout
        self.classifiers = CLASSIFIERS
        self.breaker = CircuitBreaker(
            "nats", open_seconds=breaker_open_seconds, classifiers=self.classifiers
        )
        self._client: Client | None = None

    async def start(self) -> None:
        """Connect (failing the start if NATS is down: the plugin cannot serve without it)."""
        with reraise_classified(self.classifiers):
            self._client = await nats.connect(
                self.servers,
                connect_timeout=max(1, round(self.connect_timeout)),
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.25,
                ping_interval=5,
                name="prism",
            )

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    @property
    def client(self) -> Client:
        """The connection; UNAVAILABLE while it is down (no silent buffering)."""
        client = self._client
        if client is None or not client.is_connected:
            raise UnavailableError("nats unavailable: not connected")
        return client

    async def run(self, fn: Callable[[Client], Awaitable[T]]) -> T:
        """``fn(client)`` through the breaker; nats-py errors raised as PrismErrors."""

        async def attempt() -> T:
            return await fn(self.client)

        with reraise_classified(self.classifiers):
            return await self.breaker.call(attempt)

    def register_health(self, health: HealthChecker) -> None:
        """ "nats" (critical): a round trip to the server (PING/PONG) through the breaker."""

        async def ping() -> CheckOutcome | None:
            await self.run(lambda client: client.flush(timeout=1))
            return None

        health.register("nats", ping)
        self.breaker.add_listener(health.recheck_soon)  # an outage shows at once


__all__ = ["CLASSIFIERS", "NatsBackend", "classify_nats"]
