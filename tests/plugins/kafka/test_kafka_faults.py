"""Broker outage with a broker of our own: fail fast, report UNHEALTHY, recover, lose nothing.

While a publisher runs continuously and a subscriber listens, the broker is stopped and then
restarted on the same port and data. Every Publish must end within the publish timeout (never
hang), the failures must be UNAVAILABLE (retryable; never DEADLINE_EXCEEDED: the plugin answers
before the caller's deadline), HealthCheck must turn UNHEALTHY, the plugin must recover without
help, and every message whose Publish returned an id (acks=all) must reach the subscriber. A
plugin crash hands its subscription's partitions on within the group's session timeout.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import grpc
import pytest

from prism.interfaces import lifecycle_pb2, lifecycle_pb2_grpc, pubsub_basic_pb2
from prism.interfaces import pubsub_basic_pb2_grpc as pubsub_grpc
from prism.plugins.kafka import KafkaPlugin
from prism.sdk.health import HealthStatus
from prism.sdk.testing import running_plugin
from services.servers import KafkaBroker, kafka_broker

from .conftest import NS, Reader, fresh, kafka_settings

PUBLISH_TIMEOUT = 2.0
RESUME_BOUND = 25.0  # generous over the 10 s session timeout; the old 45 s violates it
SLACK = 3.0  # scheduling margin on a loaded 2-core machine
NAMESPACE = "faults"
FAIL_CODES = {grpc.StatusCode.UNAVAILABLE}


@pytest.fixture
def own_broker() -> Iterator[KafkaBroker]:
    with kafka_broker() as broker:
        yield broker


@dataclass
class Publisher:
    """Publishes "m<i>" back to back, recording what was acknowledged and what failed how."""

    stub: pubsub_grpc.PubSubBasicInterfaceStub
    topic: str
    acked: dict[bytes, str] = field(default_factory=dict)
    failures: list[tuple[grpc.StatusCode, float]] = field(default_factory=list)
    slowest: float = 0.0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            payload = f"m{i}".encode()
            i += 1
            request = pubsub_basic_pb2.PublishRequest(
                namespace=NAMESPACE, topic=self.topic, payload=payload
            )
            began = time.monotonic()
            try:  # a generous client deadline: the plugin itself must bound the call
                response = await self.stub.Publish(request, timeout=30.0)
                self.acked[payload] = response.message_id
            except grpc.aio.AioRpcError as err:
                self.failures.append((err.code(), time.monotonic() - began))
            self.slowest = max(self.slowest, time.monotonic() - began)
            await asyncio.sleep(0.02)


async def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(0.1)


async def health(stub: lifecycle_pb2_grpc.LifecycleInterfaceStub) -> int:
    response = await stub.HealthCheck(lifecycle_pb2.HealthCheckRequest(), timeout=5.0)
    return int(response.status)


async def test_broker_outage_fails_fast_recovers_and_loses_no_acked_message(
    own_broker: KafkaBroker,
) -> None:
    plugin = KafkaPlugin(kafka_settings(own_broker.bootstrap, publish_timeout=PUBLISH_TIMEOUT))
    topic = f"outage-{uuid.uuid4().hex}"
    async with running_plugin(plugin) as address, grpc.aio.insecure_channel(address) as channel:
        stub = pubsub_grpc.PubSubBasicInterfaceStub(channel)
        lifecycle = lifecycle_pb2_grpc.LifecycleInterfaceStub(channel)
        call = stub.Subscribe(
            pubsub_basic_pb2.SubscribeRequest(namespace=NAMESPACE, topic=topic, subscriber_id="s")
        )
        await asyncio.wait_for(call.initial_metadata(), 30.0)
        received: set[bytes] = set()

        async def pump() -> None:
            async for message in call:
                received.add(message.payload)

        pumping = asyncio.create_task(pump())
        publisher = Publisher(stub, topic)
        publishing = asyncio.create_task(publisher.run())
        phases: dict[str, float] = {}
        try:
            await wait_for(lambda: len(publisher.acked) >= 20, 30, "publishing before the outage")
            t0 = time.monotonic()
            await asyncio.to_thread(own_broker.stop)
            phases["stop"] = time.monotonic() - t0
            await wait_for(lambda: len(publisher.failures) >= 3, 30, "Publish failing")
            await wait_for(
                lambda: plugin.health.report().status is HealthStatus.UNHEALTHY, 15, "UNHEALTHY"
            )
            assert await health(lifecycle) == lifecycle_pb2.HEALTH_STATUS_UNHEALTHY
            acked_during_outage = len(publisher.acked)

            phases["unhealthy"] = time.monotonic() - t0
            await asyncio.to_thread(own_broker.start)
            phases["restarted"] = time.monotonic() - t0
            await wait_for(lambda: len(publisher.acked) >= acked_during_outage + 20, 60, "recovery")
            await wait_for(
                lambda: plugin.health.report().status is HealthStatus.HEALTHY, 15, "HEALTHY again"
            )
            assert await health(lifecycle) == lifecycle_pb2.HEALTH_STATUS_HEALTHY
            phases["recovered"] = time.monotonic() - t0
        finally:
            publisher.stop.set()
            await publishing
        await wait_for(
            lambda: set(publisher.acked) <= received, 60, "every acknowledged message consumed"
        )
        phases["consumed"] = time.monotonic() - t0
        call.cancel()
        pumping.cancel()
        await asyncio.gather(pumping, return_exceptions=True)

    assert {code for code, _ in publisher.failures} <= FAIL_CODES, publisher.failures
    assert publisher.slowest < PUBLISH_TIMEOUT + SLACK, f"a Publish took {publisher.slowest:.1f}s"
    print(
        f"acked={len(publisher.acked)} failed={len(publisher.failures)} "
        f"slowest={publisher.slowest:.2f}s received={len(received)} "
        + " ".join(f"{k}@{v:.1f}s" for k, v in phases.items())
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_cluster_fails_fast_then_breaker_rejects_at_once() -> None:
    settings = kafka_settings(f"127.0.0.1:{closed_port()}", publish_timeout=1.0)
    plugin = KafkaPlugin(settings)
    async with running_plugin(plugin) as address, grpc.aio.insecure_channel(address) as channel:
        stub = pubsub_grpc.PubSubBasicInterfaceStub(channel)
        request = pubsub_basic_pb2.PublishRequest(namespace=NAMESPACE, topic="t", payload=b"x")
        timings: list[float] = []
        for _ in range(8):
            began = time.monotonic()
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.Publish(request, timeout=30.0)
            timings.append(time.monotonic() - began)
            assert caught.value.code() in FAIL_CODES
        assert max(timings) < 1.0 + 1.0 + SLACK, timings  # publish_timeout (+1 s guard)
        assert "circuit" in (caught.value.details() or "").lower(), "the breaker opened"
        assert timings[-1] < 0.5, "an open breaker rejects without waiting"
        report = await plugin.health.run_checks()
        assert report.status is HealthStatus.UNHEALTHY


# A plugin's subscription in a process of its own, to be SIGKILLed: it never leaves the group.
MEMBER = """
import asyncio, sys
from prism.plugins.kafka import KafkaBroker, KafkaSettings

