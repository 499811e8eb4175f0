"""PubSubServicer streams: ending on cancel, Unsubscribe and drain without leaving tasks behind."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from prism.interfaces import pubsub_basic_pb2 as ps_pb
from prism.sdk.errors import InvalidArgumentError, UnavailableError
from prism.sdk.patterns import SUBSCRIBED_METADATA, PubSubServicer
from prism.sdk.patterns.pubsub import DRAINING_MESSAGE
from sdk.patterns.pubsub_fakes import FakeContext, MemBroker

REQUEST = ps_pb.SubscribeRequest(namespace="ns", topic="t", subscriber_id="s1")


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """What the loop's exception handler saw (e.g. "Task exception was never retrieved")."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: seen.append(context))
    yield seen
    loop.set_exception_handler(previous)


class Client:
    """Consumes one Subscribe stream in a task, as grpc would."""

    def __init__(self, servicer: PubSubServicer, request: ps_pb.SubscribeRequest = REQUEST):
        self.context = FakeContext()
        self.received: list[str] = []
        self.task = asyncio.ensure_future(self._consume(servicer.Subscribe(request, self.context)))

    async def _consume(self, stream: AsyncIterator[ps_pb.Message]) -> None:
        async for message in stream:
            self.received.append(message.message_id)

    async def subscribed(self) -> None:
        await asyncio.wait_for(self.context.subscribed.wait(), 5)
        assert self.context.metadata == SUBSCRIBED_METADATA


async def other_tasks() -> set[asyncio.Task[Any]]:
    for _ in range(5):
        await asyncio.sleep(0)
    return asyncio.all_tasks() - {asyncio.current_task()}


async def publish(servicer: PubSubServicer, payload: bytes = b"m") -> str:
    request = ps_pb.PublishRequest(namespace="ns", topic="t", payload=payload)
    return (await servicer.Publish(request, None)).message_id


async def stream_at_first_message() -> tuple[
    MemBroker, PubSubServicer, AsyncIterator[ps_pb.Message]
]:
    """A Subscribe stream driven by hand, suspended at the yield of its first message ("1")."""
    broker = MemBroker()
    servicer = PubSubServicer(broker)
    context = FakeContext()
    stream = servicer.Subscribe(REQUEST, context)
    first = asyncio.ensure_future(anext(stream))
    await asyncio.wait_for(context.subscribed.wait(), 5)
    await publish(servicer)
    assert (await asyncio.wait_for(first, 5)).message_id == "1"
    return broker, servicer, stream


async def client_in_slow_start() -> tuple[MemBroker, PubSubServicer, Client]:
    """A Subscribe stream whose subscription start hangs (joining the group takes forever)."""
    broker = MemBroker()
    broker.start_gate = asyncio.Event()
    servicer = PubSubServicer(broker)
    client = Client(servicer)
    await until(lambda: servicer.active_subscriptions == 1)
    return broker, servicer, client


async def until(cond: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.001)


@pytest.mark.parametrize("end_on_close", [True, False])
async def test_cancelled_stream_settles_its_next_message_task(
    end_on_close: bool, loop_errors: list[dict[str, Any]]
) -> None:
    broker = MemBroker()
    broker.end_on_close = end_on_close
    servicer = PubSubServicer(broker)
    client = Client(servicer)
    await client.subscribed()
    sub = broker.subscriptions[0]
    await publish(servicer)
    await until(lambda: client.received == ["1"])
    client.task.cancel()  # the client went away while the stream waited for a message
    with pytest.raises(asyncio.CancelledError):
        await client.task
    assert sub.anext_cancelled, "the pending next-message wait was cancelled"
    assert sub.closed and sub.acked == ["1"]
    assert await other_tasks() == set(), "no task left behind"
    gc.collect()
    await asyncio.sleep(0)
    assert loop_errors == []
    assert servicer.active_subscriptions == 0


async def test_stream_closed_at_a_yield_closes_everything(
    loop_errors: list[dict[str, Any]],
) -> None:
    broker, servicer, stream = await stream_at_first_message()
    await stream.aclose()  # type: ignore[attr-defined]
    sub = broker.subscriptions[0]
    assert sub.closed and sub.acked == []  # grpc never took the message: not acknowledged
    assert await other_tasks() == set()
    gc.collect()
    await asyncio.sleep(0)
    assert loop_errors == []


