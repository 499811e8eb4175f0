"""Delivery semantics against a real broker, through the broker protocol the servicer drives.

New group starts at the end, an existing group resumes from its committed offset, an
un-acked message is redelivered, out-of-order acks commit only the acked prefix, a
multi-partition topic keeps order per ordering key and spreads keyless messages, a cancelled
start leaves no consumer behind, and health is read from broker metadata.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from prism.plugins.kafka import KafkaPlugin
from prism.sdk.health import HealthStatus
from prism.sdk.testing import running_plugin
from services.servers import KafkaBroker as KafkaServer

from .conftest import NS, WAIT, Reader, fresh, kafka_settings


async def test_new_group_starts_at_end_then_resumes_from_committed_offset(
    kafka_plugin: tuple[KafkaPlugin, str],
) -> None:
    broker, topic, subscriber = kafka_plugin[0].broker, fresh("t"), fresh("s")
    await broker.publish(NS, topic, b"before", {})
    async with Reader(broker, topic, subscriber) as reader:
        ids = [await broker.publish(NS, topic, p, {"k": "v"}) for p in (b"one", b"two")]
        got = [await reader.next(), await reader.next()]
        assert [m.payload for m in got] == [b"one", b"two"], "earlier messages are not delivered"
        assert [m.message_id for m in got] == ids
        assert got[0].metadata == {"k": "v"} and got[0].publish_time_ms > 0
    missed = await broker.publish(NS, topic, b"while away", {})
    async with Reader(broker, topic, subscriber) as reader:
        again = await reader.next()
        assert (again.message_id, again.payload) == (missed, b"while away")
        await reader.quiet()


async def test_unacked_message_is_redelivered(kafka_plugin: tuple[KafkaPlugin, str]) -> None:
    broker, topic, subscriber = kafka_plugin[0].broker, fresh("t"), fresh("s")
    async with Reader(broker, topic, subscriber) as reader:
        message_id = await broker.publish(NS, topic, b"x", {})
        assert (await reader.next(ack=False)).message_id == message_id
    async with Reader(broker, topic, subscriber) as reader:
        assert (await reader.next()).message_id == message_id, "not acked: delivered again"
    async with Reader(broker, topic, subscriber) as reader:
        after = await broker.publish(NS, topic, b"y", {})
        assert (await reader.next()).message_id == after, "acked: not delivered again"


async def test_multi_partition_topic_keeps_order_per_key_and_spreads_keyless(
    kafka_srv: KafkaServer,
) -> None:
    plugin = KafkaPlugin(kafka_settings(kafka_srv.bootstrap, topic_partitions=4))
    async with running_plugin(plugin):
        broker, topic = plugin.broker, fresh("t")
        async with Reader(broker, topic, fresh("s")) as reader:
            keyless = [await broker.publish(NS, topic, b"x", {}) for _ in range(40)]
            assert len({i.split("-")[0] for i in keyless}) > 1, "no key: spread over partitions"
            for _ in keyless:
                await reader.next()
            sent = {k: [f"{k}{i}".encode() for i in range(10)] for k in ("a", "b", "c")}
            for i in range(10):  # interleaved keys
                for key, payloads in sent.items():
                    await broker.publish(NS, topic, payloads[i], {}, ordering_key=key)
            got: dict[str, list[bytes]] = {k: [] for k in sent}
            for _ in range(30):
                payload = (await reader.next()).payload
                got[payload[:1].decode()].append(payload)
            assert got == sent, "each key's messages arrive in publish order"


async def test_health_reads_broker_metadata(kafka_plugin: tuple[KafkaPlugin, str]) -> None:
    report = await kafka_plugin[0].health.run_checks()
    assert report.status is HealthStatus.HEALTHY
    assert report.checks["kafka-metadata"].critical


async def test_out_of_order_acks_commit_only_up_to_the_lowest_unacked(
    kafka_plugin: tuple[KafkaPlugin, str],
) -> None:
    broker, topic, subscriber = kafka_plugin[0].broker, fresh("t"), fresh("s")
    async with Reader(broker, topic, subscriber) as reader:
        ids = [await broker.publish(NS, topic, f"m{i}".encode(), {}) for i in range(5)]
        got = [await reader.next(ack=False) for _ in ids]
        await reader.subscription.ack([got[4], got[1], got[3]])  # 0 and 2 not acked
    async with Reader(broker, topic, subscriber) as reader:
        again = [await reader.next(ack=False) for _ in ids]
        assert [m.message_id for m in again] == ids, "0 unacked: nothing may be committed"
        await reader.subscription.ack([again[i] for i in (3, 0, 4, 1)])  # 2 not acked
    async with Reader(broker, topic, subscriber) as reader:
        rest = [(await reader.next()).message_id for _ in ids[2:]]
        assert rest == ids[2:], "resumes at the lowest unacked message, 2"
        await reader.quiet()


async def test_consumer_opened_after_its_start_was_cancelled_is_closed(
    kafka_plugin: tuple[KafkaPlugin, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    broker, topic = kafka_plugin[0].broker, fresh("t")
    subscription = broker.subscribe(NS, topic, fresh("s"), ack_deadline=30.0)
    await broker.ensure_topic(subscription._name)
    entered, opened = threading.Event(), threading.Event()
    real_open = subscription._open

    def slow_open() -> None:  # the start is cancelled while the consumer is being created
        entered.set()
        time.sleep(0.5)
        real_open()
        opened.set()

    monkeypatch.setattr(subscription, "_open", slow_open)
    starting = asyncio.create_task(subscription.start())
    assert await asyncio.to_thread(entered.wait, WAIT)
    starting.cancel()
    await asyncio.gather(starting, return_exceptions=True)
    await subscription.close()
    assert await asyncio.to_thread(opened.wait, WAIT)
    consumer = subscription._consumer
    assert consumer is not None
    with pytest.raises(RuntimeError, match="closed"):
        consumer.assignment()  # a closed consumer has left its group
