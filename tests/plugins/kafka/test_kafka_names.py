"""Pure units: topic/group naming, settings -> librdkafka config, error classification."""

from __future__ import annotations

import re

import grpc
import pytest
from confluent_kafka import KafkaError, KafkaException

from prism.plugins.kafka import KafkaSettings
from prism.plugins.kafka.broker import classify_kafka
from prism.plugins.kafka.names import group_id, kafka_topic
from prism.sdk.config import load_settings, settings_summary
from prism.sdk.errors import ErrorKind

LEGAL = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")


@pytest.mark.parametrize(
    ("namespace", "topic", "expected"),
    [
        ("ns", "orders", "prism-ns-orders"),
        ("ns", "orders.eu", "prism-ns-orders_2eeu"),
        ("my-ns", "a_b", "prism-my_2dns-a_5fb"),
        ("é", "日本", "prism-_c3_a9-_e6_97_a5_e6_9c_ac"),
    ],
)
def test_topic_mapping(namespace: str, topic: str, expected: str) -> None:
    assert kafka_topic(namespace, topic) == expected
    assert LEGAL.match(expected)


def test_mapping_is_injective_where_naive_sanitising_collides() -> None:
    pairs = [("a-b", "c"), ("a", "b-c"), ("a.b", "c"), ("a_b", "c"), ("a", "b.c"), ("a", "b_c")]
    names = {kafka_topic(ns, t) for ns, t in pairs}
    assert len(names) == len(pairs)
    # No '.', so Kafka's '.'/'_' metric-name collision check can never reject a topic.
    assert not any("." in name for name in names)


def test_long_names_are_hashed_within_kafka_limit() -> None:
    long_a, long_b = "é" * 127 + "a", "é" * 127 + "b"
    a, b = kafka_topic("ns", long_a), kafka_topic("ns", long_b)
    assert a != b
    assert LEGAL.match(a) and LEGAL.match(b)
    assert a.startswith("prism--") and len(a) == 249


def test_group_id_per_subscription_key() -> None:
    ids = {group_id("ns", "t", "s"), group_id("ns", "t", "s2"), group_id("ns", "t2", "s")}
    assert len(ids) == 3


def test_settings_from_environment_and_librdkafka_passthrough() -> None:
    settings = load_settings(
        KafkaSettings,
        environ={
            "PRISM_KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9092",
            "PRISM_KAFKA_PUBLISH_TIMEOUT": "750ms",
            "PRISM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "PRISM_KAFKA_SASL_MECHANISM": "PLAIN",
            "PRISM_KAFKA_SASL_USERNAME": "user",
            "PRISM_KAFKA_SASL_PASSWORD": "hunter2",
            "PRISM_KAFKA_EXTRA": '{"linger.ms": "10"}',
        },
    )
    assert settings.publish_timeout == 0.75
    assert settings.librdkafka() == {
        "bootstrap.servers": "k1:9092,k2:9092",
        "client.id": "prism-plugin-kafka",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "user",
        "sasl.password": "hunter2",
        "linger.ms": "10",
    }
    assert "hunter2" not in str(settings_summary(settings))


def test_defaults() -> None:
    settings = load_settings(KafkaSettings, environ={})
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert settings.publish_timeout == 5.0


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (KafkaError._MSG_TIMED_OUT, ErrorKind.UNAVAILABLE),
        (KafkaError._ALL_BROKERS_DOWN, ErrorKind.UNAVAILABLE),
        (KafkaError.NOT_ENOUGH_REPLICAS, ErrorKind.UNAVAILABLE),
        (KafkaError.MSG_SIZE_TOO_LARGE, ErrorKind.INVALID_ARGUMENT),
        (KafkaError._QUEUE_FULL, ErrorKind.RESOURCE_EXHAUSTED),
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, ErrorKind.PERMANENT),
    ],
)
def test_classify_kafka(code: int, kind: ErrorKind) -> None:
    error = classify_kafka(KafkaException(KafkaError(code)))
    assert error is not None and error.kind is kind
    assert error.message.startswith("kafka: ")


def test_classify_other_exceptions() -> None:
    full = classify_kafka(BufferError("queue full"))
    assert full is not None and full.grpc_status is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert classify_kafka(ValueError("x")) is None
