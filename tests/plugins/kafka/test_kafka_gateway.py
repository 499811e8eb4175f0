"""The Kafka plugin through `prism up`: Publish/Subscribe in order with fan-out, Unsubscribe,
and at-least-once delivery across an abrupt disconnect (``e2e.gateway_checks``)."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from e2e.gateway_checks import CALL_TIMEOUT, AtLeastOnceThroughGateway, run_id

from prism.interfaces import pubsub_basic_pb2 as ps
from prism.interfaces import pubsub_basic_pb2_grpc as ps_grpc
from services.servers import KafkaBroker

CONFIG = """\
namespaces:
  events:
    plugin: kafka
    settings:
      bootstrap_servers: "{kafka}"
"""
pytest_plugins = ["e2e.gateway_checks"]  # gateway, channel
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def gateway_config(kafka_srv: KafkaBroker) -> str:
    return CONFIG.format(kafka=kafka_srv.bootstrap)


@pytest.fixture
def namespace() -> str:
    return "events"


async def test_publish_subscribe_in_order(channel: grpc.aio.Channel, namespace: str) -> None:
    stub = ps_grpc.PubSubBasicInterfaceStub(channel)
    topic = f"e2e-{run_id()}"
    payloads = [f"m{i}".encode() for i in range(10)]
    subscribers = ("sub-a", "sub-b")  # two subscriber ids: each gets every message (fan-out)
    calls = [
        stub.Subscribe(
            ps.SubscribeRequest(namespace=namespace, topic=topic, subscriber_id=sub),
            timeout=120.0,
        )
        for sub in subscribers
    ]
    try:
        # The contract: a message published after the subscriber saw initial metadata arrives.
        for call in calls:
            headers = await asyncio.wait_for(call.initial_metadata(), 60.0)
            assert ("prism-subscribed", "1") in tuple(headers)
        ids = []
        for i, payload in enumerate(payloads):
            req = ps.PublishRequest(
                namespace=namespace, topic=topic, payload=payload, metadata={"n": str(i)}
            )
            ids.append((await stub.Publish(req, timeout=CALL_TIMEOUT)).message_id)
        assert len(set(ids)) == len(ids) and all(ids)

        async def read(call: grpc.aio.UnaryStreamCall) -> list[ps.Message]:
            out: list[ps.Message] = []
            async for message in call:
                out.append(message)
                if len(out) == len(payloads):
                    break
            return out

        for call in calls:
            got = await asyncio.wait_for(read(call), 60.0)
            assert [m.payload for m in got] == payloads
            assert [m.metadata["n"] for m in got] == [str(i) for i in range(len(payloads))]
            assert [m.message_id for m in got] == ids
            assert all(m.topic == topic for m in got)
        unsub = await stub.Unsubscribe(
            ps.UnsubscribeRequest(namespace=namespace, topic=topic, subscriber_id="sub-a"),
            timeout=CALL_TIMEOUT,
        )
        assert unsub.unsubscribed
    finally:
        for call in calls:
            call.cancel()


class TestKafkaAtLeastOnceThroughGateway(AtLeastOnceThroughGateway):
    pass
