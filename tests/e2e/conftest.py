"""Fixtures: a real Redis, a real Kafka broker, and `prism up` routing three namespaces.

The gateway is the real thing: ``python -m prism.cli up --config <yaml> --port 0`` in a
subprocess (``proxy.gateway.Gateway``), which launches and supervises one plugin process per
namespace. Servers come from ``services.servers`` and fail (never skip) when they cannot start.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from proxy.gateway import Gateway
from services.servers import KafkaBroker, RedisServer, shared_kafka, shared_redis

GATEWAY_CONFIG = """\
namespaces:
  mem:
    plugin: memstore
  cache:
    plugin: redis
    settings:
      addr: "{redis}"
  events:
    plugin: kafka
    settings:
      bootstrap_servers: "{kafka}"
supervision:
  health_interval: 0.5s
  restart_initial_backoff: 100ms
"""


@pytest.fixture(scope="session")
def redis_srv() -> Iterator[RedisServer]:
    with shared_redis() as server:
        yield server


@pytest.fixture(scope="session")
def kafka_srv() -> Iterator[KafkaBroker]:
    with shared_kafka() as broker:
        yield broker


@pytest.fixture(scope="module")
def gateway(
    redis_srv: RedisServer, kafka_srv: KafkaBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    text = GATEWAY_CONFIG.format(redis=redis_srv.addr, kafka=kafka_srv.bootstrap)
    gw = Gateway(text, tmp_path_factory.mktemp("e2e-gateway")).start(timeout=120.0)
    try:
        yield gw
    finally:
        code = gw.stop()
        assert code == 0, f"prism up exited with {code}:\n{_tail(gw.log_path)}"


def _tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
