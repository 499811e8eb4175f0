"""Fixtures: the multicast plugin served in-process on each slot combination."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest

from prism.plugins.multicast import MulticastPlugin, MulticastSettings
from prism.sdk.config import load_settings
from prism.sdk.health import DEFAULT_CHECK_TIMEOUT
from prism.sdk.testing import running_plugin
from services.nats_servers import NatsServer, shared_nats
from services.servers import RedisServer, shared_redis

HEALTH_INTERVAL = 1.0
"""The fault tests' ``health_interval``: an outage shows within it plus the check timeout."""

UNHEALTHY_WITHIN = HEALTH_INTERVAL + DEFAULT_CHECK_TIMEOUT + 5.0
"""The product's bound on an outage showing as UNHEALTHY, plus 5 s for a loaded machine."""


def settings(**overrides: Any) -> MulticastSettings:
    """Settings for a test: no environment, any free gRPC port, ``overrides`` on top."""
    return load_settings(MulticastSettings, environ={}, overrides={"port": 0, **overrides})


@pytest.fixture(scope="session")
def redis_srv() -> Iterator[RedisServer]:
    """PRISM_TEST_REDIS_ADDR or a Redis of our own; fails (never skips) if none can start."""
    with shared_redis() as server:
        yield server


@pytest.fixture
async def memstore_channel() -> AsyncIterator[grpc.aio.Channel]:
    async with running_plugin(MulticastPlugin(settings())) as address:
        async with grpc.aio.insecure_channel(address) as channel:
            yield channel


@pytest.fixture
async def redis_channel(redis_srv: RedisServer) -> AsyncIterator[grpc.aio.Channel]:
    plugin = MulticastPlugin(
        settings(registry="redis", messaging="redis", redis_addr=redis_srv.addr)
    )
    async with running_plugin(plugin) as address:
        async with grpc.aio.insecure_channel(address) as channel:
            yield channel


@pytest.fixture(scope="session")
def nats_srv() -> Iterator[NatsServer]:
    """PRISM_TEST_NATS_URL or a nats-server of our own; fails (never skips) if none can start."""
    with shared_nats() as server:
        yield server


@pytest.fixture
async def redis_nats_channel(
    redis_srv: RedisServer, nats_srv: NatsServer
) -> AsyncIterator[grpc.aio.Channel]:
    plugin = MulticastPlugin(
        settings(
            registry="redis",
            messaging="nats",
            redis_addr=redis_srv.addr,
            nats_servers=nats_srv.url,
        )
    )
    async with running_plugin(plugin) as address:
        async with grpc.aio.insecure_channel(address) as channel:
            yield channel
