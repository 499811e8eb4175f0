"""The Kafka plugin: settings, health, and the PubSubBasic binding."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from prism.plugins.kafka.broker import KafkaBroker, classify_kafka
from prism.plugins.kafka.settings import KafkaSettings
from prism.sdk.errors import Classifier
from prism.sdk.patterns import pubsub_binding
from prism.sdk.plugin import Plugin
from prism.sdk.server import ServiceBinding


class KafkaPlugin(Plugin[KafkaSettings]):
    name: ClassVar[str] = "kafka"
    version: ClassVar[str] = "0.1.0"
    settings_class: ClassVar[type[KafkaSettings]] = KafkaSettings

    def __init__(self, settings: KafkaSettings) -> None:
        super().__init__(settings)
        self.broker = KafkaBroker()

    def pubsub_broker(self) -> KafkaBroker:
        return self.broker

    def servicers(self) -> Sequence[ServiceBinding]:
        return [pubsub_binding(self.broker)]

    def classifiers(self) -> Sequence[Classifier]:
        return [classify_kafka]

    async def initialize(self) -> None:
        self.broker.open(self.settings)
        self.health.register("kafka-metadata", self.broker.check, critical=True)
        self.health.register("kafka-producer", self.broker.producer_health, critical=False)

    async def stop(self) -> None:
        await self.broker.close()