@pytest.mark.parametrize("end", ["drain", "close at a yield"])
async def test_failing_message_iterator_cleanup_still_closes(
    end: str, caplog: pytest.LogCaptureFixture
) -> None:
    broker, servicer, stream = await stream_at_first_message()
    sub = broker.subscriptions[0]
    sub.cleanup_error = RuntimeError("cleanup bug")
    with caplog.at_level(logging.DEBUG, logger="prism.sdk.patterns.pubsub"):
        if end == "drain":  # the iterator fails while its pending wait is cancelled
            second = asyncio.ensure_future(anext(stream))
            await asyncio.wait_for(sub.waiting.wait(), 5)
            servicer.on_drain_start()
            with pytest.raises(UnavailableError):
                await asyncio.wait_for(second, 5)
        else:  # the iterator fails while being closed
            await stream.aclose()  # type: ignore[attr-defined]
    assert sub.closed and "cleanup bug" in caplog.text
    assert await other_tasks() == set()


async def test_unsubscribe_ends_the_stream_ok() -> None:
    broker = MemBroker()
    servicer = PubSubServicer(broker)
    client = Client(servicer)
    await client.subscribed()
    assert servicer.active_subscriptions == 1
    unsub = ps_pb.UnsubscribeRequest(namespace="ns", topic="t", subscriber_id="s1")
    assert (await servicer.Unsubscribe(unsub, None)).unsubscribed
    await asyncio.wait_for(client.task, 5)  # ends without error
    assert not (await servicer.Unsubscribe(unsub, None)).unsubscribed
    assert broker.subscriptions[0].closed and servicer.active_subscriptions == 0


async def test_broker_ending_its_messages_ends_the_stream() -> None:
    broker = MemBroker()
    servicer = PubSubServicer(broker)
    client = Client(servicer)
    await client.subscribed()
    broker.subscriptions[0].queue.put_nowait(None)
    await asyncio.wait_for(client.task, 5)
    assert broker.subscriptions[0].closed


async def test_drain_ends_live_streams_with_unavailable_acking_only_written() -> None:
    broker = MemBroker()
    servicer = PubSubServicer(broker)
    clients = [Client(servicer, REQUEST), Client(servicer, REQUEST)]
    for client in clients:
        await client.subscribed()
    await publish(servicer)
    await until(lambda: all(c.received == ["1"] for c in clients))
    servicer.on_drain_start()
    for client in clients:
        with pytest.raises(UnavailableError) as info:
            await asyncio.wait_for(client.task, 5)
        assert info.value.message == DRAINING_MESSAGE
    assert [s.acked for s in broker.subscriptions] == [["1"], ["1"]]
    assert all(s.closed for s in broker.subscriptions)
    assert servicer.active_subscriptions == 0
    servicer.on_drain_start()  # nothing live: a no-op


async def test_drain_interrupts_a_slow_start() -> None:
    broker, servicer, client = await client_in_slow_start()
    servicer.on_drain_start()
    with pytest.raises(UnavailableError):
        await asyncio.wait_for(client.task, 5)
    sub = broker.subscriptions[0]
    assert sub.start_cancelled and sub.closed
    assert client.context.metadata is None  # never reported as subscribed
    assert await other_tasks() == set()


async def test_unsubscribe_interrupts_a_slow_start() -> None:
    broker, servicer, client = await client_in_slow_start()
    unsub = ps_pb.UnsubscribeRequest(namespace="ns", topic="t", subscriber_id="s1")
    assert (await servicer.Unsubscribe(unsub, None)).unsubscribed
    await asyncio.wait_for(client.task, 5)
    assert broker.subscriptions[0].start_cancelled and client.received == []


async def test_start_failure_reaches_the_client() -> None:
    broker = MemBroker()
    broker.start_error = UnavailableError("no partitions")
    servicer = PubSubServicer(broker)
    client = Client(servicer)
    with pytest.raises(UnavailableError, match="no partitions"):
        await asyncio.wait_for(client.task, 5)
    assert broker.subscriptions[0].closed and servicer.active_subscriptions == 0


async def test_cancelled_during_start_settles_the_start() -> None:
    broker, servicer, client = await client_in_slow_start()
    client.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await client.task
    assert broker.subscriptions[0].start_cancelled and broker.subscriptions[0].closed
    assert await other_tasks() == set()


async def test_subscriber_id_is_required() -> None:
    servicer = PubSubServicer(MemBroker())
    client = Client(servicer, ps_pb.SubscribeRequest(namespace="ns", topic="t"))
    with pytest.raises(InvalidArgumentError):
        await client.task


async def test_publish_passes_the_ordering_key_to_the_broker() -> None:
    broker = MemBroker()
    servicer = PubSubServicer(broker)
    await servicer.Publish(ps_pb.PublishRequest(namespace="ns", topic="t", ordering_key="k"), None)
    await publish(servicer)
    assert broker.ordering_keys == ["k", ""]
