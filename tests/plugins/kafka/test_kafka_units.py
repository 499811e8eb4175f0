"""Kafka plugin logic that a real broker cannot be made to show on demand (fakes for librdkafka)."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import pytest

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
    broker = KafkaBroker()
    broker.settings = KafkaSettings(publish_timeout=0.05)
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
        await broker._publish("prism-ns-t", b"x", {})
