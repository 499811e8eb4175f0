"""The Kafka plugin: the broker built from the settings, and the PubSubBasic binding."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from prism.plugins.kafka.broker import KafkaBroker, classify_kafka
from prism.plugins.kafka.settings import KafkaSettings
from prism.sdk.errors import Classifier
from prism.sdk.patterns import pubsub_binding
from prism.sdk.plugin import Built, Plugin
from prism.sdk.server import ServiceBinding


class KafkaPlugin(Plugin[KafkaSettings]):
    name: ClassVar[str] = "kafka"
    version: ClassVar[str] = "0.1.0"
    broker = Built[KafkaBroker]()  # a Resource: health checks, start and close are the SDK's

    def pubsub_broker(self) -> KafkaBroker:
        return self.broker

    def servicers(self) -> Sequence[ServiceBinding]:
        return [pubsub_binding(lambda: self.broker)]

    def classifiers(self) -> Sequence[Classifier]:
        return [classify_kafka]

    async def initialize(self) -> None:
        self.broker = KafkaBroker(self.settings)
