"""PubSubServicer streams: the ack model (client acks, deadlines, flow control, AUTO mode) and
ending on cancel, Unsubscribe and drain without leaving tasks behind."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from prism.interfaces import pubsub_basic_pb2 as ps_pb
from prism.sdk.errors import InvalidArgumentError, UnavailableError
from prism.sdk.limits import DEFAULT_ACK_DEADLINE_SECONDS, MAX_ACK_IDS, MAX_MAX_OUTSTANDING
from prism.sdk.patterns import SUBSCRIBED_METADATA, BrokerMessage, PubSubServicer
from prism.sdk.patterns.pubsub import DRAINING_MESSAGE
from sdk.patterns.pubsub_fakes import FakeContext, MemBroker

REQUEST = ps_pb.SubscribeRequest(namespace="ns", topic="t", subscriber_id="s1")
UNSUB = ps_pb.UnsubscribeRequest(namespace="ns", topic="t", subscriber_id="s1")


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
    """Runs one Subscribe call in a task, as grpc would; ``received`` is what it wrote."""

    def __init__(self, servicer: PubSubServicer, request: ps_pb.SubscribeRequest = REQUEST):
        self.context = FakeContext()
        self.task = asyncio.ensure_future(servicer.Subscribe(request, self.context))

    @property
    def received(self) -> list[str]:
        return [m.message_id for m in self.context.written]

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


async def stream_writing_first_message(
    request: ps_pb.SubscribeRequest = REQUEST,
) -> tuple[MemBroker, PubSubServicer, Client]:
    """A Subscribe call whose write of its first message ("1") waits (the client stopped
    reading)."""
    broker = MemBroker()
    servicer = PubSubServicer(broker)
    client = Client(servicer, request)
    client.context.write_gate = asyncio.Event()
    await client.subscribed()
    await publish(servicer)
    await asyncio.wait_for(client.context.write_waiting.wait(), 5)
    return broker, servicer, client


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
    assert sub.closed and sub.acked == [], "never acknowledged by the client"
    assert await other_tasks() == set(), "no task left behind"
    gc.collect()
    await asyncio.sleep(0)
    assert loop_errors == []
    assert servicer.active_subscriptions == 0


async def test_cancelled_during_a_write_closes_everything(
    loop_errors: list[dict[str, Any]],
) -> None:
    broker, servicer, client = await stream_writing_first_message()
    client.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await client.task
    sub = broker.subscriptions[0]
    assert sub.closed and sub.acked == []  # the client never got it: not acknowledged
    assert await other_tasks() == set()
    gc.collect()
    await asyncio.sleep(0)
    assert loop_errors == []


async def test_failing_message_iterator_cleanup_still_closes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = MemBroker()
    servicer = PubSubServicer(broker)
    client = Client(servicer)
    await client.subscribed()
    sub = broker.subscriptions[0]
    sub.cleanup_error = RuntimeError("cleanup bug")
    await asyncio.wait_for(sub.waiting.wait(), 5)
    with caplog.at_level(logging.DEBUG, logger="prism.sdk.patterns.pubsub"):
        servicer.on_drain_start()  # the iterator fails while its pending wait is cancelled
        with pytest.raises(UnavailableError):
            await asyncio.wait_for(client.task, 5)
    assert sub.closed and "cleanup bug" in caplog.text
    assert await other_tasks() == set()


@pytest.mark.parametrize("end", ["unsubscribe", "drain"])
async def test_stream_blocked_on_a_write_ends_promptly(end: str) -> None:
    """Item 14: a client that stops reading must not keep Unsubscribe or Drain waiting."""
    broker, servicer, client = await stream_writing_first_message()
    if end == "unsubscribe":
        assert (await servicer.Unsubscribe(UNSUB, None)).unsubscribed
        await asyncio.wait_for(client.task, 5)
    else:
        servicer.on_drain_start()
        with pytest.raises(UnavailableError):
            await asyncio.wait_for(client.task, 5)
    assert client.context.write_cancelled and broker.subscriptions[0].closed
    assert broker.subscriptions[0].acked == [] and servicer.active_subscriptions == 0


async def test_unsubscribe_ends_the_stream_ok() -> None:
    broker = MemBroker()
    servicer = PubSubServicer(broker)
    client = Client(servicer)
    await client.subscribed()
    assert servicer.active_subscriptions == 1
    assert (await servicer.Unsubscribe(UNSUB, None)).unsubscribed
    await asyncio.wait_for(client.task, 5)  # ends without error
    assert not (await servicer.Unsubscribe(UNSUB, None)).unsubscribed
    assert broker.subscriptions[0].closed and servicer.active_subscriptions == 0


@pytest.mark.parametrize("lost", [1, 3])
async def test_unsubscribe_ends_a_stream_whose_cancel_was_lost(lost: int) -> None:
    """Python 3.11's asyncio.wait_for returns normally when a cancel lands as its inner future
    finishes (CPython gh-86296); redis-py wraps every send in it. The Redis Cluster stream then
    read on and Unsubscribe waited for ever (CI: stream still open 15 s after Unsubscribe)."""
    broker = MemBroker()
    servicer = PubSubServicer(broker)
    client = Client(servicer)
    await client.subscribed()
    sub = broker.subscriptions[0]
    sub.lost_cancels = lost
    broker.end_on_close = False  # the stream must end by cancellation, not by close()
    await asyncio.wait_for(sub.waiting.wait(), 5)
    assert (await servicer.Unsubscribe(UNSUB, None)).unsubscribed
    try:
        await asyncio.wait_for(client.task, 5)
    finally:
        lost_left, sub.lost_cancels = sub.lost_cancels, 0  # a failed run must not hang teardown
    assert lost_left == 0 and sub.closed and servicer.active_subscriptions == 0
    assert await other_tasks() == set()


async def test_broker_ending_its_messages_ends_the_stream() -> None:
    broker = MemBroker()
    servicer = PubSubServicer(broker)
    client = Client(servicer)
    await client.subscribed()
    broker.subscriptions[0].queue.put_nowait(None)
    await asyncio.wait_for(client.task, 5)
    assert broker.subscriptions[0].closed


async def test_drain_ends_live_streams_with_unavailable_acking_nothing_unacked() -> None:
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
    assert [s.acked for s in broker.subscriptions] == [[], []]
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
    assert (await servicer.Unsubscribe(UNSUB, None)).unsubscribed
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


# -- the ack model ---------------------------------------------------------------------------


async def ack(servicer: PubSubServicer, ids: Sequence[str], subscriber: str = "s1") -> int:
    request = ps_pb.AckRequest(namespace="ns", topic="t", subscriber_id=subscriber, ack_ids=ids)
    return (await servicer.Ack(request, None)).acknowledged


def request(**fields: Any) -> ps_pb.SubscribeRequest:
    return ps_pb.SubscribeRequest(namespace="ns", topic="t", subscriber_id="s1", **fields)


async def test_client_mode_acks_only_what_the_client_acknowledges() -> None:
    broker = MemBroker()
    servicer = PubSubServicer(broker)
    client = Client(servicer)
    await client.subscribed()
    ids = [await publish(servicer) for _ in range(3)]
    await until(lambda: client.received == ids)
    assert [m.ack_id for m in client.context.written] == ids  # ack id = message id
    assert [m.delivery_attempt for m in client.context.written] == [1, 1, 1]
    assert broker.subscriptions[0].acked == [], "written is not acknowledged"
    assert await ack(servicer, [ids[0], ids[2], "no-such-id"]) == 2
    assert broker.ack_batches == [[ids[0], ids[2]]], "one batch per Ack"
    assert await ack(servicer, [ids[0]]) == 0, "already acknowledged"
    assert await ack(servicer, [ids[1]], subscriber="other") == 0, "another subscriber id"
    assert broker.ack_deadlines == [DEFAULT_ACK_DEADLINE_SECONDS]
    client.task.cancel()
    await asyncio.gather(client.task, return_exceptions=True)
    assert broker.subscriptions[0].acked == [ids[0], ids[2]], "the unacked one stays unacked"


async def test_unacknowledged_message_is_written_again_after_its_deadline() -> None:
    broker = MemBroker()
    servicer = PubSubServicer(broker)
    client = Client(servicer, request(ack_deadline_ms=1000))
    await client.subscribed()
    first, second = await publish(servicer), await publish(servicer)
    await until(lambda: client.received == [first, second])
    assert await ack(servicer, [second]) == 1
    await until(lambda: len(client.received) == 3, timeout=5)
    again = client.context.written[2]
    assert (again.message_id, again.ack_id, again.delivery_attempt) == (first, first, 2)
    assert broker.ack_deadlines == [1.0]
    assert await ack(servicer, [first]) == 1
    await asyncio.sleep(1.3)
    assert len(client.received) == 3, "acknowledged: not written again"
    client.task.cancel()
    await asyncio.gather(client.task, return_exceptions=True)


async def test_flow_control_stops_pulling_at_max_outstanding() -> None:
    broker = MemBroker()
    servicer = PubSubServicer(broker)
    client = Client(servicer, request(max_outstanding=2))
    await client.subscribed()
    ids = [await publish(servicer) for _ in range(5)]
    await until(lambda: client.received == ids[:2])
    await asyncio.sleep(0.1)
    assert client.received == ids[:2], "no more than max_outstanding unacknowledged"
    assert broker.subscriptions[0].queue.qsize() == 3, "the rest stays with the broker"
    assert await ack(servicer, ids[:1]) == 1
    await until(lambda: client.received == ids[:3])
    assert await ack(servicer, ids[1:3]) == 2
    await until(lambda: client.received == ids)
    client.task.cancel()
    await asyncio.gather(client.task, return_exceptions=True)


async def test_message_given_again_while_outstanding_is_not_sent_twice() -> None:
    broker = MemBroker()
    servicer = PubSubServicer(broker)
    client = Client(servicer)
    await client.subscribed()
    message_id = await publish(servicer)
    sub = broker.subscriptions[0]
    sub.queue.put_nowait(BrokerMessage("t", message_id, b"m", {}, delivery_attempt=2))
    later = await publish(servicer)
    await until(lambda: client.received[-1:] == [later])
    assert client.received == [message_id, later]
    client.task.cancel()
    await asyncio.gather(client.task, return_exceptions=True)


async def test_auto_mode_acks_each_message_once_written() -> None:
    broker = MemBroker()
    servicer = PubSubServicer(broker)
    client = Client(servicer, request(ack_mode=ps_pb.ACK_MODE_AUTO, max_outstanding=1))
    await client.subscribed()
    ids = [await publish(servicer) for _ in range(3)]
    await until(lambda: broker.subscriptions[0].acked == ids)
    assert client.received == ids  # max_outstanding does not hold back AUTO mode
    assert [m.ack_id for m in client.context.written] == ["", "", ""]
    assert await ack(servicer, ids) == 0
    client.task.cancel()
    await asyncio.gather(client.task, return_exceptions=True)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"ack_deadline_ms": 999}, "ack_deadline_ms"),
        ({"ack_deadline_ms": 600_001}, "ack_deadline_ms"),
        ({"max_outstanding": MAX_MAX_OUTSTANDING + 1}, "max_outstanding"),
    ],
)
async def test_bad_ack_options_are_invalid(fields: dict[str, int], named: str) -> None:
    broker = MemBroker()
    client = Client(PubSubServicer(broker), request(**fields))
    with pytest.raises(InvalidArgumentError, match=named):
        await client.task
    assert broker.subscriptions == []


@pytest.mark.parametrize(
    ("ids", "named"), [(["x"] * (MAX_ACK_IDS + 1), "ack_ids"), (["1", ""], r"ack_ids\[1\]")]
)
async def test_bad_ack_ids_are_invalid(ids: list[str], named: str) -> None:
    with pytest.raises(InvalidArgumentError, match=named):
        await ack(PubSubServicer(MemBroker()), ids)


async def test_ack_needs_a_subscriber_id() -> None:
    with pytest.raises(InvalidArgumentError, match="subscriber_id"):
        await ack(PubSubServicer(MemBroker()), ["1"], subscriber="")


async def test_publish_passes_the_ordering_key_to_the_broker() -> None:
    broker = MemBroker()
    servicer = PubSubServicer(broker)
    await servicer.Publish(ps_pb.PublishRequest(namespace="ns", topic="t", ordering_key="k"), None)
    await publish(servicer)
    assert broker.ordering_keys == ["k", ""]
