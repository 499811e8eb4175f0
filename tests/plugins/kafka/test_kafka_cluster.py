"""The Kafka plugin on a real 3-broker cluster (replication factor 3, min.insync.replicas 2),
unchanged but for its bootstrap list: a broker SIGKILLed under steady publishing makes
Publishes fail UNAVAILABLE before the caller's deadline (never a hang into it), they are
acknowledged again once the broker is fenced, no acknowledged message is lost and the
consumer continues; two plugin instances with one subscriber id split a topic's partitions,
each message reaching the group at least once."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from prism.interfaces import pubsub_basic_pb2 as ps
from prism.interfaces import pubsub_basic_pb2_grpc as pubsub_grpc
from prism.plugins.kafka import KafkaBroker as Broker
from prism.plugins.kafka import KafkaPlugin
from prism.plugins.kafka.names import kafka_topic
from prism.sdk.testing import running_plugin
from services.servers import KafkaCluster, kafka_cluster

from .conftest import NS, Reader, fresh, kafka_settings

DRAIN_SECONDS = 60.0
RECOVER_SECONDS = 60.0  # bound on the controller fencing the killed broker
RATE = 20.0  # Publishes a second, the soak's rate
CALLER_DEADLINE = 3.0  # below the plugin's publish_timeout (5 s): the deadline must win
AFTER_FENCE = 60  # acknowledged Publishes after the fence that end the test
RESUME_SECONDS = 10.0  # generous: measured well under a second (docs/plugins.md)


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


@dataclass
class Call:
    began: float
    ended: float
    code: grpc.StatusCode
    details: str = ""

    @property
    def ok(self) -> bool:
        return self.code is grpc.StatusCode.OK

    @property
    def seconds(self) -> float:
        return self.ended - self.began


class Publisher:
    """Publishes "m<i>" through gRPC at a steady rate (open loop: a slow call does not slow
    the next), each call with the caller's deadline; records every call."""

    def __init__(self, stub: pubsub_grpc.PubSubBasicInterfaceStub, topic: str) -> None:
        self.calls: list[Call] = []
        self.acked: dict[bytes, float] = {}  # payload -> when acknowledged
        self._stub, self._topic = stub, topic
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in itertools.count():
            await asyncio.sleep(max(0.0, start + i / RATE - loop.time()))
            task = asyncio.ensure_future(self._one(f"m{i}".encode()))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _one(self, payload: bytes) -> None:
        request = ps.PublishRequest(namespace=NS, topic=self._topic, payload=payload)
        began, code, details = time.monotonic(), grpc.StatusCode.OK, ""
        try:
            await self._stub.Publish(request, timeout=CALLER_DEADLINE)
            self.acked[payload] = time.monotonic()
        except grpc.aio.AioRpcError as err:
            code, details = err.code(), err.details() or ""
        self.calls.append(Call(began, time.monotonic(), code, details))

    async def stop(self) -> None:
        self._running.cancel()
        await asyncio.gather(self._running, *self._tasks, return_exceptions=True)


async def out_of_every_isr(bootstrap: str, topic: str, broker_id: int, bound: float) -> float:
    """When metadata first shows ``broker_id`` in no partition's ISR of ``topic`` (the
    controller fenced it: acks=all writes complete on the other two again)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        try:
            metadata = await asyncio.to_thread(admin.list_topics, topic, timeout=1.0)
            partitions = metadata.topics[topic].partitions.values()
            if partitions and all(broker_id not in p.isrs for p in partitions):
                return time.monotonic()
        except KafkaException:
            pass  # a broker just died: ask again
        await asyncio.sleep(0.1)
    raise AssertionError(f"broker {broker_id} still in an ISR of {topic} after {bound:.0f} s")


async def test_broker_kill_fails_publishes_unavailable_in_budget_and_loses_no_acked_message(
    cluster: KafkaCluster,
) -> None:
    """A SIGKILLed broker stays in every partition's ISR until the controller fences it
    (broker.session.timeout.ms, 9 s), and acks=all writes wait for it meanwhile. Publishes
    caught in that window fail UNAVAILABLE before the caller's deadline (the old code let
    them run into it: DEADLINE_EXCEEDED), are acknowledged again once the broker is out of
    the ISRs, and no acknowledged message is lost; the consumer continues."""
    plugin = KafkaPlugin(kafka_settings(cluster.bootstrap, topic_partitions=3))
    async with (
        running_plugin(plugin) as address,
        grpc.aio.insecure_channel(address) as channel,
    ):
        stub = pubsub_grpc.PubSubBasicInterfaceStub(channel)
        topic = fresh("t")
        name = kafka_topic(NS, topic)
        async with Reader(plugin.broker, topic, fresh("s")) as reader:
            drain = Drain(reader)  # consuming all along: the consumer continues past the kill
            admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
            metadata = await asyncio.to_thread(admin.list_topics, name, timeout=10.0)
            victim = metadata.topics[name].partitions[0].leader
            publisher = Publisher(stub, topic)
            loop = asyncio.get_running_loop()
            await asyncio.sleep(3.0)
            killed = time.monotonic()
            await asyncio.to_thread(cluster.kill, victim)
            try:
                fenced = await out_of_every_isr(cluster.bootstrap, name, victim, RECOVER_SECONDS)
                deadline = loop.time() + RECOVER_SECONDS
                while loop.time() < deadline:  # acknowledged again, for a while
                    if sum(t > fenced for t in publisher.acked.values()) >= AFTER_FENCE:
                        break
                    await asyncio.sleep(0.1)
                await publisher.stop()
                got = await until_covered(set(publisher.acked), [drain])
            finally:
                await publisher.stop()
                await asyncio.to_thread(cluster.start, victim)

    during = [c for c in publisher.calls if c.ended > killed]
    failed = [c for c in during if not c.ok]
    after_fence = sorted(t for t in publisher.acked.values() if t > fenced)
    first_ok = min((c.ended for c in during if c.ok and c.began > killed), default=killed)
    breaker = sum("circuit" in c.details for c in failed)
    print(
        f"broker {victim} killed: out of every ISR after {fenced - killed:.1f} s; first "
        f"Publish begun after the kill acked {first_ok - killed:.1f} s after it, first ack "
        f"after the fence {after_fence[0] - fenced if after_fence else -1:.2f} s after it; "
        f"{len(during)} calls, {len(failed)} failed ({breaker} by the open breaker), "
        f"slowest failed {max((c.seconds for c in failed), default=0):.2f} s, slowest "
        f"{max(c.seconds for c in during):.2f} s; acked {len(publisher.acked)}, received "
        f"{len(got)}, dups {sum(got.values()) - len(got)}"
    )
    assert {c.code for c in failed} <= {grpc.StatusCode.UNAVAILABLE}, (
        "a Publish the cluster cannot acknowledge in time fails UNAVAILABLE, before the "
        "caller's deadline"
    )
    assert any(not c.ok or c.seconds > 1.0 for c in during), (
        "the kill stalled publishing (else this test shows nothing)"
    )
    assert len(after_fence) >= AFTER_FENCE, "publishing goes on with 2 of 3 brokers"
    assert after_fence[0] - fenced < RESUME_SECONDS, "acknowledged again soon after the fence"
    assert set(publisher.acked) <= set(got), "every acknowledged message is delivered"


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
