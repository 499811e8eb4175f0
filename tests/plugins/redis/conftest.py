"""Fixtures: a real Redis (shared per session) and the Redis plugin served in-process on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest

from prism.plugins.redis import RedisPlugin, RedisSettings
from prism.sdk.config import load_settings
from prism.sdk.testing import running_plugin
from services.servers import RedisServer, shared_redis


def settings(**overrides: Any) -> RedisSettings:
    """Settings for a test: no environment, any free gRPC port, ``overrides`` on top."""
    return load_settings(RedisSettings, environ={}, overrides={"port": 0, **overrides})


@pytest.fixture(scope="session")
def redis_srv() -> Iterator[RedisServer]:
    """PRISM_TEST_REDIS_ADDR or a Redis of our own; fails (never skips) if none can start."""
    with shared_redis() as server:
        yield server


@pytest.fixture
async def redis_plugin(redis_srv: RedisServer) -> AsyncIterator[tuple[RedisPlugin, str]]:
    plugin = RedisPlugin(settings(addr=redis_srv.addr))
    async with running_plugin(plugin) as address:
        yield plugin, address


@pytest.fixture
async def prism_channel(redis_plugin: tuple[RedisPlugin, str]) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(redis_plugin[1]) as channel:
        yield channel
