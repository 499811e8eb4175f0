"""Fixtures: a real Kafka broker (shared per session) and the plugin served in-process on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest

from prism.plugins.kafka import KafkaPlugin, KafkaSettings
from prism.sdk.testing import running_plugin
from services.servers import KafkaBroker, shared_kafka


@pytest.fixture(scope="session")
def kafka_srv() -> Iterator[KafkaBroker]:
    """PRISM_TEST_KAFKA_BOOTSTRAP or a broker of our own; fails (never skips) if none starts."""
    with shared_kafka() as broker:
        yield broker


def kafka_settings(bootstrap: str, **overrides: Any) -> KafkaSettings:
    values: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "port": 0,
        "drain_timeout": 2.0,
        "health_interval": 0.5,
    }
    return KafkaSettings(**{**values, **overrides})


@pytest.fixture
async def kafka_plugin(kafka_srv: KafkaBroker) -> AsyncIterator[tuple[KafkaPlugin, str]]:
    plugin = KafkaPlugin(kafka_settings(kafka_srv.bootstrap))
    async with running_plugin(plugin) as address:
        yield plugin, address


@pytest.fixture
async def prism_channel(kafka_plugin: tuple[KafkaPlugin, str]) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(kafka_plugin[1]) as channel:
        yield channel
