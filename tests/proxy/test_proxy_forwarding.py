"""Forwarding details against a scripted in-process upstream (an ``endpoint:`` plugin).

A fake upstream lets each test see exactly what the proxy sent (deadline, metadata) and make
the upstream fail or stream on cue, without starting plugin processes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_health.v1.health import aio as health_aio

from prism.interfaces import keyvalue_basic_pb2 as kv
from prism.interfaces import keyvalue_basic_pb2_grpc as kv_grpc
from prism.interfaces import keyvalue_scan_pb2 as scan
from prism.interfaces import keyvalue_scan_pb2_grpc as scan_grpc
from prism.interfaces import pubsub_basic_pb2 as ps
from prism.interfaces import pubsub_basic_pb2_grpc as ps_grpc
from prism.proxy import ProxyServer, UpstreamState, parse_config
from prism.proxy.health import NOT_SERVING
from prism.sdk.resilience import BreakerState


@dataclass
class Fake:
    """Scripted upstream behaviour and what it observed."""

    fail: tuple[grpc.StatusCode, str] | None = None
    seen_timeout: list[float | None] = field(default_factory=list)
    seen_metadata: list[dict[str, str]] = field(default_factory=list)
    scan_items: int = 3
    stream_cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    written: int = 0
    hang: bool = False
    subscribes: int = 0
    acks: list[ps.AckRequest] = field(default_factory=list)
    to_deliver: list[ps.Message] = field(default_factory=list)

    async def get(self, request: kv.GetRequest, context: Any) -> kv.GetResponse:
        self.seen_timeout.append(context.time_remaining())
        self.seen_metadata.append({m.key: m.value for m in context.invocation_metadata()})
        if self.fail is not None:
            await context.abort(*self.fail)
        if self.hang:
            await asyncio.sleep(3600)
        return kv.GetResponse(value=f"{request.namespace}/{request.key}".encode())

    async def scan(self, request: scan.ScanRequest, context: Any) -> AsyncIterator[scan.ScanItem]:
        await context.send_initial_metadata((("x-fake", "hello"),))
        finished = False
        try:
            for i in range(self.scan_items):
                yield scan.ScanItem(key=f"{request.prefix}{i}", cursor=str(i))
                self.written += 1
            finished = True
        finally:
            # Cancellation reaches an async-generator handler as GeneratorExit (aclose).
            if not finished:
                self.stream_cancelled.set()
        if self.fail is not None:
            await context.abort(*self.fail)

    async def subscribe(self, request: ps.SubscribeRequest, context: Any) -> None:
        self.subscribes += 1
        await context.send_initial_metadata((("prism-subscribed", "1"),))
        for message in self.to_deliver:
            await context.write(message)
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.stream_cancelled.set()
            raise

    async def ack(self, request: ps.AckRequest, context: Any) -> ps.AckResponse:
        self.acks.append(request)
        return ps.AckResponse(acknowledged=len(request.ack_ids))


async def _start_fake(fake: Fake) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "prism.KeyValueBasicInterface",
                {
                    "Get": grpc.unary_unary_rpc_method_handler(
                        fake.get, kv.GetRequest.FromString, kv.GetResponse.SerializeToString
                    ),
                },
            ),
            grpc.method_handlers_generic_handler(
                "prism.KeyValueScanInterface",
                {
                    "Scan": grpc.unary_stream_rpc_method_handler(
                        fake.scan, scan.ScanRequest.FromString, scan.ScanItem.SerializeToString
                    ),
                },
            ),
            grpc.method_handlers_generic_handler(
                "prism.PubSubBasicInterface",
                {
                    "Subscribe": grpc.unary_stream_rpc_method_handler(
                        fake.subscribe, ps.SubscribeRequest.FromString, ps.Message.SerializeToString
                    ),
                    "Ack": grpc.unary_unary_rpc_method_handler(
                        fake.ack, ps.AckRequest.FromString, ps.AckResponse.SerializeToString
                    ),
                },
            ),
        ]
    )
    health = health_aio.HealthServicer()
    from grpc_health.v1 import health_pb2_grpc

    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


@pytest.fixture
async def rig() -> AsyncIterator[tuple[Fake, ProxyServer, grpc.aio.Channel]]:
    fake = Fake()
    server, port = await _start_fake(fake)
    config = parse_config(
        {
            "port": 0,
            "namespaces": {"fake": {"endpoint": f"127.0.0.1:{port}"}},
            "supervision": {"health_interval": "0.2s", "breaker_open_seconds": "30s"},
        }
    )
    proxy = ProxyServer(config)
    await proxy.start()
    channel = grpc.aio.insecure_channel(proxy.address)
    try:
        yield fake, proxy, channel
    finally:
        await channel.close()
        await proxy.stop(grace=0.5)
        await server.stop(0)


async def test_deadline_and_metadata_go_upstream(rig: Any) -> None:
    fake, _, channel = rig
    stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
    reply = await stub.Get(
        kv.GetRequest(namespace="fake", key="k"),
        timeout=5.0,
        metadata=(("x-request-id", "rid-1"), ("x-other", "v")),
    )
    assert reply.value == b"fake/k"
    # gRPC encodes timeouts coarsely (rounded up), so allow a small excess over 5 s.
    assert fake.seen_timeout[-1] is not None and 3.0 < fake.seen_timeout[-1] <= 5.1
    assert fake.seen_metadata[-1]["x-request-id"] == "rid-1"
    assert fake.seen_metadata[-1]["x-other"] == "v"
    await stub.Get(kv.GetRequest(namespace="fake", key="k"))
    assert fake.seen_timeout[-1] is None  # no deadline stays no deadline


async def test_callers_credentials_are_not_forwarded_upstream(rig: Any) -> None:
    fake, _, channel = rig
    stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
    await stub.Get(
        kv.GetRequest(namespace="fake", key="k"),
        timeout=5.0,
        metadata=(("authorization", "Bearer secret-token"), ("x-request-id", "rid-2")),
    )
    assert "authorization" not in fake.seen_metadata[-1]
    assert fake.seen_metadata[-1]["x-request-id"] == "rid-2"


async def test_upstream_error_code_and_details_unchanged(rig: Any) -> None:
    fake, _, channel = rig
    fake.fail = (grpc.StatusCode.FAILED_PRECONDITION, "custom details \u2713")
    stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Get(kv.GetRequest(namespace="fake", key="k"))
    assert info.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert info.value.details() == "custom details \u2713"


async def test_stream_passes_initial_metadata_items_and_trailing_error(rig: Any) -> None:
    fake, _, channel = rig
    fake.scan_items = 4
    fake.fail = (grpc.StatusCode.RESOURCE_EXHAUSTED, "too much")
    call = scan_grpc.KeyValueScanInterfaceStub(channel).Scan(
        scan.ScanRequest(namespace="fake", prefix="p")
    )
    assert ("x-fake", "hello") in tuple(await call.initial_metadata())
    keys = []
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for item in call:
            keys.append(item.key)
    assert keys == ["p0", "p1", "p2", "p3"]
    assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert info.value.details() == "too much"


async def test_client_cancel_cancels_upstream_stream(rig: Any) -> None:
    fake, _, channel = rig
    call = ps_grpc.PubSubBasicInterfaceStub(channel).Subscribe(
        ps.SubscribeRequest(namespace="fake", topic="t", subscriber_id="s")
    )
    assert ("prism-subscribed", "1") in tuple(await call.initial_metadata())
    call.cancel()
    await asyncio.wait_for(fake.stream_cancelled.wait(), 5.0)


async def test_slow_reader_applies_backpressure(rig: Any) -> None:
    fake, _, channel = rig
    fake.scan_items = 100_000
    call = scan_grpc.KeyValueScanInterfaceStub(channel).Scan(
        scan.ScanRequest(namespace="fake", prefix="p")
    )
    await call.read()
    await asyncio.sleep(0.3)  # the client reads nothing more
    assert fake.written < fake.scan_items  # the upstream was held back, not drained into RAM
    call.cancel()
    await asyncio.wait_for(fake.stream_cancelled.wait(), 5.0)


async def test_dead_upstream_fails_fast_then_breaker_opens(rig: Any) -> None:
    fake, proxy, channel = rig
    upstream = proxy.upstreams["fake"]
    # Point the upstream at a closed port: every forwarded call is UNAVAILABLE.
    await upstream.disconnect()
    upstream.connect("127.0.0.1:1")
    stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
    codes = []
    started = time.monotonic()
    for _ in range(8):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Get(kv.GetRequest(namespace="fake", key="k"), timeout=10)
        codes.append(info.value.code())
    assert set(codes) == {grpc.StatusCode.UNAVAILABLE}
    assert time.monotonic() - started < 5.0  # never waits out the 10 s deadline
    assert "circuit" in info.value.details()


async def test_open_breaker_sends_nothing_upstream(rig: Any) -> None:
    fake, proxy, channel = rig
    stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
    subscribe = ps_grpc.PubSubBasicInterfaceStub(channel).Subscribe
    fake.fail = (grpc.StatusCode.UNAVAILABLE, "backend down")
    for _ in range(5):  # the breaker's minimum_calls, all failing: it opens
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.Get(kv.GetRequest(namespace="fake", key="k"))
    breaker = proxy.upstreams["fake"].breaker
    assert breaker.state is BreakerState.OPEN
    reached = len(fake.seen_timeout)
    for _ in range(10):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Get(kv.GetRequest(namespace="fake", key="k"))
        assert info.value.code() is grpc.StatusCode.UNAVAILABLE
        assert "circuit breaker" in info.value.details()
        with pytest.raises(grpc.aio.AioRpcError) as info:
            async for _ in subscribe(
                ps.SubscribeRequest(namespace="fake", topic="t", subscriber_id="s")
            ):
                pass
        assert info.value.code() is grpc.StatusCode.UNAVAILABLE
    # A call admitted after the rejected ones is a barrier: once it has been answered, any
    # rejected call that had been sent anyway would have arrived before it.
    breaker.reset()
    fake.fail = None
    await stub.Get(kv.GetRequest(namespace="fake", key="after"))
    await asyncio.sleep(0.2)
    assert len(fake.seen_timeout) == reached + 1
    assert fake.subscribes == 0


async def test_calls_in_flight_end_unavailable_when_the_upstream_drops(rig: Any) -> None:
    fake, proxy, channel = rig
    fake.hang = True
    upstream = proxy.upstreams["fake"]
    get = kv_grpc.KeyValueBasicInterfaceStub(channel).Get(
        kv.GetRequest(namespace="fake", key="k"), timeout=30
    )
    sub = ps_grpc.PubSubBasicInterfaceStub(channel).Subscribe(
        ps.SubscribeRequest(namespace="fake", topic="t", subscriber_id="s"), timeout=30
    )
    await sub.initial_metadata()
    while not fake.seen_timeout:  # the Get reached the upstream and hangs there
        await asyncio.sleep(0.01)
    started = time.monotonic()
    upstream.set_state(UpstreamState.DOWN, "process exited")
    await upstream.disconnect()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await get
    assert info.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "went down during the call" in info.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for _ in sub:
            pass
    assert info.value.code() is grpc.StatusCode.UNAVAILABLE
    assert time.monotonic() - started < 5.0  # not the 30 s deadline


async def test_not_routable_upstream_is_unavailable_at_once(rig: Any) -> None:
    _, proxy, channel = rig
    upstream = proxy.upstreams["fake"]
    upstream.set_state(UpstreamState.DOWN, "testing")
    stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Get(kv.GetRequest(namespace="fake", key="k"), timeout=10)
    assert info.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "testing" in info.value.details() and "'fake'" in info.value.details()
    await asyncio.sleep(0.05)  # the health update is pushed asynchronously
    assert proxy.health.statuses()["fake"] == NOT_SERVING


async def test_malformed_request_is_invalid_argument(rig: Any) -> None:
    _, _, channel = rig
    raw = channel.unary_unary("/prism.KeyValueBasicInterface/Get")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await raw(b"\x0a\xff\xff")
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_health_constants() -> None:
    assert NOT_SERVING == health_pb2.HealthCheckResponse.NOT_SERVING


async def test_ack_ids_pass_through_and_ack_is_forwarded(rig: Any) -> None:
    """Subscribe relays ack_id and delivery_attempt; the unary Ack reaches the namespace's
    plugin unchanged (the proxy builds its handlers from the contract descriptors)."""
    fake, _, channel = rig
    fake.to_deliver = [ps.Message(topic="t", message_id="7-0", ack_id="7-0", delivery_attempt=3)]
    stub = ps_grpc.PubSubBasicInterfaceStub(channel)
    call = stub.Subscribe(ps.SubscribeRequest(namespace="fake", topic="t", subscriber_id="s"))
    try:
        message = await asyncio.wait_for(call.read(), 10)
        assert (message.ack_id, message.delivery_attempt) == ("7-0", 3)
        request = ps.AckRequest(namespace="fake", topic="t", subscriber_id="s", ack_ids=["7-0"])
        assert (await stub.Ack(request, timeout=5)).acknowledged == 1
    finally:
        call.cancel()
    assert fake.acks == [request]
