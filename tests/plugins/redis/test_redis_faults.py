"""Redis goes away under traffic and comes back: fast UNAVAILABLE, health, self-recovery, and
no acknowledged write lost (own Redis with AOF + appendfsync always, killed with SIGKILL;
``plugins.faults``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
import pytest

from plugins.faults import frozen_then_resumed, killed_under_load
from plugins.redis.conftest import settings
from prism.plugins.redis import RedisPlugin
from prism.sdk.testing import running_plugin
from services.servers import RedisServer, redis_server

CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    with redis_server(aof=True) as server:
        yield server


@pytest.fixture
async def channel(own_redis: RedisServer) -> AsyncIterator[grpc.aio.Channel]:
    plugin = RedisPlugin(settings(addr=own_redis.addr, breaker_open_seconds=0.5))
    async with running_plugin(plugin) as address:
        async with grpc.aio.insecure_channel(address) as ch:
            yield ch


async def test_redis_killed_and_restarted(
    own_redis: RedisServer, channel: grpc.aio.Channel
) -> None:
    await killed_under_load(channel, own_redis, codes=CODES)


async def test_redis_hung_then_resumed(own_redis: RedisServer, channel: grpc.aio.Channel) -> None:
    """A frozen Redis (SIGSTOP: connects, never answers) fails calls within the timeouts."""
    await frozen_then_resumed(channel, own_redis, codes=CODES)
