"""Client failures the plugin must survive: a failed offset commit, a fatal producer error."""

from __future__ import annotations

import asyncio
from functools import partial

from confluent_kafka import KafkaError, TopicPartition
from prometheus_client import REGISTRY

from prism.plugins.kafka import KafkaPlugin
from prism.sdk.health import HealthStatus

from .conftest import NS, WAIT, Reader, fresh

COMMIT_FAILURES = "prism_kafka_commit_failures_total"


def commit_failures() -> float:
    return REGISTRY.get_sample_value(COMMIT_FAILURES) or 0.0


async def test_failed_offset_commit_is_counted(kafka_plugin: tuple[KafkaPlugin, str]) -> None:
    broker = kafka_plugin[0].broker
    async with Reader(broker, fresh("t"), fresh("s")) as reader:
        subscription = reader.subscription
        before = commit_failures()
        no_such_partition = TopicPartition(subscription._name, 99, 1)  # the broker refuses it
        assert subscription._consumer is not None
        commit = partial(subscription._consumer.commit, offsets=[no_such_partition])
        await subscription._run(commit)
        await reader.quiet(3.0)  # the consumer's polls serve the commit's outcome
        assert commit_failures() == before + 1


async def test_fatal_producer_error_replaces_the_producer_degraded_until_it_delivers(
    kafka_plugin: tuple[KafkaPlugin, str],
) -> None:
    plugin = kafka_plugin[0]
    broker, first = plugin.broker, plugin.broker._producer
    broker._on_producer_error(KafkaError(KafkaError._FATAL, "injected", fatal=True))
    report = await plugin.health.run_checks()
    assert report.status is HealthStatus.DEGRADED, report
    assert "fatal" in report.checks["kafka-producer"].message
    async with asyncio.timeout(WAIT):
        while broker._producer is first:
            await asyncio.sleep(0.05)
    assert (await plugin.health.run_checks()).status is HealthStatus.DEGRADED, "not delivered yet"
    await broker.publish(NS, fresh("t"), b"x", {})
    assert (await plugin.health.run_checks()).status is HealthStatus.HEALTHY
