"""The test servers really work: Redis answers and keeps AOF data across a restart; Kafka
delivers a message and still has it after a restart."""

from __future__ import annotations

import time
import uuid

import pytest
import redis
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from services.servers import (
    ServerError,
    kafka_broker,
    redis_server,
    repo_root,
    shared_redis,
    tools_dir,
)


def test_scripts_are_found() -> None:
    tools = tools_dir()
    assert (tools / "redis.sh").is_file()
    assert (tools / "kafka" / "server.properties").is_file()
    # In the Pants sandbox there is no pants.toml, and that is fine (cwd fallback).
    root = repo_root()
    assert root is None or (root / "pants.toml").is_file() or (root / "tools").is_dir()


def test_redis_ping_and_aof_survives_restart() -> None:
    with redis_server(aof=True) as srv:
        assert srv.host == "127.0.0.1"
        assert srv.url == f"redis://127.0.0.1:{srv.port}/0"
        client = redis.Redis.from_url(srv.url, socket_timeout=5)
        assert client.ping() is True
        client.set("prism:smoke", "kept")
        port = srv.port

        srv.stop()
        with pytest.raises(redis.ConnectionError):
            redis.Redis.from_url(srv.url, socket_timeout=2, retry=None).ping()

        srv.start()
        assert srv.port == port
        client = redis.Redis.from_url(srv.url, socket_timeout=5)
        assert client.get("prism:smoke") == b"kept"
    # The context manager stopped it.
    with pytest.raises(redis.ConnectionError):
        redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, retry=None).ping()  # type: ignore[arg-type]


def _consume_one(bootstrap: str, topic: str, timeout_s: float = 30.0) -> bytes:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"smoke-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() in (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART):
                    continue
                raise AssertionError(f"consume error: {err}")
            value = msg.value()
            assert value is not None
            return value
        raise AssertionError(f"no message on {topic} within {timeout_s}s")
    finally:
        consumer.close()


@pytest.mark.timeout(600)
def test_kafka_produce_consume_and_restart_keeps_data() -> None:
    topic = "prism-smoke"
    with kafka_broker() as broker:
        host, _, port = broker.bootstrap.rpartition(":")
        assert host == "127.0.0.1" and port.isdigit()

        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        for fut in admin.create_topics(
            [NewTopic(topic, num_partitions=1, replication_factor=1)]
        ).values():
            fut.result(timeout=30)

        producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
        producer.produce(topic, key=b"k", value=b"hello prism")
        assert producer.flush(30) == 0, "message not delivered"
        assert _consume_one(broker.bootstrap, topic) == b"hello prism"
        del producer, admin  # no clients left reconnecting while the broker is down

        bootstrap = broker.bootstrap
        broker.stop()
        broker.start()
        assert broker.bootstrap == bootstrap
        # A new consumer group reads from the start: the message survived the restart.
        assert _consume_one(broker.bootstrap, topic) == b"hello prism"


def test_shared_redis_reuses_env_server(monkeypatch: pytest.MonkeyPatch) -> None:
    with redis_server() as own:
        monkeypatch.setenv("PRISM_TEST_REDIS_ADDR", f"redis://127.0.0.1:{own.port}/0")
        with shared_redis() as shared:
            assert shared.external and shared.port == own.port
            assert redis.Redis.from_url(shared.url, socket_timeout=5).ping() is True
            with pytest.raises(ServerError):
                shared.stop()  # never stop a server we did not start
