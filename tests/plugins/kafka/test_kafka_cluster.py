"""The Kafka plugin on a real 3-broker cluster (replication factor 3, min.insync.replicas 2),
unchanged but for its bootstrap list: a broker SIGKILLed mid-publish loses no acknowledged
message and the consumer continues; two plugin instances with one subscriber id split a
topic's partitions, each message reaching the group at least once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import pytest

from prism.plugins.kafka import KafkaBroker as Broker
from prism.plugins.kafka import KafkaPlugin
from prism.sdk.errors import PrismError
from prism.sdk.testing import running_plugin
from services.servers import KafkaCluster, kafka_cluster

from .conftest import NS, Reader, fresh, kafka_settings

MESSAGES = 300
DRAIN_SECONDS = 60.0
RECOVER_SECONDS = 60.0  # publishing resumes on the 2 live brokers within this


@pytest.fixture(scope="module")
def cluster() -> Iterator[KafkaCluster]:
    with kafka_cluster() as c:
        yield c


class Drain:
    """Reads (and acks) one subscription in the background, counting payloads: a consumer
    must keep polling for its group to rebalance when another member joins."""

    def __init__(self, reader: Reader) -> None:
        self.got: Counter[bytes] = Counter()
        self._reader = reader
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        subscription = self._reader.subscription
        async for message in subscription.messages():
            self.got[message.payload] += 1
            await subscription.ack([message])

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def until_covered(want: set[bytes], drains: list[Drain]) -> Counter[bytes]:
    """All payloads the drains got once together they cover ``want`` (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_SECONDS
    while True:
        union: Counter[bytes] = Counter()
        for drain in drains:
            union += drain.got
        if want <= set(union) or loop.time() > deadline:
            for drain in drains:
                await drain.stop()
            return union
        await asyncio.sleep(0.1)


async def test_broker_killed_mid_publish_loses_no_acknowledged_message(
    cluster: KafkaCluster,
) -> None:
    plugin = KafkaPlugin(kafka_settings(cluster.bootstrap, topic_partitions=3))
    async with running_plugin(plugin):
        broker, topic = plugin.broker, fresh("t")
        async with Reader(broker, topic, fresh("s")) as reader:
            drain = Drain(reader)  # consuming all along: the consumer continues past the kill
            acked: set[bytes] = set()
            failed = 0

            async def publish(payload: bytes) -> None:
                nonlocal failed
                try:
                    await broker.publish(NS, topic, payload, {})
                    acked.add(payload)
                except PrismError:
                    failed += 1

            async def batch(start: int) -> None:  # 10 in flight at a time
                await asyncio.gather(*(publish(f"m{i}".encode()) for i in range(start, start + 10)))

            sent = 0
            while sent < MESSAGES // 3:
                await batch(sent)
                sent += 10
            # The kill runs while publishing goes on. Calls may fail while a partition's leader
            # moves (and fail fast while the breaker is open: that is the breaker doing its
            # job), so publishing goes on until a third of the messages were acknowledged after
            # the kill, within a bound: a fixed count would be spent in the failing window.
            kill = asyncio.ensure_future(asyncio.to_thread(cluster.kill, 2))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + RECOVER_SECONDS
            after_kill: int | None = None
            while loop.time() < deadline:
                if after_kill is None and kill.done():
                    after_kill = len(acked)
                if after_kill is not None and len(acked) - after_kill >= MESSAGES // 3:
                    break
                before = len(acked)
                await batch(sent)
                sent += 10
                if len(acked) == before:
                    await asyncio.sleep(0.2)
            await kill
            got = await until_covered(acked, [drain])
            duplicates = sum(got.values()) - len(got)
            print(
                f"sent {sent}, acked {len(acked)} ({len(acked) - (after_kill or 0)} after the "
                f"kill), failed {failed}, received {len(got)}, dups {duplicates}"
            )
            assert acked <= set(got), "every acknowledged message is delivered"
            assert after_kill is not None
            assert len(acked) - after_kill >= MESSAGES // 3, (
                "publishing goes on with 2 of 3 brokers"
            )
    await asyncio.to_thread(cluster.start, 2)


async def test_two_plugin_instances_in_one_group_split_the_partitions(
    cluster: KafkaCluster,
) -> None:
    settings = kafka_settings(cluster.bootstrap, topic_partitions=4)
    first, second = KafkaPlugin(settings), KafkaPlugin(settings)
    async with running_plugin(first), running_plugin(second):
        topic, subscriber = fresh("t"), fresh("s")
        brokers: list[Broker] = [first.broker, second.broker]
        async with Reader(brokers[0], topic, subscriber) as a:
            drains = [Drain(a)]
            async with Reader(brokers[1], topic, subscriber) as b:
                drains.append(Drain(b))
                sent = {f"m{i}".encode() for i in range(200)}
                for i, payload in enumerate(sorted(sent)):  # keyless: spread over partitions
                    await brokers[i % 2].publish(NS, topic, payload, {})
                union = await until_covered(sent, drains)
        got = [d.got for d in drains]
        duplicates = sum(union.values()) - len(union)
        print(f"instance 1: {len(got[0])}, instance 2: {len(got[1])}, dups {duplicates}")
        assert set(union) == sent, "each message reaches the group at least once"
        assert got[0] and got[1], "both instances consume: the partitions are split"
