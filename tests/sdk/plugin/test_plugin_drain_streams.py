"""Drain with live Subscribe streams: drain hooks end them, so shutdown does not wait them out."""

from __future__ import annotations

import asyncio
import logging
import signal
import textwrap
import time

import grpc
import pytest

from prism.interfaces import lifecycle_pb2 as lc_pb
from prism.interfaces import lifecycle_pb2_grpc as lc_grpc
from prism.interfaces import pubsub_basic_pb2 as ps_pb
from prism.interfaces import pubsub_basic_pb2_grpc as ps_grpc
from prism.sdk.patterns import SUBSCRIBED_METADATA, pubsub_binding
from prism.sdk.patterns.pubsub import DRAINING_MESSAGE
from prism.sdk.plugin import DrainAware, PluginRuntime
from sdk.patterns.pubsub_fakes import MemBroker
from sdk.plugin.plugin_fakes import (
    first_line,
    make_pubsub_plugin,
    plugin_process,
    start_serving,
    stderr_text,
)

DRAIN_TIMEOUT = 60.0  # what a drain would take if the live streams held it open
PROMPT = 20.0  # "well under": generous for loaded CI machines, far below DRAIN_TIMEOUT


class Subscriber:
    """One client Subscribe stream, read in the background."""

    def __init__(
        self, channel: grpc.aio.Channel, subscriber_id: str = "s1", *, reading: bool = True
    ) -> None:
        self.stub = ps_grpc.PubSubBasicInterfaceStub(channel)
        self.subscriber_id = subscriber_id
        request = ps_pb.SubscribeRequest(namespace="ns", topic="t", subscriber_id=subscriber_id)
        self.call = self.stub.Subscribe(request, timeout=120)
        self.received: list[str] = []
        self.task = asyncio.ensure_future(
            self._read() if reading else self.call.wait_for_connection()
        )

    async def _read(self) -> None:
        async for message in self.call:
            self.received.append(message.message_id)
            ack = ps_pb.AckRequest(
                namespace="ns",
                topic="t",
                subscriber_id=self.subscriber_id,
                ack_ids=[message.ack_id],
            )
            await self.stub.Ack(ack, timeout=5)

    async def subscribed(self) -> None:
        metadata = await asyncio.wait_for(self.call.initial_metadata(), 10)
        assert tuple(metadata) == SUBSCRIBED_METADATA

    async def ended_by_drain(self) -> None:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await asyncio.wait_for(self.task, PROMPT)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert info.value.details() == DRAINING_MESSAGE


async def publish(channel: grpc.aio.Channel, n: int) -> list[str]:
    stub = ps_grpc.PubSubBasicInterfaceStub(channel)
    request = ps_pb.PublishRequest(namespace="ns", topic="t", payload=b"m")
    return [(await stub.Publish(request, timeout=5)).message_id for _ in range(n)]


