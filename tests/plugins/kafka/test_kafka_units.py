"""Kafka plugin logic that a real broker cannot be made to show on demand (fakes for librdkafka)."""

from __future__ import annotations

import concurrent.futures
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError, TopicPartition

from prism.plugins.kafka import KafkaBroker
from prism.plugins.kafka.settings import KafkaSettings
from prism.sdk.errors import UnavailableError


class HungAdmin:
    """create_topics whose futures never finish: librdkafka's own timeout failed to fire."""

    def create_topics(
        self, topics: list[Any], **_: Any
    ) -> dict[str, concurrent.futures.Future[None]]:
        return {t.topic: concurrent.futures.Future() for t in topics}


class SilentProducer:
    """Takes every message and never reports its delivery."""

    def produce(self, *args: Any, **kwargs: Any) -> None:
        pass


def stuck_broker() -> KafkaBroker:
    broker = KafkaBroker(KafkaSettings(publish_timeout=0.05))
    broker._admin = HungAdmin()  # type: ignore[assignment]
    broker._producer = SilentProducer()  # type: ignore[assignment]
    return broker


async def test_topic_creation_guard_timeout_is_unavailable_and_says_what() -> None:
    with pytest.raises(UnavailableError, match="creating topic prism-ns-t"):
        await stuck_broker().ensure_topic("prism-ns-t")


async def test_delivery_report_guard_timeout_is_unavailable_and_says_what() -> None:
    broker = stuck_broker()
    broker._topics.add("prism-ns-t")
    with pytest.raises(UnavailableError, match="delivery report"):
        await broker._publish("prism-ns-t", b"x", {}, None)


class LookupFailsConsumer:
    """committed() answers with a per-partition error; records what the plugin does next."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[Any]:
        error = KafkaError(KafkaError.COORDINATOR_LOAD_IN_PROGRESS)
        return [
            SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=-1001, error=error)
            for tp in partitions
        ]

    def get_watermark_offsets(self, tp: Any, timeout: float) -> tuple[int, int]:
        self.calls.append("watermarks")
        return 0, 10

    def commit(self, **_: Any) -> None:
        self.calls.append("commit")

    def assign(self, partitions: Any) -> None:
        self.calls.append("assign")


def test_failed_committed_offset_lookup_fails_the_subscription_without_repositioning() -> None:
    broker = KafkaBroker(KafkaSettings())
    subscription = broker.subscribe("ns", "t", "s", ack_deadline=30.0)
    consumer = LookupFailsConsumer()
    with pytest.raises(UnavailableError, match="committed offset"):
        subscription._on_assign(consumer, [TopicPartition("prism-ns-t", 0)])  # type: ignore[arg-type]
    assert "commit" not in consumer.calls, "an existing group was moved to the end"