async def main() -> None:
    broker = KafkaBroker(KafkaSettings(bootstrap_servers=sys.argv[1]))
    await broker.start()
    await broker.subscribe(*sys.argv[2:5], ack_deadline=30.0).start()
    print("assigned", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_subscription_resumes_within_the_session_timeout_after_a_plugin_crash(
    kafka_srv: KafkaBroker,
) -> None:
    """The crashed member keeps its partitions until the group's session timeout ends: the
    old code left librdkafka's 45 s, so the next subscription with the same id waited that
    long (the soak's 45 s pause after a plugin kill)."""
    topic, subscriber = fresh("t"), fresh("s")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    member = await asyncio.create_subprocess_exec(
        sys.executable, "-c", MEMBER, kafka_srv.bootstrap, NS, topic, subscriber,
        stdout=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert await asyncio.wait_for(member.stdout.readline(), 60) == b"assigned\n"  # type: ignore[union-attr]
    finally:
        member.kill()
        await member.wait()
    killed = time.monotonic()
    plugin = KafkaPlugin(kafka_settings(kafka_srv.bootstrap, subscribe_timeout=120.0))
    async with running_plugin(plugin):
        reader = Reader(plugin.broker, topic, subscriber)
        try:
            await asyncio.wait_for(reader.subscription.start(), RESUME_BOUND)
        except TimeoutError:
            pytest.fail(f"the crashed member's partitions not handed on within {RESUME_BOUND} s")
        resumed = time.monotonic() - killed
        try:
            await plugin.broker.publish(NS, topic, b"after", {})
            assert (await reader.next()).payload == b"after"
        finally:
            await reader.subscription.close()
    print(f"the next subscription got the partitions {resumed:.1f} s after the crash")