async def until(cond: object, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_shutdown_with_a_live_subscriber_is_prompt() -> None:
    plugin = make_pubsub_plugin(DRAIN_TIMEOUT)
    task, shutdown, out = await start_serving(plugin, managed=False)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{out.port}") as channel:
        subscriber = Subscriber(channel)
        await subscriber.subscribed()
        ids = await publish(channel, 2)
        (sub,) = plugin.broker.subscriptions
        await until(lambda: sub.acked == ids)  # no Ack in flight when shutdown starts
        started = time.monotonic()
        shutdown.set()  # what the SIGTERM handler does
        await subscriber.ended_by_drain()
        assert await asyncio.wait_for(task, PROMPT) == 0
        elapsed = time.monotonic() - started
    assert elapsed < DRAIN_TIMEOUT / 2, f"shutdown took {elapsed:.1f}s"
    assert subscriber.received == ids and sub.closed
    assert plugin.calls == ["on_drain_start", "drain"]


@pytest.mark.parametrize("end", ["unsubscribe", "drain"])
async def test_stream_of_a_client_that_stopped_reading_ends(end: str) -> None:
    """Item 14: writes blocked by flow control must not keep a stream open after Unsubscribe,
    nor hold Drain for its whole timeout (before, the stream stayed in a blocked write)."""
    plugin = make_pubsub_plugin(DRAIN_TIMEOUT)
    task, shutdown, out = await start_serving(plugin, managed=False)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{out.port}") as channel:
        stalled = Subscriber(channel, reading=False)
        await stalled.subscribed()
        (sub,) = plugin.broker.subscriptions
        stub = ps_grpc.PubSubBasicInterfaceStub(channel)
        big = ps_pb.PublishRequest(namespace="ns", topic="t", payload=b"x" * 256 * 1024)
        for _ in range(64):  # 16 MiB: far past the HTTP/2 windows, so a write blocks
            await stub.Publish(big, timeout=5)
        await asyncio.sleep(0.5)
        assert sub.queue.qsize() > 0, "the stream's writes should be blocked"
        started = time.monotonic()
        if end == "unsubscribe":
            unsub = ps_pb.UnsubscribeRequest(namespace="ns", topic="t", subscriber_id="s1")
            assert (await stub.Unsubscribe(unsub, timeout=5)).unsubscribed
            await until(lambda: sub.closed, timeout=PROMPT)
        else:
            shutdown.set()
            assert await asyncio.wait_for(task, PROMPT) == 0
        elapsed = time.monotonic() - started
        assert sub.closed and sub.acked == []
        stalled.call.cancel()
    assert elapsed < PROMPT
    if end == "unsubscribe":
        shutdown.set()
        assert await asyncio.wait_for(task, PROMPT) == 0


async def test_drain_rpc_with_live_subscribers_then_start_again() -> None:
    plugin = make_pubsub_plugin(DRAIN_TIMEOUT)
    task, _, out = await start_serving(plugin, managed=True)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{out.port}") as channel:
        lc = lc_grpc.LifecycleInterfaceStub(channel)
        await lc.Initialize(lc_pb.InitializeRequest(), timeout=5)
        await lc.Start(lc_pb.StartRequest(), timeout=5)
        subscribers = [Subscriber(channel, "a"), Subscriber(channel, "b")]
        for subscriber in subscribers:
            await subscriber.subscribed()
        drained = await lc.Drain(lc_pb.DrainRequest(timeout_seconds=DRAIN_TIMEOUT), timeout=PROMPT)
        assert drained.remaining_requests == 0
        for subscriber in subscribers:
            await subscriber.ended_by_drain()

        await lc.Start(lc_pb.StartRequest(), timeout=5)  # serving again: subscribing works
        again = Subscriber(channel, "a")
        await again.subscribed()
        ids = await publish(channel, 1)
        await until(lambda: again.received == ids and plugin.broker.subscriptions[-1].acked == ids)
        await lc.Stop(lc_pb.StopRequest(timeout_seconds=DRAIN_TIMEOUT), timeout=PROMPT)
        await again.ended_by_drain()
    assert await asyncio.wait_for(task, PROMPT) == 0
    assert plugin.calls == ["on_drain_start", "drain"] * 2


async def test_failing_drain_hook_is_logged_and_drain_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plugin = make_pubsub_plugin(DRAIN_TIMEOUT)
    runtime = PluginRuntime(plugin)
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("hook bug")

    async def ending() -> None:
        ran.append("async hook")

    def plain() -> None:
        ran.append("sync hook")

    runtime.add_drain_hook(broken)
    runtime.add_drain_hook(ending)
    runtime.add_drain_hook(plain)
    await runtime.initialize()
    await runtime.start()
    with caplog.at_level(logging.ERROR):
        assert await runtime.drain(5.0) == 0
    assert ran == ["async hook", "sync hook"]
    assert "drain hook" in caplog.text and "hook bug" in caplog.text
    assert plugin.calls == ["on_drain_start", "drain"]
    await runtime.stop()


def test_pubsub_servicer_is_drain_aware() -> None:
    assert isinstance(pubsub_binding(MemBroker).servicer, DrainAware)


CHILD = textwrap.dedent(
    """
    from prism.sdk.plugin import run_plugin
    from sdk.plugin.plugin_fakes import PubSubPlugin

    raise SystemExit(run_plugin(PubSubPlugin))
    """
)


async def test_sigterm_with_a_live_subscriber_exits_promptly() -> None:
    env = {"PRISM_DRAINTEST_DRAIN_TIMEOUT": f"{DRAIN_TIMEOUT:g}s"}
    async with plugin_process("-c", CHILD, "--port", "0", **env) as proc:
        line = await first_line(proc)
        assert "listening on" in line, line
        async with grpc.aio.insecure_channel(line.strip().rsplit(" ", 1)[1]) as channel:
            subscriber = Subscriber(channel)
            await subscriber.subscribed()
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            await subscriber.ended_by_drain()
            assert await asyncio.wait_for(proc.wait(), PROMPT) == 0
            elapsed = time.monotonic() - started
        stderr = await stderr_text(proc)
        assert "drained (0 remaining)" in stderr and "drain timed out" not in stderr
        assert elapsed < DRAIN_TIMEOUT / 2, f"SIGTERM shutdown took {elapsed:.1f}s"
