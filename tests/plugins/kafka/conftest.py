"""Fixtures: a real Kafka broker (shared per session) and the plugin served in-process on it;
a bounded reader over one subscription."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest

from prism.plugins.kafka import KafkaBroker as Broker
from prism.plugins.kafka import KafkaPlugin, KafkaSettings
from prism.sdk.patterns import BrokerMessage
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


NS = "delivery"  # the namespace of every topic these tests use
WAIT = 20.0


def fresh(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex}"


class Reader:
    """A started subscription with a bounded ``next()``."""

    def __init__(self, broker: Broker, topic: str, subscriber: str) -> None:
        self.subscription = broker.subscribe(NS, topic, subscriber, ack_deadline=30.0)
        self._messages: AsyncIterator[BrokerMessage] = self.subscription.messages()

    async def __aenter__(self) -> Reader:
        await asyncio.wait_for(self.subscription.start(), WAIT)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.subscription.close()

    async def next(self, ack: bool = True) -> BrokerMessage:
        message = await asyncio.wait_for(anext(self._messages), WAIT)
        if ack:
            await self.subscription.ack([message])
        return message

    async def quiet(self, seconds: float = 1.0) -> None:
        try:
            message = await asyncio.wait_for(anext(self._messages), seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message {message.payload!r}")
