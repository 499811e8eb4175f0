"""Upstream: the proxy's view of one plugin instance — its channel, state and breaker.

The handler reads ``state`` and the pre-built multi-callables on every call, so both are plain
attributes: no lookup or allocation per call beyond what gRPC does. The channel uses identity
serializers (requests and responses stay bytes), and is replaced when a managed plugin is
restarted on a new port. A CircuitBreaker per upstream turns a run of UNAVAILABLE answers into
immediate UNAVAILABLE replies, so callers never queue behind a dead backend.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Sequence
from typing import Any

import grpc

from prism.proxy.contract import ContractMethod
from prism.sdk.resilience import CircuitBreaker
from prism.sdk.server import MAX_MESSAGE_BYTES  # the plugins' limit: the proxy passes it on

_log = logging.getLogger(__name__)

CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # Reconnect quickly after a plugin restart instead of the default 1 s / 120 s backoff.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.enable_retries", 0),
)


class UpstreamState(enum.Enum):
    STARTING = "starting"  # not yet connected: calls get UNAVAILABLE
    SERVING = "serving"
    NOT_SERVING = "not_serving"  # reachable but its health says no: calls still forwarded
    DOWN = "down"  # process exited / being restarted: calls get UNAVAILABLE at once
    STOPPED = "stopped"  # proxy shutting down


_ROUTABLE = frozenset({UpstreamState.SERVING, UpstreamState.NOT_SERVING})

StateListener = Callable[["Upstream"], None]


def _counts_as_failure(exc: BaseException) -> bool:
    return isinstance(exc, grpc.aio.AioRpcError) and exc.code() is grpc.StatusCode.UNAVAILABLE


class Upstream:
    """One plugin instance as seen by the router (shared by every namespace it serves)."""

    def __init__(
        self,
        name: str,
        label: str,
        methods: Sequence[ContractMethod],
        *,
        breaker_open_seconds: float = 1.0,
    ) -> None:
        self.name = name
        self.label = label
        self.state = UpstreamState.STARTING
        self.reason = "starting"
        self.address: str | None = None
        # Contract services the plugin reported in Initialize (None: unknown, forward all).
        self.interfaces: frozenset[str] | None = None
        self.channel: grpc.aio.Channel | None = None
        self.unary: dict[str, Any] = {}
        self.streams: dict[str, Any] = {}
        self._methods = list(methods)
        self._listeners: list[StateListener] = []
        # Calls forwarded on the current channel: ended with UNAVAILABLE when it is dropped
        # (grpc does not reliably fail a call that is still waiting for a connection).
        self.in_flight: set[Any] = set()
        self.dropped: set[Any] = set()
        self.breaker = CircuitBreaker(
            f"upstream:{name}",
            minimum_calls=5,
            open_seconds=breaker_open_seconds,
            counts=_counts_as_failure,
        )

    @property
    def routable(self) -> bool:
        """Whether calls are forwarded (else they fail fast with UNAVAILABLE + ``reason``)."""
        return self.state in _ROUTABLE and self.channel is not None

    def add_listener(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    def set_state(self, state: UpstreamState, reason: str = "") -> None:
        changed = state is not self.state
        self.state = state
        self.reason = reason or state.value
        if changed:
            _log.info("upstream %s (%s): %s %s", self.name, self.label, state.value, reason)
            for listener in list(self._listeners):
                try:
                    listener(self)
                except Exception:
                    _log.exception("upstream %s: state listener failed", self.name)

    def connect(self, address: str) -> grpc.aio.Channel:
        """Open a channel to ``address`` and pre-build a raw-bytes callable per method."""
        channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        unary: dict[str, Any] = {}
        streams: dict[str, Any] = {}
        for m in self._methods:
            if m.server_streaming:
                streams[m.path] = channel.unary_stream(m.path)
            else:
                unary[m.path] = channel.unary_unary(m.path)
        self.unary, self.streams = unary, streams
        self.address = address
        self.channel = channel
        self.breaker.reset()
        return channel

    async def disconnect(self, grace: float | None = None) -> None:
        """Close the channel; calls still in flight on it end with UNAVAILABLE at once."""
        channel, self.channel = self.channel, None
        calls, self.in_flight = self.in_flight, set()
        self.dropped = calls
        for call in calls:
            call.cancel()
        if channel is not None:
            await channel.close(grace)
