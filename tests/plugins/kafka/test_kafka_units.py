"""Kafka plugin logic that a real broker cannot be made to show on demand (fakes for librdkafka)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError, TopicPartition
from pydantic import ValidationError

from prism.plugins.kafka import KafkaBroker
from prism.plugins.kafka.settings import KafkaSettings
from prism.sdk.deadline import deadline_scope
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


def test_publish_budget_answers_before_the_callers_deadline() -> None:
    broker = KafkaBroker(KafkaSettings(publish_timeout=5.0, deadline_margin=0.5))
    assert broker.publish_budget() == 5.0, "no deadline: publish_timeout"
    with deadline_scope(60.0):
        assert broker.publish_budget() == 5.0, "a far deadline: publish_timeout"
    with deadline_scope(3.0):
        assert 2.4 < broker.publish_budget() <= 2.5, "the margin before the deadline"
    with deadline_scope(0.4):
        assert 0.1 < broker.publish_budget() <= 0.2, "at most half the caller's time"


async def test_unacknowledged_publish_is_unavailable_before_the_callers_deadline() -> None:
    """The old code waited publish_timeout (+1 s) whatever the caller's deadline: the caller
    got DEADLINE_EXCEEDED (here: the 2 s wait_for) instead of a retryable UNAVAILABLE."""
    broker = KafkaBroker(KafkaSettings(publish_timeout=30.0))
    broker._topics.add("prism-ns-t")
    broker._producer = SilentProducer()  # type: ignore[assignment]
    with deadline_scope(1.0), pytest.raises(UnavailableError, match="within 0.50s"):
        await asyncio.wait_for(broker._publish("prism-ns-t", b"x", {}, None), 2.0)


def test_session_timeout_and_heartbeat_are_consumer_settings() -> None:
    settings = KafkaSettings(session_timeout=8.0, heartbeat_interval=2.0)
    assert settings.consumer_librdkafka() == {
        "session.timeout.ms": 8000,
        "heartbeat.interval.ms": 2000,
    }
    assert "session.timeout.ms" not in settings.librdkafka(), "producers would warn"
    with pytest.raises(ValidationError, match="heartbeat_interval"):
        KafkaSettings(session_timeout=6.0, heartbeat_interval=6.0)


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
